"""The reconciliation's worker: one company's run per job of `ReconciliationQueue` (SQS event source,
`ReportBatchItemFailures`), or one on-demand run when invoked directly (services/reconciliation.py).

SQS batch: each record's body is the team sync's job body `{"company_id", "trigger",
"requested_at", "requested_by"?}`; the run's report is stored (ReconciliationRunsTable), logged and
counted. A run whose reads failed (nothing changed) postpones its message by the backoff of its
attempt (60 s / 300 s / 900 s) and is reported in `batchItemFailures`; after the 3rd receive SQS
moves it to the dead-letter queue. A body that is no job, or a record that is no SQS message, is
skipped with a reason (logged, `ReconciliationJobsRejected`): it could never succeed.

Direct invocation (`make reconcile COMPANY=...`, events/reconciliation_on_demand.json):
`{"company_id": "..."}` answers the run's report as JSON; a malformed event answers
`{"status": "rejected", "reason": ...}`.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from calbridge.config import get_settings
from calbridge.domain.sync_jobs import OnDemandSync
from calbridge.observability import logger, metrics, tracer
from calbridge.services.reconciliation import ReconciliationAttemptFailed
from calbridge.services.team_sync_jobs import RESERVE_S, QueuedJob
from calbridge.services.wiring import reconciler, reconciliation_worker

settings = get_settings()
worker = reconciliation_worker()
runner = reconciler()
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


class _ReceiveAttributes(BaseModel):
    model_config = ConfigDict(extra="ignore")

    ApproximateReceiveCount: int = Field(ge=1)


class _SqsMessage(BaseModel):
    """The fields of a Lambda SQS record the worker relies on."""

    model_config = ConfigDict(extra="ignore")

    messageId: str = Field(min_length=1)
    receiptHandle: str = Field(min_length=1)
    body: str
    attributes: _ReceiveAttributes


def _reject(what: str, reason: str, **keys: Any) -> None:
    logger.warning(f"reconciliation {what} rejected", reason=reason, **keys)
    metrics.add_metric(name="ReconciliationJobsRejected", unit=MetricUnit.Count, value=1)


def _problem(exc: ValidationError) -> str:
    first = exc.errors()[0]
    return f"{'.'.join(map(str, first['loc'])) or 'event'}: {first['msg']}"


def _deadline_s(context: LambdaContext) -> float:
    return context.get_remaining_time_in_millis() / 1000 - RESERVE_S


def record_handler(record: SQSRecord, lambda_context: LambdaContext) -> dict[str, Any] | None:
    message = QueuedJob(
        message_id=record.message_id,
        body=record.body,
        receipt_handle=record.receipt_handle,
        receive_count=int(record.attributes.approximate_receive_count),
    )
    report = worker.process_message(message, deadline_s=_deadline_s(lambda_context))
    return None if report is None else {"run_id": report.run_id, "status": report.status}


def _sqs_batch(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    records = event.get("Records")
    if not isinstance(records, list) or not records:
        _reject("SQS event", "Records: not a non-empty list")
        return {"batchItemFailures": []}
    usable = []
    for position, record in enumerate(records):
        try:
            _SqsMessage.model_validate(record)
        except ValidationError as exc:
            _reject("SQS record", _problem(exc), position=position)
            continue
        usable.append(record)
    if not usable:
        return {"batchItemFailures": []}
    return process_partial_response(
        event={"Records": usable}, record_handler=record_handler, processor=processor, context=context
    )


def _on_demand(event: Any, context: LambdaContext) -> dict[str, Any]:
    try:
        request = OnDemandSync.model_validate(event)
    except ValidationError as exc:
        reason = _problem(exc)
        _reject("on-demand event", reason)
        return {"status": "rejected", "reason": reason}
    try:
        report = runner.run(request.company_id, "on_demand", deadline_s=_deadline_s(context))
    except ReconciliationAttemptFailed as failed:  # stored and logged; the caller reads the failed report
        report = failed.report
    return report.model_dump(mode="json")


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: Any, context: LambdaContext) -> dict[str, Any]:
    if isinstance(event, dict) and "Records" in event:
        return _sqs_batch(event, context)
    return _on_demand(event, context)
