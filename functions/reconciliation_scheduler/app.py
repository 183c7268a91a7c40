"""EventBridge Scheduler's target every hour at :45 (template.yaml `ReconciliationSchedule`): the
reconciliation's fan-out, one SQS job per company with a Cal.com team (services/reconciliation.py,
the team sync's `TeamSyncFanOut` on `ReconciliationQueue`).

Input: `{"source": "calbridge.reconciliation", "scheduled_time", "schedule_arn", "execution_id",
"attempt"}` (events/reconciliation_schedule.json). Output: `{"status": "enqueued",
"scheduled_time", "enqueued": {company: message id}, "skipped": {company: reason}, "failed": {}}`.
A malformed event is `{"status": "rejected", "reason": ...}` (logged, `ReconciliationScheduleRejected`);
jobs SQS refused fail the invocation after the others are sent, so Lambda retries the fan-out (a
company's second job is harmless: the per-company lease and an idempotent run).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from calbridge.config import get_settings
from calbridge.domain.reconciliation import ReconciliationScheduleEvent
from calbridge.errors import QueueUnavailable
from calbridge.observability import logger, metrics, tracer
from calbridge.services.wiring import reconciliation_fan_out

settings = get_settings()
fan_out = reconciliation_fan_out()


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: Any, context: LambdaContext) -> dict[str, Any]:
    try:
        schedule = ReconciliationScheduleEvent.model_validate(event)
    except ValidationError as exc:
        problem = exc.errors()[0]
        reason = f"{'.'.join(map(str, problem['loc'])) or 'event'}: {problem['msg']}"
        logger.warning("reconciliation schedule event rejected", reason=reason)
        metrics.add_metric(name="ReconciliationScheduleRejected", unit=MetricUnit.Count, value=1)
        return {"status": "rejected", "reason": reason}
    logger.append_keys(schedule_execution_id=schedule.execution_id, attempt=schedule.attempt)
    result = fan_out.enqueue_all(schedule.scheduled_time)
    if result.failed:
        raise QueueUnavailable(
            f"{len(result.failed)} reconciliation job(s) not enqueued: {sorted(result.failed)}"
        )
    return {"status": "enqueued", **result.as_dict()}
