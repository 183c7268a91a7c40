"""EventBridge Scheduler's target at 00:30 UTC (template.yaml `TeamSyncSchedule`): the nightly team
sync's fan-out, one SQS job per company with a Cal.com team (services/team_sync_jobs.py).

Input: the schedule target's Input with Scheduler's context attributes filled in,
`{"source": "calbridge.team-sync", "scheduled_time": "2026-03-02T00:30:00Z", "schedule_arn",
"execution_id", "attempt"}` (events/team_sync_schedule.json). Output: `{"status": "enqueued",
"scheduled_time", "enqueued": {company: message id}, "skipped": {company: reason}, "failed": {}}`.

A malformed event is skipped with a reason (logged, metric `TeamSyncScheduleRejected`), never a
crash: `{"status": "rejected", "reason": ...}`. Jobs SQS refused fail the invocation after the
others are sent, so Lambda's asynchronous retries run the fan-out again (a company's second job
is harmless: the per-company lease and an idempotent sync).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from calbridge.config import get_settings
from calbridge.domain.sync_jobs import ScheduleEvent
from calbridge.errors import QueueUnavailable
from calbridge.observability import logger, metrics, tracer
from calbridge.services.wiring import team_sync_fan_out

settings = get_settings()
fan_out = team_sync_fan_out()


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: Any, context: LambdaContext) -> dict[str, Any]:
    try:
        schedule = ScheduleEvent.model_validate(event)
    except ValidationError as exc:
        problem = exc.errors()[0]
        reason = f"{'.'.join(map(str, problem['loc'])) or 'event'}: {problem['msg']}"
        logger.warning("team sync schedule event rejected", reason=reason)
        metrics.add_metric(name="TeamSyncScheduleRejected", unit=MetricUnit.Count, value=1)
        return {"status": "rejected", "reason": reason}
    logger.append_keys(schedule_execution_id=schedule.execution_id, attempt=schedule.attempt)
    result = fan_out.enqueue_all(schedule.scheduled_time)
    if result.failed:
        raise QueueUnavailable(f"{len(result.failed)} team sync job(s) not enqueued: {sorted(result.failed)}")
    return {"status": "enqueued", **result.as_dict()}
