"""Reconciliation of a company's Cal.com bookings with its appointments (issue 12, item 6). Pure.

The reconciliation job (services/reconciliation.py, docs/adr/0023-reconciliation.md) lists the
company's Cal.com bookings in a window and its appointment items, and `compare` decides:

- an **orphan** is an active Cal.com booking carrying this company's calbridge metadata that no
  live appointment holds (a failed attempt, a cancelled appointment whose cancel failed, the old
  segment of a reschedule, or no record at all), that is older than the grace period (a saga
  still in flight is not an orphan) and has not ended (it blocks nothing then, and Cal.com refuses
  to cancel it). The job cancels it.
- a **diverged** appointment is a booked one (starting in the window) one of whose holds Cal.com
  has cancelled, lost, or moved (another start, or rescheduled to a new uid). The job marks it for
  the salon's attention as the Cal.com webhook intake does (`attention_marks`: the same attention
  items, ADR 0021), unless a webhook marked that booking already, and changes nothing else of ours.

A Cal.com booking another of our appointments' holds was rescheduled to (a host moved a segment in
Cal.com: the new booking keeps the metadata) is that appointment's divergence, never an orphan.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from calbridge.domain.booking import INACTIVE_STATUSES, META_BOOKING_ID, META_COMPANY
from calbridge.domain.calcom_events import AttentionMark
from calbridge.domain.sync_jobs import ScheduleEvent, Trigger

# Appointment statuses whose Cal.com bookings are no longer wanted: failed attempts, cancelled
# appointments, and cancels that failed in Cal.com (their bookings should be gone too). Any other
# status (booked, or one a later change adds) keeps its bookings: never cancel what we do not know.
RELEASED_STATUSES = frozenset({"failed", "cancelled", "cancel_failed"})

# The lease that keeps two runs of one company's reconciliation apart (LeasesTable).
RECONCILIATION_LEASE_KEY = "reconcile"

Problem = Literal["cancelled", "missing", "moved"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class CalcomBookingSeen(_Frozen):
    """What reconciliation needs of one Cal.com booking (adapters/calcom Booking)."""

    id: int
    uid: str
    status: str
    start: datetime
    end: datetime | None = None
    created_at: datetime | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    rescheduled_to_uid: str | None = None
    rescheduled_from_uid: str | None = None

    @property
    def active(self) -> bool:
        return self.status not in INACTIVE_STATUSES

    def ours(self, company_id: str) -> bool:
        return self.metadata.get(META_COMPANY) == company_id and bool(self.metadata.get(META_BOOKING_ID))


class HoldOnRecord(_Frozen):
    """One Cal.com booking an appointment holds; `start` when a segment item tells it (a gap of a
    `blocked` plan has no segment item: only its status is compared)."""

    hold: str
    uid: str
    start: datetime | None = None
    segment_keys: tuple[str, ...] = ()  # the appointment's segments this booking covers


class Divergence(_Frozen):
    hold: str
    segment_keys: tuple[str, ...] = ()
    calcom_booking_id: int | None = None  # None when Cal.com does not know the booking
    uid: str
    problem: Problem
    calcom_start: datetime | None = None  # where Cal.com has the hold now (moved)
    moved_to_uid: str | None = None  # a reschedule in Cal.com gave the hold a new booking


class AppointmentOnRecord(_Frozen):
    appointment_id: str
    status: str
    starts_at: datetime | None = None
    holds: tuple[HoldOnRecord, ...] = ()


class Orphan(_Frozen):
    calcom_booking_id: int
    uid: str
    booking_id: str  # our attempt id from the metadata
    start: datetime
    created_at: datetime


class DivergedAppointment(_Frozen):
    appointment_id: str
    issues: tuple[Divergence, ...]


class Comparison(_Frozen):
    ours: int  # Cal.com bookings in the window with this company's metadata
    orphans: tuple[Orphan, ...] = ()
    in_flight: tuple[int, ...] = ()  # Cal.com ids of unheld bookings younger than the grace period
    diverged: tuple[DivergedAppointment, ...] = ()
    appointments_checked: int = 0


def held_uids(appointments: Iterable[AppointmentOnRecord]) -> set[str]:
    return {h.uid for a in appointments if a.status not in RELEASED_STATUSES for h in a.holds}


def _successors(start_uid: str, by_uid: Mapping[str, CalcomBookingSeen]) -> list[CalcomBookingSeen]:
    """The bookings a uid was rescheduled to, in order (a chain of moves), as far as Cal.com shows."""
    chain: list[CalcomBookingSeen] = []
    seen = {start_uid}
    current = by_uid.get(start_uid)
    while current is not None and current.rescheduled_to_uid and current.rescheduled_to_uid not in seen:
        seen.add(current.rescheduled_to_uid)
        current = by_uid.get(current.rescheduled_to_uid)
        if current is not None:
            chain.append(current)
    return chain


def _divergence(hold: HoldOnRecord, by_uid: Mapping[str, CalcomBookingSeen]) -> Divergence | None:
    booking = by_uid.get(hold.uid)
    of_hold = {"hold": hold.hold, "segment_keys": hold.segment_keys, "uid": hold.uid}
    if booking is None:
        return Divergence(**of_hold, problem="missing")
    if not booking.active:
        if booking.rescheduled_to_uid:
            chain = _successors(hold.uid, by_uid)
            last = chain[-1] if chain else None
            return Divergence(
                **of_hold,
                calcom_booking_id=booking.id,
                problem="moved",
                calcom_start=last.start if last else None,
                moved_to_uid=last.uid if last else booking.rescheduled_to_uid,
            )
        return Divergence(**of_hold, calcom_booking_id=booking.id, problem="cancelled")
    if hold.start is not None and booking.start != hold.start:
        return Divergence(
            **of_hold, calcom_booking_id=booking.id, problem="moved", calcom_start=booking.start
        )
    return None


def compare(
    company_id: str,
    bookings: Iterable[CalcomBookingSeen],
    appointments: Iterable[AppointmentOnRecord],
    *,
    window_start: datetime,
    window_end: datetime,
    now: datetime,
    grace: timedelta,
) -> Comparison:
    """Orphans among the company's Cal.com bookings, and booked appointments (starting in the
    window) whose Cal.com bookings diverged. `bookings` must hold every booking an in-window
    appointment names (the job looks up those its listing missed); absent means Cal.com lost it."""
    appointments = list(appointments)
    by_uid = {b.uid: b for b in bookings}
    ours = [b for b in by_uid.values() if b.ours(company_id)]
    held = held_uids(appointments)
    moved_into = {s.uid for uid in held for s in _successors(uid, by_uid)}
    orphans: list[Orphan] = []
    in_flight: list[int] = []
    for booking in sorted(ours, key=lambda b: (b.start, b.id)):
        if not booking.active or booking.uid in held or booking.uid in moved_into:
            continue
        if not window_start <= booking.start <= window_end:
            continue  # looked up for an appointment: judged by the run whose window it is in
        if booking.end is not None and booking.end <= now:
            continue  # over: it blocks nothing any more, and Cal.com refuses to cancel an ended booking
        if booking.created_at is None or now - booking.created_at < grace:
            in_flight.append(booking.id)
            continue
        orphans.append(
            Orphan(
                calcom_booking_id=booking.id,
                uid=booking.uid,
                booking_id=str(booking.metadata[META_BOOKING_ID]),
                start=booking.start,
                created_at=booking.created_at,
            )
        )
    checked = [
        a
        for a in appointments
        if a.status == "booked" and a.starts_at is not None and window_start <= a.starts_at <= window_end
    ]
    diverged: list[DivergedAppointment] = []
    for appointment in sorted(checked, key=lambda a: a.appointment_id):
        issues = tuple(d for d in (_divergence(h, by_uid) for h in appointment.holds) if d is not None)
        if issues:
            diverged.append(DivergedAppointment(appointment_id=appointment.appointment_id, issues=issues))
    in_window = [b for b in ours if window_start <= b.start <= window_end]
    return Comparison(
        ours=len(in_window),
        orphans=tuple(orphans),
        in_flight=tuple(in_flight),
        diverged=tuple(diverged),
        appointments_checked=len(checked),
    )


# The attention items' trigger of a mark reconciliation makes (the webhook's are Cal.com's triggers).
RECONCILIATION_TRIGGER = "RECONCILIATION"
_REASONS: dict[str, str] = {
    "cancelled": "cancelled in Cal.com",
    "missing": "gone from Cal.com",
    "moved": "moved in Cal.com",
}


def attention_marks(diverged: DivergedAppointment, *, at: datetime) -> list[AttentionMark]:
    """The attention marks of a diverged appointment, one per issue. The key (uid and problem)
    makes a later run's same finding a duplicate the store refuses, so re-runs write nothing."""
    marks = []
    for issue in diverged.issues:
        reason = _REASONS[issue.problem]
        if issue.calcom_start is not None:
            reason = f"{reason} to {issue.calcom_start.isoformat()}"
        marks.append(
            AttentionMark(
                appointment_id=diverged.appointment_id,
                key=f"reconciliation#{issue.uid}#{issue.problem}",
                trigger=RECONCILIATION_TRIGGER,
                reason=f"{reason} (found by reconciliation)",
                hold=issue.hold,
                segment_keys=issue.segment_keys or (issue.hold,),
                uid=issue.uid,
                new_uid=issue.moved_to_uid,
                new_start=issue.calcom_start,
                calcom_created_at=at.isoformat(),
            )
        )
    return marks


# ------------------------------------------------------------------------- the run and its report


class ReconciliationScheduleEvent(ScheduleEvent):
    """The schedule target's Input (template.yaml ReconciliationSchedule), as the team sync's."""

    source: Literal["calbridge.reconciliation"]  # type: ignore[assignment]


class OrphanCancel(_Frozen):
    calcom_booking_id: int
    uid: str
    booking_id: str
    start: datetime
    outcome: Literal["cancelled", "already_cancelled", "failed"]
    error: str | None = None


class ReconciliationReport(BaseModel):
    """One run for one company: what was compared, what was done, and what went wrong."""

    model_config = ConfigDict(frozen=True)

    run_id: str
    company_id: str
    trigger: Trigger
    job_id: str | None = None
    started_at: AwareDatetime
    finished_at: AwareDatetime | None = None
    status: Literal["ok", "partial", "failed", "skipped"] = "ok"
    window_start: AwareDatetime | None = None
    window_end: AwareDatetime | None = None
    bookings_seen: int = 0  # Cal.com bookings in the window with this company's metadata
    appointments_checked: int = 0
    orphaned_bookings: int = 0
    orphans_cancelled: int = 0
    appointments_diverged: int = 0
    appointments_flagged: int = 0  # newly marked for attention by this run (not by a webhook or earlier run)
    calcom_calls: int = 0
    orphans: list[OrphanCancel] = Field(default_factory=list)
    in_flight: list[int] = Field(default_factory=list)
    diverged: list[DivergedAppointment] = Field(default_factory=list)
    errors: list[str] = Field(default_factory=list)
    reason: str | None = None  # why a run was skipped

    def loggable(self) -> dict[str, Any]:
        """The report for the log: Cal.com uids left out (a uid works as a capability token)."""
        return self.model_dump(
            mode="json",
            exclude={
                "orphans": {"__all__": {"uid"}},
                "diverged": {"__all__": {"issues": {"__all__": {"uid", "moved_to_uid"}}}},
            },
        )
