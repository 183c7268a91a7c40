"""The nightly team sync's schedule and fan-out (issue 6; docs/adr/0009-team-sync-fan-out.md).

    00:30 UTC  EventBridge Scheduler ─► TeamSyncSchedulerFunction ─► TeamSyncFanOut.enqueue_all:
               one TeamSyncJob per company with a Cal.com team (SendMessageBatch); companies
               without one are skipped with a reason
    SQS        TeamSyncQueue ─► TeamSyncWorkerFunction ─► TeamSyncWorker.process_message per job:
               TeamSyncRunner.run = per-company lease ─► team_sync().sync_company ─► run report
               stored, logged, one metric per counter ─► lease released
    failure    the message is postponed by the seeds' backoff (60 s / 300 s / 900 s by receive
               count) and reported failed; after the 3rd receive SQS moves it to the DLQ
    on demand  `{"company_id": ...}` invoked directly, or POST /admin/companies/{id}/sync (enqueues)

The per-company sync itself (services/team_sync.py) is behind `SyncCompany`: it raises a
calbridge error for an infrastructure failure that should make the job retry and returns a report
otherwise. Dependencies are passed in, so this module imports no store or SQS code itself.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from aws_lambda_powertools.metrics import MetricUnit
from pydantic import ValidationError

from calbridge.adapters.queue import job_or_none
from calbridge.domain.sync import SkippedItem, SyncReport
from calbridge.domain.sync_jobs import SYNC_LEASE_KEY, SyncRun, TeamSyncJob, Trigger, retry_delay_s
from calbridge.errors import CalbridgeError, LeaseBusy, NoCalcomTeam, QueueUnavailable, UnknownCompany
from calbridge.observability import logger, metrics

if TYPE_CHECKING:
    from calbridge.adapters.queue import JobQueue
    from calbridge.adapters.store.leases import LeaseRepository
    from calbridge.adapters.store.repositories import CompanyRepository
    from calbridge.adapters.store.sync_runs import SyncRunRepository

# TeamSyncQueue's RedrivePolicy.maxReceiveCount in template.yaml (a template test keeps them equal):
# the attempt after which SQS moves a job to the dead-letter queue.
MAX_ATTEMPTS = 3
# What a run keeps of its Lambda's time after the sync's deadline: store, log, release the lease.
RESERVE_S = 15.0
# A lease outlives its sync's deadline by this much, so a worker that died frees it soon after.
LEASE_MARGIN_S = 60


class SyncCompany(Protocol):
    def sync_company(self, company_id: str, *, deadline_s: float = 300.0) -> SyncReport: ...


class SyncAttemptFailed(Exception):
    """A run failed in a way that should make its job retry; `run` is its stored failed report."""

    def __init__(self, run: SyncRun) -> None:
        super().__init__("; ".join(run.report.errors) or "team sync failed")
        self.run = run


def _now() -> datetime:
    return datetime.now(UTC)


def _count(name: str, value: int = 1) -> None:
    metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)


def _pascal(snake: str) -> str:
    return "".join(part.capitalize() for part in snake.split("_"))


# The report's counters, one metric each (TeamSyncMembersSynced, TeamSyncDriftFound, ...).
REPORT_COUNTERS = tuple(name for name, info in SyncReport.model_fields.items() if info.annotation is int)


def emit_report_metrics(report: SyncReport) -> None:
    _count(f"TeamSyncRun{_pascal(report.status)}")
    for name in REPORT_COUNTERS:
        _count(f"TeamSync{_pascal(name)}", int(getattr(report, name)))
    _count("TeamSyncSkippedItems", len(report.skipped))
    _count("TeamSyncErrors", len(report.errors))


# ------------------------------------------------------------------ fan-out


@dataclass
class FanOutResult:
    scheduled_time: datetime
    enqueued: dict[str, str] = field(default_factory=dict)  # company id -> SQS message id
    skipped: dict[str, str] = field(default_factory=dict)  # company id -> reason
    failed: dict[str, str] = field(default_factory=dict)  # company id -> SQS's reason

    def as_dict(self) -> dict[str, Any]:
        return {
            "scheduled_time": self.scheduled_time.isoformat(),
            "enqueued": self.enqueued,
            "skipped": self.skipped,
            "failed": self.failed,
        }


class TeamSyncFanOut:
    """Turns the nightly schedule (or an admin's request) into jobs on the team sync queue.

    The reconciliation job (services/reconciliation.py) fans out the same way, one job per company
    with a Cal.com team on its own queue: `label` names it in the log, `metric_prefix` its metrics.
    """

    def __init__(
        self,
        companies: CompanyRepository,
        queue: JobQueue,
        *,
        label: str = "team sync",
        metric_prefix: str = "TeamSync",
    ) -> None:
        self.companies = companies
        self.queue = queue
        self.label = label
        self.metric_prefix = metric_prefix

    def enqueue_all(self, scheduled_time: datetime) -> FanOutResult:
        """One job per company with a Cal.com team id; the others are skipped with a reason.

        Jobs SQS refused are in `failed`, and raise nothing: the caller decides (the scheduler
        function fails its invocation so Lambda retries it; jobs already sent run twice at worst,
        which the per-company lease and an idempotent sync make harmless).
        """
        result = FanOutResult(scheduled_time=scheduled_time)
        jobs: list[TeamSyncJob] = []
        for company_id, team_id in sorted(self.companies.calcom_team_ids().items()):
            if team_id is None:
                result.skipped[company_id] = "no Cal.com team id (calcom_team_id is not set)"
                continue
            try:
                jobs.append(
                    TeamSyncJob(company_id=company_id, trigger="schedule", requested_at=scheduled_time)
                )
            except ValidationError as exc:  # a stored id the job schema refuses (never written by us)
                result.skipped[company_id] = f"company id not usable in a job: {exc.errors()[0]['msg']}"
        if jobs:
            sent = self.queue.send_many(jobs)
            for index, job in enumerate(jobs):
                if index in sent.message_ids:
                    result.enqueued[job.company_id] = sent.message_ids[index]
                else:
                    result.failed[job.company_id] = sent.failures.get(index, "not sent")
        for company_id, reason in result.skipped.items():
            logger.info(f"{self.label}: company skipped", company_id=company_id, reason=reason)
        for company_id, reason in result.failed.items():
            logger.error(f"{self.label}: job not enqueued", company_id=company_id, reason=reason)
        _count(f"{self.metric_prefix}JobsEnqueued", len(result.enqueued))
        _count(f"{self.metric_prefix}CompaniesSkipped", len(result.skipped))
        if result.failed:
            _count(f"{self.metric_prefix}JobsNotEnqueued", len(result.failed))
        logger.info(
            f"{self.label} fan-out",
            scheduled_time=scheduled_time.isoformat(),
            enqueued=len(result.enqueued),
            skipped=len(result.skipped),
            failed=len(result.failed),
        )
        return result

    def enqueue_one(self, company_id: str, *, requested_by: str | None, now: datetime | None = None) -> str:
        """An admin's sync of one company: its job's message id. UnknownCompany, NoCalcomTeam."""
        company = self.companies.get(company_id)
        if company.calcom_team_id is None:
            raise NoCalcomTeam(f"company {company_id!r} has no Cal.com team id (calcom_team_id)")
        job = TeamSyncJob(
            company_id=company_id, trigger="admin", requested_at=now or _now(), requested_by=requested_by
        )
        message_id = self.queue.send(job)
        _count(f"{self.metric_prefix}JobsEnqueued")
        logger.info(
            f"{self.label} job enqueued", company_id=company_id, message_id=message_id, actor=requested_by
        )
        return message_id


# ------------------------------------------------------------------ one company's run


class TeamSyncRunner:
    """One run of one company's sync under the company's sync lease; every run's report is kept."""

    def __init__(
        self,
        sync: Callable[[], SyncCompany],
        companies: CompanyRepository,
        leases: LeaseRepository,
        runs: SyncRunRepository,
        *,
        max_deadline_s: float,
        clock: Callable[[], datetime] = _now,
        new_run_id: Callable[[], str] = lambda: uuid.uuid4().hex,
    ) -> None:
        self._sync = sync  # built on first use: a skipped run needs no Cal.com client
        self.companies = companies
        self.leases = leases
        self.runs = runs
        self.max_deadline_s = max_deadline_s
        self.clock = clock
        self.new_run_id = new_run_id

    def run(
        self, company_id: str, trigger: Trigger, *, deadline_s: float, job_id: str | None = None
    ) -> SyncRun:
        """The run's report: ok/partial/failed from the sync, or skipped (unknown company, no team,
        another run holds the lease). SyncAttemptFailed (its failed report stored) when the sync
        or the store failed and the job should be retried."""
        run_id, started = self.new_run_id(), self.clock()
        deadline_s = max(1.0, min(deadline_s, self.max_deadline_s))
        try:
            company = self.companies.get(company_id)
        except UnknownCompany:
            # Nothing is stored: a run log under a company that does not exist would be junk.
            return self._finish(
                self._skipped(company_id, started, run_id, trigger, job_id, "unknown company"), store=False
            )
        except Exception as exc:
            raise self._failed(company_id, started, run_id, trigger, job_id, exc) from exc
        if company.calcom_team_id is None:
            reason = "no Cal.com team id (calcom_team_id is not set)"
            return self._finish(self._skipped(company_id, started, run_id, trigger, job_id, reason))
        try:
            self.leases.acquire(
                company_id, SYNC_LEASE_KEY, run_id, ttl_s=int(deadline_s) + LEASE_MARGIN_S, now=started
            )
        except LeaseBusy:
            holder = self._lease_holder(company_id)
            reason = f"another team sync of this company is running{holder}"
            return self._finish(self._skipped(company_id, started, run_id, trigger, job_id, reason))
        except Exception as exc:
            raise self._failed(company_id, started, run_id, trigger, job_id, exc) from exc
        try:
            report = self._sync().sync_company(company_id, deadline_s=deadline_s)
            if report.finished_at is None:
                report = report.model_copy(update={"finished_at": self.clock()})
            run = SyncRun(run_id=run_id, trigger=trigger, job_id=job_id, report=report)
            self.runs.save(run)
        except UnknownCompany:  # deleted while the run waited: nothing to retry
            self._release(company_id, run_id)
            skipped = self._skipped(company_id, started, run_id, trigger, job_id, "unknown company")
            return self._finish(skipped, store=False)
        except Exception as exc:
            self._release(company_id, run_id)
            raise self._failed(company_id, started, run_id, trigger, job_id, exc) from exc
        self._release(company_id, run_id)
        return self._finish(run, store=False)

    def recent_runs(self, company_id: str, limit: int = 20) -> list[dict[str, Any]]:
        """The company's latest runs, newest first. UnknownCompany for a company that does not exist."""
        self.companies.get(company_id)
        return self.runs.recent(company_id, limit)

    # -- helpers --------------------------------------------------------------------------
    def _skipped(
        self,
        company_id: str,
        started: datetime,
        run_id: str,
        trigger: Trigger,
        job_id: str | None,
        reason: str,
    ) -> SyncRun:
        report = SyncReport(
            company_id=company_id,
            started_at=started,
            finished_at=self.clock(),
            status="skipped",
            skipped=[SkippedItem(kind="company", ref=company_id, reason=reason)],
        )
        return SyncRun(run_id=run_id, trigger=trigger, job_id=job_id, report=report)

    def _failed(
        self,
        company_id: str,
        started: datetime,
        run_id: str,
        trigger: Trigger,
        job_id: str | None,
        exc: Exception,
    ) -> SyncAttemptFailed:
        if isinstance(exc, CalbridgeError):
            error = f"{type(exc).__name__}: {exc.message}"
            logger.warning("team sync attempt failed", company_id=company_id, run_id=run_id, error=error)
        else:  # a bug: the type only in the report, the traceback in the log
            error = f"unexpected error: {type(exc).__name__}"
            logger.exception("team sync attempt failed unexpectedly", company_id=company_id, run_id=run_id)
        report = SyncReport(
            company_id=company_id,
            started_at=started,
            finished_at=self.clock(),
            status="failed",
            errors=[error],
        )
        run = SyncRun(run_id=run_id, trigger=trigger, job_id=job_id, report=report)
        self._finish(run)
        return SyncAttemptFailed(run)

    def _finish(self, run: SyncRun, *, store: bool = True) -> SyncRun:
        """Store (when asked), log and count a run that has its final report."""
        report = run.report
        if store:
            try:
                self.runs.save(run)
            except CalbridgeError as exc:  # the report is in the log below either way
                logger.warning("team sync report not stored", company_id=report.company_id, error=exc.message)
        logger.info(
            "team sync report",
            company_id=report.company_id,
            run_id=run.run_id,
            trigger=run.trigger,
            job_id=run.job_id,
            report=report.model_dump(mode="json"),
        )
        emit_report_metrics(report)
        return run

    def _release(self, company_id: str, run_id: str) -> None:
        try:
            released = self.leases.release(company_id, SYNC_LEASE_KEY, run_id)
        except CalbridgeError as exc:  # it expires by itself
            logger.warning("team sync lease not released", company_id=company_id, error=exc.message)
            return
        if not released:
            logger.warning("team sync lease was taken over before release", company_id=company_id)

    def _lease_holder(self, company_id: str) -> str:
        try:
            lease = self.leases.get(company_id, SYNC_LEASE_KEY)
        except CalbridgeError:
            return ""
        if lease is None:
            return ""
        until = datetime.fromtimestamp(lease.expires_at, UTC).isoformat()
        return f" (run {lease.owner}, lease until {until})"


# ------------------------------------------------------------------ the queue's worker


@dataclass(frozen=True)
class QueuedJob:
    """What the worker needs of one SQS message."""

    message_id: str
    body: str
    receipt_handle: str
    receive_count: int


class RunsCompanyJob(Protocol):
    def run(
        self, company_id: str, trigger: Trigger, *, deadline_s: float, job_id: str | None = None
    ) -> Any: ...


class TeamSyncWorker:
    """Runs the jobs of the team sync queue; postpones a failed one by the configured backoff.

    The reconciliation job's queue has a worker of this kind too (its runner, `label` and
    `metric_prefix`): same job body, same retries by visibility, same dead-letter queue pattern.
    """

    def __init__(
        self,
        runner: RunsCompanyJob,
        queue: JobQueue,
        backoff_s: tuple[int, ...],
        *,
        label: str = "team sync",
        metric_prefix: str = "TeamSync",
    ) -> None:
        self.runner = runner
        self.queue = queue
        self.backoff_s = backoff_s
        self.label = label
        self.metric_prefix = metric_prefix

    def process_message(self, message: QueuedJob, *, deadline_s: float) -> Any:
        """The job's run; None when the body is no job (logged and counted, never retried: it can
        never succeed). Raises when the job should be retried, after postponing it."""
        job = job_or_none(
            message.body,
            TeamSyncJob.model_validate_json,
            message_id=message.message_id,
            label=self.label,
            metric=f"{self.metric_prefix}JobsRejected",
        )
        if job is None:
            return None
        try:
            return self.runner.run(
                job.company_id, job.trigger, deadline_s=deadline_s, job_id=message.message_id
            )
        except Exception:
            self._postpone(message, job)
            raise

    def _postpone(self, message: QueuedJob, job: TeamSyncJob) -> None:
        delay = retry_delay_s(message.receive_count, self.backoff_s)
        try:
            self.queue.postpone(message.receipt_handle, delay)
        except QueueUnavailable:  # the queue's own visibility timeout applies instead
            logger.warning(f"{self.label} job not postponed", message_id=message.message_id)
        _count(f"{self.metric_prefix}AttemptsFailed")
        details = {
            "company_id": job.company_id,
            "message_id": message.message_id,
            "attempt": message.receive_count,
            "retry_in_s": delay,
        }
        if message.receive_count >= MAX_ATTEMPTS:
            _count(f"{self.metric_prefix}JobsExhausted")
            logger.error(
                f"{self.label} job failed its last attempt; SQS moves it to the dead-letter queue", **details
            )
        else:
            logger.warning(f"{self.label} job failed; it is retried", **details)
