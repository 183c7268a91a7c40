"""Cal.com's booking webhooks, and what a change made in Cal.com means for an appointment (pure).

Cal.com posts `{"triggerEvent", "createdAt", "payload"}` (docs/reference/calcom.md §6.3); a
booking's payload carries its `uid`, times, `metadata` (not on every trigger: a cancel's payload
is built without it, packages/features/bookings/lib/handleCancelBooking.ts) and per trigger
`cancellationReason`/`cancelledBy` or `rescheduleUid` (the old booking; `uid` is the new one).
Decisions here, I/O in services/calcom_events.py (docs/adr/0021-calcom-webhook-intake.md).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from calbridge.domain.booking import BOOKING_ID_PATTERN, META_BOOKING_ID, META_COMPANY, META_HOLD

#: How every reason calbridge gives Cal.com when it cancels begins ("calbridge: ..." in
#: services/booking.py and appointment_changes.py, "calbridge reconciliation: ..." in reconciliation.py).
OUR_REASON_PREFIX = "calbridge"


class Trigger(StrEnum):
    CREATED = "BOOKING_CREATED"
    CANCELLED = "BOOKING_CANCELLED"
    RESCHEDULED = "BOOKING_RESCHEDULED"
    # Not sent by Cal.com today: a round-robin reassignment updates the booking in place and sends
    # e-mails only (packages/features/ee/round-robin/roundRobinManualReassignment.ts,
    # roundRobinReassignment.ts; requested in calcom/cal.diy#19544, #27994). Accepted when it comes.
    REASSIGNED = "BOOKING_REASSIGNED"
    REJECTED = "BOOKING_REJECTED"  # a host declined a booking that required confirmation
    REQUESTED = "BOOKING_REQUESTED"  # created, but waits for a host's confirmation


#: Triggers that can change what an appointment's segment is in Cal.com.
WATCHED = frozenset(
    {Trigger.CANCELLED, Trigger.RESCHEDULED, Trigger.REASSIGNED, Trigger.REJECTED, Trigger.REQUESTED}
)


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


class WebhookEnvelope(_Model):
    """What every Cal.com webhook (version 2021-10-20, no custom payload template) posts."""

    trigger: str = Field(alias="triggerEvent", min_length=1, max_length=64)
    created_at: str = Field(alias="createdAt", min_length=1, max_length=64)
    payload: dict[str, Any]


class BookingPayload(_Model):
    """The fields of a booking webhook's payload calbridge reads; the rest is ignored."""

    uid: str = Field(min_length=1, max_length=128)
    reschedule_uid: str | None = Field(default=None, alias="rescheduleUid", max_length=128)
    start_time: AwareDatetime | None = Field(default=None, alias="startTime")
    reschedule_start_time: AwareDatetime | None = Field(default=None, alias="rescheduleStartTime")
    cancellation_reason: str | None = Field(default=None, alias="cancellationReason")
    cancelled_by: str | None = Field(default=None, alias="cancelledBy")
    rescheduled_by: str | None = Field(default=None, alias="rescheduledBy")
    metadata: dict[str, Any] | None = None


def delivery_key(trigger: str, uid: str, created_at: str) -> str:
    """One delivery of one change: Cal.com redelivers with the same (trigger, uid, createdAt)."""
    return hashlib.sha256(f"{trigger}\n{uid}\n{created_at}".encode()).hexdigest()[:32]


class CalcomChange(_Model):
    """A booking webhook as calbridge reads it: `uid` is the booking of ours it is about (for a
    reschedule the old one), `new_uid` the booking Cal.com moved it to."""

    trigger: Trigger
    uid: str
    new_uid: str | None = None
    new_start: datetime | None = None
    old_start: datetime | None = None
    reason: str | None = None
    actor: str | None = None
    calcom_created_at: str
    key: str
    metadata_company: str | None = None
    metadata_booking_id: str | None = None
    metadata_hold: str | None = None

    @classmethod
    def read(cls, envelope: WebhookEnvelope, booking: BookingPayload) -> CalcomChange:
        trigger = Trigger(envelope.trigger)
        moved = trigger is Trigger.RESCHEDULED and booking.reschedule_uid
        uid = booking.reschedule_uid if moved else booking.uid
        meta: Mapping[str, Any] = booking.metadata or {}
        return cls(
            trigger=trigger,
            uid=uid,
            new_uid=booking.uid if moved else None,
            new_start=booking.start_time if moved else None,
            old_start=booking.reschedule_start_time if moved else booking.start_time,
            reason=booking.cancellation_reason,
            actor=booking.cancelled_by or booking.rescheduled_by,
            calcom_created_at=envelope.created_at,
            key=delivery_key(trigger.value, booking.uid, envelope.created_at),
            metadata_company=_text(meta.get(META_COMPANY)),
            metadata_booking_id=_booking_id(meta.get(META_BOOKING_ID)),
            metadata_hold=_text(meta.get(META_HOLD)),
        )


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _booking_id(value: Any) -> str | None:
    """Our booking id from metadata, only if it can be one (it becomes a key to read)."""
    text = _text(value)
    return text if text is not None and re.fullmatch(BOOKING_ID_PATTERN, text) else None


# ------------------------------------------------------------------ the appointment as stored


class SegmentState(_Model):
    key: str
    hold: str
    staff_id: str | None = None
    calcom_host_id: int | None = None


class AppointmentState(_Model):
    """What a decision needs of an appointment: status, the uid per hold, the uids calbridge
    replaced by its last reschedule, and the segments (their hold and staff)."""

    appointment_id: str
    status: str
    holds: dict[str, str] = Field(default_factory=dict, description="hold key -> current Cal.com uid")
    replaced_uids: frozenset[str] = frozenset()
    segments: tuple[SegmentState, ...] = ()

    def hold_of(self, uid: str) -> str | None:
        return next((hold for hold, current in self.holds.items() if current == uid), None)

    def segments_of(self, hold: str) -> tuple[SegmentState, ...]:
        return tuple(segment for segment in self.segments if segment.hold == hold)


# ------------------------------------------------------------------ decisions

IgnoreReason = Literal[
    "unwatched_trigger",  # a trigger that changes no segment (created, no-show, meeting, ...)
    "not_ours",  # no appointment of this company has the booking
    "other_company",  # the booking's metadata names another company than the URL
    "calbridge_change",  # calbridge's own cancel (its reason) or a booking it replaced or cancelled
    "not_current",  # the booking is no longer one of the appointment's (an earlier generation)
    "not_booked",  # the appointment is not booked (failed attempt, cancelled, cancel failed)
]


class Ignore(_Model):
    action: Literal["ignore"] = "ignore"
    reason: IgnoreReason


class Attention(_Model):
    """The appointment needs the salon: a segment was cancelled, moved, rejected or awaits a host."""

    action: Literal["attention"] = "attention"
    appointment_id: str
    hold: str
    segment_keys: tuple[str, ...]
    reason: str


class Reassign(_Model):
    """Cal.com gave the hold another host: resolve it, and mark the appointment if the staff changed."""

    action: Literal["reassign"] = "reassign"
    appointment_id: str
    hold: str
    segments: tuple[SegmentState, ...]


Decision = Ignore | Attention | Reassign

_REASONS = {
    Trigger.CANCELLED: "cancelled in Cal.com",
    Trigger.RESCHEDULED: "moved in Cal.com",
    Trigger.REJECTED: "rejected in Cal.com",
    Trigger.REQUESTED: "waits for a host's confirmation in Cal.com",
}


def decide(change: CalcomChange, company_id: str, state: AppointmentState | None) -> Decision:
    """What a booking change made in Cal.com does to the appointment that holds the booking.

    Order-independent by construction: nothing here depends on an earlier webhook, only on the
    appointment as calbridge stored it. calbridge's own changes are recognised by its cancel reason
    (a cancel arrives before the saga records it) and by its records (a booking it replaced).
    """
    if change.trigger not in WATCHED:
        return Ignore(reason="unwatched_trigger")
    if change.metadata_company is not None and change.metadata_company != company_id:
        return Ignore(reason="other_company")
    if change.trigger is Trigger.CANCELLED and (change.reason or "").startswith(OUR_REASON_PREFIX):
        return Ignore(reason="calbridge_change")
    if state is None:
        return Ignore(reason="not_ours")
    if change.uid in state.replaced_uids:
        return Ignore(reason="calbridge_change")
    if state.status != "booked":
        return Ignore(reason="calbridge_change" if state.status == "cancelled" else "not_booked")
    hold = state.hold_of(change.uid)
    if hold is None:
        return Ignore(reason="not_current")
    segments = state.segments_of(hold)
    if change.trigger is Trigger.REASSIGNED:
        return Reassign(appointment_id=state.appointment_id, hold=hold, segments=segments)
    reason = _REASONS[change.trigger]
    if change.trigger is Trigger.RESCHEDULED and change.new_start is not None:
        reason = f"{reason} to {change.new_start.isoformat()}"
    if change.reason:
        reason = f"{reason}: {change.reason[:200]}"
    return Attention(
        appointment_id=state.appointment_id,
        hold=hold,
        segment_keys=tuple(s.key for s in segments) or (hold,),
        reason=reason,
    )


# ------------------------------------------------------------------ what is written


class AttentionMark(_Model):
    """One change made in Cal.com, as the appointment's attention items record it."""

    appointment_id: str
    key: str = Field(description="the delivery key: a redelivery is recognised by it")
    trigger: str
    reason: str
    hold: str
    segment_keys: tuple[str, ...]
    uid: str
    new_uid: str | None = None
    new_start: datetime | None = None
    actor: str | None = None
    previous_staff_id: str | None = None
    new_staff_id: str | None = None
    calcom_created_at: str

    @classmethod
    def of(cls, change: CalcomChange, decision: Attention) -> AttentionMark:
        return cls(
            appointment_id=decision.appointment_id,
            key=change.key,
            trigger=change.trigger.value,
            reason=decision.reason,
            hold=decision.hold,
            segment_keys=decision.segment_keys,
            uid=change.uid,
            new_uid=change.new_uid,
            new_start=change.new_start,
            actor=change.actor,
            calcom_created_at=change.calcom_created_at,
        )


class HostChange(_Model):
    """A hold's host as Cal.com assigned it at `calcom_created_at`, resolved to a staff member."""

    appointment_id: str
    hold: str
    segment_keys: tuple[str, ...]
    calcom_host_id: int | None
    staff_id: str | None
    strategy: str | None = None
    confidence: int | None = None
    reason: str
    calcom_created_at: str


def staff_change(segments: tuple[SegmentState, ...], staff_id: str | None) -> tuple[bool, str | None]:
    """Whether a hold's new staff member differs from its segments', and who served them before."""
    before = {segment.staff_id for segment in segments}
    return before != {staff_id}, min((s for s in before if s), default=None)
