"""Reconciliation of Cal.com bookings with our appointments (issue 12, item 6; ADR 0023).

    hourly (:45)  EventBridge Scheduler ─► ReconciliationSchedulerFunction ─► TeamSyncFanOut (label
                  "reconciliation"): one job per company with a Cal.com team on ReconciliationQueue
    SQS           ReconciliationQueue ─► ReconciliationWorkerFunction ─► TeamSyncWorker ─►
                  Reconciler.run per job: lease `reconcile` ─► read ─► compare ─► act ─► report
    failure       reads failed (Cal.com, DynamoDB): nothing done, failed report stored, the job is
                  retried (60/300/900 s), then the dead-letter queue
    on demand     `{"company_id": ...}` invoked directly (`make reconcile`)

One run reads everything first: the company's appointments (one query of its partition) and its
Cal.com bookings of its booking event types (the event map's and the services' own) from
`lookback` ago to the company's booking window, every status, every page, plus each booking an
in-window appointment holds that the listing lacks. A read that fails ends the run before it
changes anything. Then `domain.reconciliation.compare` decides, and the run cancels the orphans
(each on its own: a refusal or an outage fails that one, and an outage stops the cancels) and flags
marks the diverged appointments for the salon's attention with the webhook intake's attention
items (adapters/store/calcom_changes.py), skipping bookings a webhook marked already. Re-running
changes nothing more: cancelled orphans are no longer active, and a mark's key (uid and problem)
makes the same finding a duplicate.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.metrics import MetricUnit

from calbridge.domain.reconciliation import (
    RECONCILIATION_LEASE_KEY,
    AppointmentOnRecord,
    CalcomBookingSeen,
    Comparison,
    OrphanCancel,
    ReconciliationReport,
    attention_marks,
    compare,
)
from calbridge.domain.sync_jobs import Trigger
from calbridge.errors import (
    CalbridgeError,
    CalcomError,
    CalcomRejected,
    DeadlineExceeded,
    LeaseBusy,
    UnknownCompany,
)
from calbridge.observability import logger, metrics

if TYPE_CHECKING:
    from calbridge.adapters.calcom import Booking, CalcomClient
    from calbridge.adapters.calcom.pacing import Deadline, Pacer
    from calbridge.adapters.store.bookings import ReconciliationRecords
    from calbridge.adapters.store.calcom_changes import CalcomChangeRecords
    from calbridge.adapters.store.event_map import EventMapRepository
    from calbridge.adapters.store.leases import LeaseRepository
    from calbridge.adapters.store.reconciliation_runs import ReconciliationRunRepository
    from calbridge.adapters.store.repositories import CompanyRepository, ServiceRepository
    from calbridge.domain.models import Company

CANCEL_REASON = "calbridge reconciliation: booking without an appointment (orphan)"
# Every status, so that cancelled and moved holds are seen (Cal.com's getAllUserBookings ORs the
# statuses' filters; without `status` it lists `upcoming` only, local/calcom_standin/README.md).
LISTED_STATUSES = ("upcoming", "unconfirmed", "past", "cancelled")
EVENT_TYPES_PER_LISTING = 50  # eventTypeIds is a query-string list: keep the URL short
LEASE_MARGIN_S = 60
LABEL = "reconciliation"
METRIC_PREFIX = "Reconciliation"


def _now() -> datetime:
    return datetime.now(UTC)


def _count(name: str, value: int = 1) -> None:
    metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)


def _error(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc.message}" if isinstance(exc, CalbridgeError) else type(exc).__name__


class ReconciliationAttemptFailed(Exception):
    """A run that read nothing usable; its failed report is stored and the job should retry."""

    def __init__(self, report: ReconciliationReport) -> None:
        super().__init__("; ".join(report.errors) or "reconciliation failed")
        self.report = report


def _seen(booking: Booking) -> CalcomBookingSeen:
    return CalcomBookingSeen(
        id=booking.id,
        uid=booking.uid,
        status=booking.status,
        start=booking.start,
        end=booking.end,
        created_at=booking.created_at,
        metadata=dict(booking.metadata),
        rescheduled_to_uid=booking.rescheduled_to_uid,
        rescheduled_from_uid=booking.rescheduled_from_uid,
    )


class Reconciler:
    """One company's reconciliation run under its lease; every run's report is stored and counted."""

    def __init__(
        self,
        calcom: Callable[[], CalcomClient],
        companies: CompanyRepository,
        services: ServiceRepository,
        event_map: EventMapRepository,
        records: ReconciliationRecords,
        marks: CalcomChangeRecords,
        leases: LeaseRepository,
        runs: ReconciliationRunRepository,
        *,
        requests_per_minute: int,
        grace_s: int,
        lookback_hours: int,
        max_deadline_s: float,
        clock: Callable[[], datetime] = _now,
        new_run_id: Callable[[], str] = lambda: uuid.uuid4().hex,
    ) -> None:
        self._calcom = calcom  # built on first use: a skipped run needs no Cal.com client
        self.companies = companies
        self.services = services
        self.event_map = event_map
        self.records = records
        self.marks = marks
        self.leases = leases
        self.runs = runs
        self.requests_per_minute = requests_per_minute
        self._pacer: Pacer | None = None  # one per container, made by the first run
        self.grace = timedelta(seconds=grace_s)
        self.lookback = timedelta(hours=lookback_hours)
        self.max_deadline_s = max_deadline_s
        self.clock = clock
        self.new_run_id = new_run_id

    def run(
        self, company_id: str, trigger: Trigger, *, deadline_s: float, job_id: str | None = None
    ) -> ReconciliationReport:
        """The run's report (ok, partial, skipped). ReconciliationAttemptFailed when a read failed
        and nothing was changed: the job is retried."""
        report = ReconciliationReport(
            run_id=self.new_run_id(),
            company_id=company_id,
            trigger=trigger,
            job_id=job_id,
            started_at=self.clock(),
        )
        deadline_s = max(1.0, min(deadline_s, self.max_deadline_s))
        try:
            company = self.companies.get(company_id)
        except UnknownCompany:  # nothing stored under a company that does not exist
            return self._finish(self._skipped(report, "unknown company"), store=False)
        except Exception as exc:
            raise self._failed(report, exc) from exc
        if company.calcom_team_id is None:
            return self._finish(self._skipped(report, "no Cal.com team id (calcom_team_id is not set)"))
        try:
            self.leases.acquire(
                company_id,
                RECONCILIATION_LEASE_KEY,
                report.run_id,
                ttl_s=int(deadline_s) + LEASE_MARGIN_S,
                now=report.started_at,
            )
        except LeaseBusy:
            return self._finish(self._skipped(report, "another reconciliation of this company is running"))
        except Exception as exc:
            raise self._failed(report, exc) from exc
        # The Cal.com pieces are imported by the run that calls Cal.com: not at the handlers' cold start.
        from calbridge.adapters.calcom.pacing import Deadline

        try:
            done = self._reconcile(company, report, Deadline(deadline_s))
        except Exception as exc:
            self._release(report)
            raise self._failed(report, exc) from exc
        self._release(report)
        return self._finish(done)

    def recent_runs(self, company_id: str, limit: int = 20) -> list[dict[str, Any]]:
        self.companies.get(company_id)
        return self.runs.recent(company_id, limit)

    # -- the run ----------------------------------------------------------------------------------
    def _reconcile(
        self, company: Company, report: ReconciliationReport, deadline: Deadline
    ) -> ReconciliationReport:
        from calbridge.adapters.calcom.pacing import Pacer, RequestGuard

        now = report.started_at
        # The booking window counts the company's days: a day more covers the last day's appointments.
        window_end = now + timedelta(days=company.booking_window_days + 1)
        window_start = now - self.lookback
        report = report.model_copy(update={"window_start": window_start, "window_end": window_end})
        if self._pacer is None:
            self._pacer = Pacer(limit=self.requests_per_minute)
        event_types = self._event_type_ids(company.company_id)
        appointments = self.records.appointments(company.company_id)
        guard = RequestGuard(deadline, self._pacer)
        calcom = self._calcom().for_company(company.company_id).guarded(guard)
        bookings: dict[str, CalcomBookingSeen] = {}
        for start in range(0, len(event_types), EVENT_TYPES_PER_LISTING):
            listed = calcom.list_bookings(
                event_type_ids=event_types[start : start + EVENT_TYPES_PER_LISTING],
                after_start=window_start,
                before_end=window_end,
                status=LISTED_STATUSES,
                sort_start="asc",  # a stable order for offset paging
            )
            bookings.update((b.uid, _seen(b)) for b in listed)
        for uid in self._unlisted_holds(appointments, bookings, window_start, window_end):
            try:
                bookings[uid] = _seen(calcom.get_booking(uid))
            except CalcomRejected as exc:
                if exc.status_code != 404:
                    raise
        comparison = compare(
            company.company_id,
            bookings.values(),
            appointments,
            window_start=window_start,
            window_end=window_end,
            now=now,
            grace=self.grace,
        )
        orphans, errors = self._cancel_orphans(calcom, comparison)
        marked, mark_errors = self._mark(company.company_id, comparison)
        errors += mark_errors
        return report.model_copy(
            update={
                "finished_at": self.clock(),
                "status": "partial" if errors else "ok",
                "bookings_seen": comparison.ours,
                "appointments_checked": comparison.appointments_checked,
                "orphaned_bookings": len(comparison.orphans),
                "orphans_cancelled": sum(o.outcome != "failed" for o in orphans),
                "appointments_diverged": len(comparison.diverged),
                "appointments_flagged": marked,
                "calcom_calls": guard.calls,
                "orphans": orphans,
                "in_flight": list(comparison.in_flight),
                "diverged": list(comparison.diverged),
                "errors": errors,
            }
        )

    def _event_type_ids(self, company_id: str) -> list[int]:
        """The company's booking event types: every event map entry (removed ones too: their
        bookings stay valid) and the services' own Cal.com event types."""
        ids = {e.event_type_id for e in self.event_map.list(company_id) if e.event_type_id is not None}
        ids |= {
            s.calcom_event_type_id
            for s in self.services.list(company_id, active_only=False)
            if s.calcom_event_type_id is not None
        }
        return sorted(ids)

    @staticmethod
    def _unlisted_holds(
        appointments: Iterable[AppointmentOnRecord],
        bookings: dict[str, CalcomBookingSeen],
        start: datetime,
        end: datetime,
    ) -> list[str]:
        """Holds of booked in-window appointments the listing lacks (moved out of the window, or
        gone): read one by one, so that only a 404 counts as missing."""
        return sorted(
            {
                hold.uid
                for a in appointments
                if a.status == "booked" and a.starts_at is not None and start <= a.starts_at <= end
                for hold in a.holds
                if hold.uid not in bookings
            }
        )

    def _cancel_orphans(
        self, calcom: CalcomClient, comparison: Comparison
    ) -> tuple[list[OrphanCancel], list[str]]:
        results: list[OrphanCancel] = []
        errors: list[str] = []
        stopped: str | None = None
        for orphan in comparison.orphans:
            base = orphan.model_dump(include={"calcom_booking_id", "uid", "booking_id", "start"})
            if stopped:
                results.append(OrphanCancel(**base, outcome="failed", error=f"not tried: {stopped}"))
                continue
            try:
                calcom.cancel_booking(orphan.uid, CANCEL_REASON)
                results.append(OrphanCancel(**base, outcome="cancelled"))
                logger.warning(
                    "orphaned Cal.com booking cancelled",
                    calcom_booking_id=orphan.calcom_booking_id,
                    booking_id=orphan.booking_id,
                )
                continue
            except CalcomRejected as exc:  # cancelled meanwhile (a late compensation), or refused
                outcome = self._cancelled_meanwhile(calcom, orphan.uid)
                error = None if outcome else _error(exc)
            except (CalcomError, DeadlineExceeded) as exc:  # Cal.com down, or out of time: stop here
                stopped, outcome, error = _error(exc), False, _error(exc)
            results.append(
                OrphanCancel(**base, outcome="already_cancelled" if outcome else "failed", error=error)
            )
            if error:
                errors.append(f"orphan {orphan.calcom_booking_id} not cancelled: {error}")
        return results, errors

    @staticmethod
    def _cancelled_meanwhile(calcom: CalcomClient, uid: str) -> bool:
        try:
            return not _seen(calcom.get_booking(uid)).active
        except (CalcomError, DeadlineExceeded):
            return False

    def _mark(self, company_id: str, comparison: Comparison) -> tuple[int, list[str]]:
        """Mark each diverged appointment for attention, but not for a booking a webhook (or an
        earlier run) marked already: one change, one mark."""
        marked, errors = 0, []
        for diverged in comparison.diverged:
            try:
                known = {
                    item.get("booking_uid")
                    for item in self.marks.attention(company_id, diverged.appointment_id)
                    if item.get("kind") == "attention_change"
                }
                new = [m for m in attention_marks(diverged, at=self.clock()) if m.uid not in known]
                written = [self.marks.record_change(company_id, mark) for mark in new]
            except CalbridgeError as exc:
                errors.append(f"appointment {diverged.appointment_id} not marked: {_error(exc)}")
                continue
            if "marked" in written:
                marked += 1
                logger.warning(
                    "appointment diverged from Cal.com",
                    company_id=company_id,
                    appointment_id=diverged.appointment_id,
                    problems=sorted({i.problem for i in diverged.issues}),
                )
        return marked, errors

    # -- helpers ----------------------------------------------------------------------------------
    def _skipped(self, report: ReconciliationReport, reason: str) -> ReconciliationReport:
        return report.model_copy(update={"status": "skipped", "reason": reason, "finished_at": self.clock()})

    def _failed(self, report: ReconciliationReport, exc: Exception) -> ReconciliationAttemptFailed:
        if isinstance(exc, CalbridgeError):
            logger.warning("reconciliation attempt failed", company_id=report.company_id, error=_error(exc))
        else:  # a bug: the type only in the report, the traceback in the log
            logger.exception("reconciliation attempt failed unexpectedly", company_id=report.company_id)
        failed = report.model_copy(
            update={"status": "failed", "finished_at": self.clock(), "errors": [*report.errors, _error(exc)]}
        )
        return ReconciliationAttemptFailed(self._finish(failed))

    def _finish(self, report: ReconciliationReport, *, store: bool = True) -> ReconciliationReport:
        """Store (when asked), log and count a run's final report."""
        if store:
            try:
                self.runs.save(report)
            except CalbridgeError as exc:  # the report is in the log below either way
                logger.warning(
                    "reconciliation report not stored", company_id=report.company_id, error=exc.message
                )
        logger.info("reconciliation report", company_id=report.company_id, report=report.loggable())
        _count(f"{METRIC_PREFIX}Run{report.status.capitalize()}")
        _count("OrphanedBookings", report.orphaned_bookings)
        _count("AppointmentsDiverged", report.appointments_diverged)
        _count(f"{METRIC_PREFIX}OrphansCancelled", report.orphans_cancelled)
        _count(f"{METRIC_PREFIX}AppointmentsFlagged", report.appointments_flagged)
        return report

    def _release(self, report: ReconciliationReport) -> None:
        try:
            self.leases.release(report.company_id, RECONCILIATION_LEASE_KEY, report.run_id)
        except CalbridgeError as exc:  # it expires by itself
            logger.warning(
                "reconciliation lease not released", company_id=report.company_id, error=exc.message
            )
