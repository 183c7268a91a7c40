"""The booking workflow's data (pure): what each step of the saga takes and gives.

The booking state machine (statemachines/booking.asl.json, docs/adr/0006-booking-saga.md) passes
these models as JSON from task to task: the execution input (`BookingRequest`), the plan with a
Cal.com event type per hold (`BookingPlan`), one `Reservation` (or `HoldFailure`) per hold, the
staff member per hold (`StaffAssignment`), and the stored appointment (`AppointmentSummary`).
Also here: our ids in a Cal.com booking's metadata, the slot lease key and the confirmation code.
No I/O.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from calbridge.domain.models import EntityId, PausePolicy, PhoneNumber
from calbridge.domain.planning import Hold, PlannedSegment

#: Our ids in every Cal.com booking the workflow makes (Cal.com has no idempotency key, §2.7).
META_BOOKING_ID = "calbridge_booking_id"
META_HOLD = "calbridge_hold"
META_COMPANY = "calbridge_company"

#: Cal.com booking statuses that no longer hold a slot.
INACTIVE_STATUSES = frozenset({"cancelled", "rejected"})


def statuses_to_change(cancelling: bool) -> tuple[str, ...]:
    """The appointment statuses a caller may cancel (a cancel that left segments behind too, so
    that cancelling again finishes it) or move (only booked)."""
    return ("booked", "cancel_failed") if cancelling else ("booked",)


#: Six characters a caller can read out and spell: no 0/O, no 1/I/L.
CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_LENGTH = 6

BOOKING_ID_PATTERN = r"^[A-Za-z0-9_-]{1,80}$"  # also a valid Step Functions execution name


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", str_strip_whitespace=True)


# ------------------------------------------------------------------------- execution input


class Customer(_Frozen):
    """Who the appointment is for. Cal.com needs an e-mail or a phone number to reach them."""

    name: str = Field(min_length=1, max_length=200)
    email: str | None = Field(default=None, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", max_length=254)
    phone: PhoneNumber | None = None

    @model_validator(mode="after")
    def _reachable(self) -> Customer:
        if not self.email and not self.phone:
            raise ValueError("the customer needs an email or a phone number")
        return self


class BookingRequest(_Frozen):
    """The booking state machine's input; the tool layer builds it once staff and time are chosen."""

    company_id: EntityId
    booking_id: str = Field(pattern=BOOKING_ID_PATTERN, description="our appointment id, new per attempt")
    service_id: EntityId
    start: AwareDatetime
    staff_id: EntityId
    customer: Customer
    call_id: str | None = Field(default=None, max_length=128)
    # The fingerprint of the tool call that asks for the booking, noted with it on the call record
    # (docs/adr/0017-tool-call-identity.md).
    change_of: str | None = Field(default=None, max_length=64)
    # Minutes each gap of a `flexible` plan is stretched by, as availability found it free.
    gap_stretch: tuple[int, ...] = ()


# ------------------------------------------------------------------------- plan


class PlannedHold(Hold):
    """A hold of the segment plan and the Cal.com event type that books it."""

    event_type_id: int


class BookingPlan(_Frozen):
    """Plan's output: everything the later steps need, so they read nothing again."""

    company_id: str
    booking_id: str
    service_id: str
    service_name: str
    composite: bool
    policy: PausePolicy
    staff_id: str
    calcom_user_id: int
    timezone: str
    language: str
    start: datetime
    end: datetime
    lease_key: str
    customer: Customer
    call_id: str | None = None
    change_of: str | None = None
    segments: tuple[PlannedSegment, ...]
    holds: tuple[PlannedHold, ...] = Field(min_length=1)

    @property
    def event_type_ids(self) -> list[int]:
        return sorted({hold.event_type_id for hold in self.holds})

    def hold_of(self, segment_key: str) -> str:
        """The key of the hold (Cal.com booking) that covers a segment."""
        whole = next((h.key for h in self.holds if h.kind == "whole"), None)
        return whole or segment_key


def lease_key(staff_id: str, local_day: date) -> str:
    """One slot lease per staff member and local day of the start."""
    return f"{staff_id}#{local_day.isoformat()}"


# ------------------------------------------------------------------------- reservations


class HoldRequest(_Frozen):
    """One Map iteration's input: book this hold for the plan's staff member."""

    company_id: str
    booking_id: str
    calcom_user_id: int
    timezone: str
    language: str
    customer: Customer
    hold: PlannedHold


def booking_metadata(company_id: str, booking_id: str, hold_key: str) -> dict[str, str]:
    return {META_BOOKING_ID: booking_id, META_HOLD: hold_key, META_COMPANY: company_id}


def is_ours(
    metadata: Mapping[str, Any], company_id: str, booking_id: str, hold_key: str | None = None
) -> bool:
    """Whether a Cal.com booking's metadata names this booking attempt (and hold, if given)."""
    return (
        metadata.get(META_BOOKING_ID) == booking_id
        and metadata.get(META_COMPANY) == company_id
        and (hold_key is None or metadata.get(META_HOLD) == hold_key)
    )


class Reservation(_Frozen):
    """A hold booked in Cal.com; `hosts`/`attendees` as Cal.com sent them, for host resolution."""

    failed: Literal[False] = False
    hold: str
    uid: str
    calcom_booking_id: int
    event_type_id: int
    start: datetime
    end: datetime
    reused: bool = Field(description="found by metadata on a retry instead of created again")
    hosts: list[dict[str, Any]] = Field(default_factory=list)
    attendees: list[dict[str, Any]] = Field(default_factory=list)


class HoldFailure(_Frozen):
    """What the Map's per-iteration Catch makes of a hold that could not be booked."""

    failed: Literal[True] = True
    hold: str
    error: str
    cause: str = ""


def parse_reservations(items: list[Mapping[str, Any]]) -> list[Reservation | HoldFailure]:
    return [
        HoldFailure.model_validate(item) if item.get("failed") else Reservation.model_validate(item)
        for item in items
    ]


def error_message(cause: str | None) -> str:
    """The readable part of a Step Functions error cause (a Lambda's JSON error, or plain text)."""
    if not cause:
        return ""
    try:
        data = json.loads(cause)
    except ValueError:
        return cause
    if isinstance(data, dict) and isinstance(data.get("errorMessage"), str):
        return data["errorMessage"]
    return cause


class StaffAssignment(_Frozen):
    hold: str
    uid: str
    staff_id: str
    calcom_host_id: int | None
    strategy: str
    confidence: int
    reason: str


# ------------------------------------------------------------------------- the appointment


class SegmentSummary(_Frozen):
    key: str
    name: str
    start: datetime
    end: datetime
    gap_after: int
    hold: str
    staff_id: str
    calcom_host_id: int | None
    calcom_booking_uid: str


class AppointmentSummary(_Frozen):
    """The booked appointment: the state machine's output and what the caller is told."""

    appointment_id: str
    company_id: str
    status: Literal["booked"] = "booked"
    confirmation_code: str
    composite_group_uid: str
    service_id: str
    service_name: str
    composite: bool
    pause_policy: PausePolicy
    staff_id: str
    start: datetime
    end: datetime
    timezone: str
    customer_name: str
    call_id: str | None = None
    segments: list[SegmentSummary]
    calcom_booking_uids: dict[str, str] = Field(description="hold key -> Cal.com uid")


def new_confirmation_code() -> str:
    """A random code of CODE_LENGTH characters from CODE_ALPHABET (uniqueness: the store checks)."""
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def normalize_code(spoken: str) -> str | None:
    """A confirmation code as a caller reads it ("a b c - 2 3 4") -> "ABC234"; None when it cannot
    be one (wrong length, or letters the alphabet leaves out)."""
    code = "".join(ch for ch in spoken.upper() if ch.isalnum())
    if len(code) != CODE_LENGTH or any(ch not in CODE_ALPHABET for ch in code):
        return None
    return code


class CustomerAppointment(_Frozen):
    """An appointment as the cancel and reschedule tools find it for a caller."""

    appointment_id: str
    company_id: str
    status: str
    service_id: str | None = None
    service_name: str | None = None
    staff_id: str | None = None
    start: datetime
    end: datetime | None = None
    confirmation_code: str | None = None

    def changeable(self, now: datetime, *, cancelling: bool = False) -> bool:
        """Booked and still ahead: only then can it be cancelled or moved. A cancel that left
        segments behind (`cancel_failed`) is finished by cancelling again (ADR 0007), never moved."""
        return self.status in statuses_to_change(cancelling) and self.start > now
