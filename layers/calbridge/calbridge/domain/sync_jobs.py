"""The nightly team sync's fan-out (issue 6): the job one company's sync gets, the schedule's event,
and when a failed attempt is tried again. Pure: no I/O.

The scheduler function turns one schedule event into one `TeamSyncJob` per company with a Cal.com
team (an SQS message each); the worker runs each job (services/team_sync_jobs.py). Decision
record: docs/adr/0009-team-sync-fan-out.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from calbridge.domain.models import EntityId
from calbridge.domain.sync import SyncReport

# The per-company lease that keeps a manual sync and the nightly one from overlapping
# (LeasesTable, key (company_id, "sync")).
SYNC_LEASE_KEY = "sync"

Trigger = Literal["schedule", "admin", "on_demand"]


class TeamSyncJob(BaseModel):
    """The body of one SQS message: sync this company."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    company_id: EntityId
    trigger: Trigger
    requested_at: AwareDatetime
    requested_by: str | None = Field(default=None, max_length=512)  # the admin's IAM principal


class OnDemandSync(BaseModel):
    """A direct invocation of the worker (`make sync`, the console): `{"company_id": "..."}`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    company_id: EntityId


class ScheduleEvent(BaseModel):
    """What EventBridge Scheduler delivers to the scheduler function: the schedule target's Input
    with its context attributes filled in (template.yaml, TeamSyncSchedule)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    source: Literal["calbridge.team-sync"]
    scheduled_time: AwareDatetime
    schedule_arn: str | None = None
    execution_id: str | None = None
    attempt: int | None = Field(default=None, ge=0)


def retry_delay_s(receive_count: int, backoff_s: Sequence[int]) -> int:
    """How long a job whose attempt number `receive_count` (1-based) failed waits before the next.

    With the seeds' backoff (60, 300, 900): the 1st failure waits 60 s, the 2nd 300 s, the 3rd 900 s
    (after which SQS's redrive moves the message to the dead-letter queue on its next receive);
    counts beyond the list keep its last delay.
    """
    if not backoff_s:
        raise ValueError("backoff_s must not be empty")
    index = min(max(receive_count, 1), len(backoff_s)) - 1
    return int(backoff_s[index])


class SyncRun(BaseModel):
    """One run of one company's sync: its report and where it came from (what the run log stores)."""

    model_config = ConfigDict(frozen=True)

    run_id: str
    trigger: Trigger
    job_id: str | None = None
    report: SyncReport
