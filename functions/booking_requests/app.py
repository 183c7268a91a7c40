"""BookingRequestsWorkerFunction: the jobs of BookingRequestsQueue (SQS event source,
`ReportBatchItemFailures`), booking requests kept while Cal.com was down
(docs/adr/0025-pending-booking-requests.md).

Each record's body is a BookingRequestJob `{"company_id", "request_id"}`; `BookingRequests.settle`
tries the booking as `book_appointment` does: booked, the nearest free starts when the time was
taken meanwhile, or failed with the reason. Cal.com still down (5xx, timeout, 429, an open breaker,
the workflow unavailable): the job is put back until Cal.com's reset or the breaker's probe (else
30 s doubled per attempt, at most 15 min; the compensation worker's `deferral_s`) and reported in
`batchItemFailures`; after the queue's maxReceiveCount SQS moves it to the dead-letter queue
(BookingRequestsDeadLetterAlarm, docs/runbook.md), and the request stays open for the salon. A body
that is no job can never succeed: dropped, logged and counted (`BookingRequestJobsRejected`).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from calbridge.adapters.queue import job_or_none
from calbridge.domain.booking_requests import BookingRequestJob
from calbridge.errors import CalcomUnavailable, NotFound, RateLimited, WorkflowUnavailable
from calbridge.observability import follow, logger, metrics, tracer
from calbridge.services.wiring import booking_requests, booking_requests_queue
from calbridge.timing import Deadline

requests = booking_requests()
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
#: What the worker keeps of its Lambda's time for recording the request after a booking it waited
#: for: a workflow still running then is recorded on the request and looked at again later.
DEADLINE_MARGIN_S = 5.0


def rejected(record: SQSRecord, reason: str) -> None:
    logger.warning("booking request job rejected", message_id=record.message_id, reason=reason)
    metrics.add_metric(name="BookingRequestJobsRejected", unit=MetricUnit.Count, value=1)


def settle(record: SQSRecord, lambda_context: LambdaContext) -> dict[str, Any] | None:
    job = job_or_none(
        record.body,
        BookingRequestJob.model_validate_json,
        message_id=record.message_id,
        label="booking request",
        metric="BookingRequestJobsRejected",
    )
    if job is None:
        return None
    follow(company_id=job.company_id, request_id=job.request_id)  # this record's ids (ADR 0034)
    try:
        left_s = lambda_context.get_remaining_time_in_millis() / 1000
        settled = requests.settle(job, deadline=Deadline(left_s - DEADLINE_MARGIN_S))
    except NotFound as exc:  # the request is gone (or another company's id): nothing to book
        rejected(record, exc.message)
        return None
    except (CalcomUnavailable, RateLimited, WorkflowUnavailable) as down:
        # the booking saga's module (host resolution and its store) is imported by the booking itself
        from calbridge.services.booking import put_back

        receives = int(record.attributes.approximate_receive_count)
        put_back(booking_requests_queue(), record.receipt_handle, receives, down)
        raise
    return {"request_id": settled.request_id, "status": settled.status.value}


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: Any, context: LambdaContext) -> dict[str, Any]:
    records = event.get("Records") if isinstance(event, dict) else None
    if not isinstance(records, list) or not records:  # no SQS batch: nothing to do, nothing to retry
        logger.warning("booking request worker event rejected: no SQS records")
        metrics.add_metric(name="BookingRequestJobsRejected", unit=MetricUnit.Count, value=1)
        return {"batchItemFailures": []}
    return process_partial_response(event=event, record_handler=settle, processor=processor, context=context)
