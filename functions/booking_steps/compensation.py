"""CompensationWorkerFunction: the jobs of CompensationQueue (SQS event source,
`ReportBatchItemFailures`), the cancels of failed booking attempts that Cal.com refused for now
(a rate limit, an outage, an open breaker; docs/adr/0024-compensation-that-cannot-give-up.md).

Each record's body is a job, by its `kind`: `attempt`, a DeferredCompensation `{"plan",
"reservations", "error"}`, whose cancels the booking saga's `finish_compensation` makes (every
active Cal.com booking of the attempt, found by its metadata, as Compensate does; the failed
attempt is then marked compensated); or `old_holds`, a DeferredCancel `{"company_id",
"appointment_id", "uids", "reason"}`: old bookings of a rescheduled appointment that CancelOld
could not cancel, cancelled by `AppointmentChanges.finish_old_cancels`. A job Cal.com still
refuses is put back until its rate limit resets (else 30 s doubled per attempt, at most 15 min)
and reported in `batchItemFailures`; after the queue's maxReceiveCount SQS moves it to the
dead-letter queue (CompensationDeadLetterAlarm, docs/runbook.md). A body that is no job can never
succeed: it is dropped, logged and counted (`CompensationJobsRejected`).

Its own module next to app.py: the other booking steps' cold start does not import the batch
utilities.
"""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import Field, TypeAdapter

from calbridge.adapters.queue import job_or_none
from calbridge.errors import CalcomUnavailable, RateLimited
from calbridge.observability import follow, logger, metrics, tracer
from calbridge.services.appointment_changes import DeferredCancel
from calbridge.services.booking import DeferredCompensation, put_back
from calbridge.services.wiring import appointment_changes, booking_saga, compensation_queue

saga = booking_saga()
changes = appointment_changes()
jobs: TypeAdapter[DeferredCompensation | DeferredCancel] = TypeAdapter(
    Annotated[DeferredCompensation | DeferredCancel, Field(discriminator="kind")]
)
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


def finish(record: SQSRecord) -> dict[str, Any] | None:
    job = job_or_none(
        record.body,
        jobs.validate_json,
        message_id=record.message_id,
        label="compensation",
        metric="CompensationJobsRejected",
    )
    if job is None:
        return None
    # Each record's own ids (ADR 0034); None removes the previous record's.
    plan = None if isinstance(job, DeferredCancel) else job.plan
    follow(
        company_id=plan.company_id if plan else job.company_id,
        booking_id=plan.booking_id if plan else None,
        call_id=plan.call_id if plan else None,
        appointment_id=None if plan else job.appointment_id,
    )
    try:
        if isinstance(job, DeferredCancel):
            return {"cancelled": [r.uid for r in changes.finish_old_cancels(job)]}
        return saga.finish_compensation(job).model_dump(mode="json")
    except (RateLimited, CalcomUnavailable) as refused:
        receives = int(record.attributes.approximate_receive_count)
        put_back(compensation_queue(), record.receipt_handle, receives, refused)
        raise


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: Any, context: LambdaContext) -> dict[str, Any]:
    records = event.get("Records") if isinstance(event, dict) else None
    if not isinstance(records, list) or not records:  # no SQS batch: nothing to do, nothing to retry
        logger.warning("compensation worker event rejected: no SQS records")
        metrics.add_metric(name="CompensationJobsRejected", unit=MetricUnit.Count, value=1)
        return {"batchItemFailures": []}
    return process_partial_response(event=event, record_handler=finish, processor=processor, context=context)
