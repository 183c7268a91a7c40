"""NotificationsFunction: the jobs of NotificationsQueue (SQS event source,
`ReportBatchItemFailures`), one confirmation per appointment and event
(docs/adr/0029-confirmations.md).

Each record's body is a ConfirmationJob `{"kind": "confirmation", "company_id", "appointment_id",
"event": "booked" | "rescheduled" | "cancelled", "change_id", "calcom_booking_uids"}`, queued by the
booking workflow's Finalize, the cancel's MarkCancelled or the reschedule's SwapAppointment.
`Confirmations.send` sends the e-mail (with the ICS file) and, where the company enables it, the
SMS, each once per (appointment, event, change). SES or SNS refusing, the store unreachable, or the
same job being sent by another delivery right now: the record is reported in `batchItemFailures`
and SQS delivers it again (after the queue's maxReceiveCount it moves to the dead-letter queue,
NotificationsDeadLetterAlarm, docs/runbook.md). A body that is no job can never succeed: it is
dropped, logged and counted (`ConfirmationJobsRejected`).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from calbridge.adapters.queue import job_or_none
from calbridge.observability import follow, logger, metrics, tracer
from calbridge.services.confirmations import ConfirmationJob
from calbridge.services.wiring import confirmations

processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


def send(record: SQSRecord) -> dict[str, Any] | None:
    job = job_or_none(
        record.body,
        ConfirmationJob.model_validate_json,
        message_id=record.message_id,
        label="confirmation",
        metric="ConfirmationJobsRejected",
    )
    if job is None:
        return None
    follow(company_id=job.company_id, appointment_id=job.appointment_id)  # this record's ids (ADR 0034)
    return confirmations().send(job).model_dump(mode="json")


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: Any, context: LambdaContext) -> dict[str, Any]:
    records = event.get("Records") if isinstance(event, dict) else None
    if not isinstance(records, list) or not records:  # no SQS batch: nothing to do, nothing to retry
        logger.warning("notifications event rejected: no SQS records")
        metrics.add_metric(name="ConfirmationJobsRejected", unit=MetricUnit.Count, value=1)
        return {"batchItemFailures": []}
    # Built by the first invocation (cached): a missing CONFIRMATION_SENDER fails it loudly.
    confirmations().register_lambda_context(context)
    return process_partial_response(event=event, record_handler=send, processor=processor, context=context)
