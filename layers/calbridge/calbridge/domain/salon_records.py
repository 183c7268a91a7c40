"""What happened at a salon, as the admin API reads it: a local day, paging cursors and a call's
outcome (pure; docs/adr/0031-reading-appointments-and-calls.md)."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from itertools import islice
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict

from calbridge.domain.calls import AppointmentAction, CallStatus, RecordedCall
from calbridge.errors import InvalidRequest

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 100

APPOINTMENT_STATUSES = ("booked", "cancelled", "cancel_failed", "failed")
# A failed attempt never became an appointment: listed only when asked for by its status.
LISTED_BY_DEFAULT = ("booked", "cancelled", "cancel_failed")


class CallOutcome(StrEnum):
    """What a call came to, derived from its record (nothing stores it)."""

    IN_PROGRESS = "in_progress"  # no call_ended or call_analyzed yet
    VOICEMAIL = "voicemail"  # Retell's analysis: the call reached a voicemail
    BOOKED = "booked"
    RESCHEDULED = "rescheduled"
    CANCELLED = "cancelled"
    NO_BOOKING = "no_booking"  # ended without changing an appointment


# A call that did several things is named by the one that matters most to the salon's day.
_BY_WEIGHT = (AppointmentAction.BOOKED, AppointmentAction.RESCHEDULED, AppointmentAction.CANCELLED)


def call_outcome(call: RecordedCall) -> CallOutcome:
    if call.status in (None, CallStatus.STARTED):
        return CallOutcome.IN_PROGRESS
    if call.in_voicemail:
        return CallOutcome.VOICEMAIL
    actions = {a.action for a in call.appointments}
    for action in _BY_WEIGHT:
        if action in actions:
            return CallOutcome(action.value)
    return CallOutcome.NO_BOOKING


def parse_day(raw: str | None) -> date:
    if raw is None or not raw.strip():
        raise InvalidRequest("date: required, as YYYY-MM-DD (the company's local day)", field="date")
    text = raw.strip()
    try:
        day = date.fromisoformat(text)
    except ValueError:
        day = None
    if day is None or len(text) != len("YYYY-MM-DD"):  # fromisoformat also takes 20260310
        raise InvalidRequest(f"date: a day as YYYY-MM-DD, not {raw!r}", field="date")
    return day


def parse_page_size(raw: str | None) -> int:
    if raw is None:
        return DEFAULT_PAGE_SIZE
    text = raw.strip()
    if not text.isdigit() or not 1 <= int(text) <= MAX_PAGE_SIZE:
        raise InvalidRequest(f"limit: a number from 1 to {MAX_PAGE_SIZE}, not {raw!r}", field="limit")
    return int(text)


def parse_choice(name: str, raw: str | None, choices: tuple[str, ...]) -> str | None:
    if raw is None:
        return None
    if raw not in choices:
        raise InvalidRequest(f"{name}: one of {', '.join(choices)}, not {raw!r}", field=name)
    return raw


def local_day_bounds(day: date, timezone: str) -> tuple[datetime, datetime]:
    """The UTC instants [start, end) of `day` in `timezone` (23 or 25 hours on a DST change)."""
    zone = ZoneInfo(timezone)
    start = datetime.combine(day, time(0), tzinfo=zone)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)
    return start.astimezone(UTC), end.astimezone(UTC)


# ------------------------------------------------------------------ cursors


def encode_cursor(company_id: str, query: Mapping[str, str | None], position: Mapping[str, str]) -> str:
    """An opaque cursor: where the page ended, bound to the company and the query it pages."""
    payload = {"c": company_id, "q": dict(query), "p": dict(position)}
    raw = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(
    raw: str | None, company_id: str, query: Mapping[str, str | None], keys: tuple[str, ...]
) -> dict[str, str] | None:
    """The position a cursor of this company and this query holds; 400 for any other cursor
    (another company's, another day's or filter's, or no cursor of ours at all)."""
    if raw is None:
        return None
    try:
        payload = json.loads(base64.urlsafe_b64decode(raw.strip() + "=" * (-len(raw.strip()) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        payload = None
    position = payload.get("p") if isinstance(payload, dict) else None
    if (
        not isinstance(position, dict)
        or set(position) != set(keys)
        or not all(isinstance(v, str) and v for v in position.values())
    ):
        raise InvalidRequest("cursor: not a cursor of this listing", field="cursor")
    if payload.get("c") != company_id or payload.get("q") != dict(query):
        raise InvalidRequest(
            "cursor: it pages another listing (company, day or filters differ); start again without it",
            field="cursor",
        )
    return position


# ------------------------------------------------------------------ pages


def page_of[T, V](
    items: Iterator[tuple[T, dict[str, str]]], limit: int, keep: Callable[[list[T]], list[V | None]]
) -> tuple[list[V], dict[str, str] | None]:
    """Up to `limit` kept values, reading `items` in chunks (`keep` maps a chunk to a value or None
    per item), and the position to go on from when items are left."""
    kept: list[V] = []
    last: dict[str, str] | None = None
    while len(kept) < limit:
        chunk = list(islice(items, limit - len(kept)))
        if not chunk:
            return kept, None
        for (_, position), value in zip(chunk, keep([item for item, _ in chunk]), strict=True):
            last = position
            if value is not None:
                kept.append(value)
    return kept, last if next(items, None) is not None else None


# ------------------------------------------------------------------ what a listing shows


class RecordedSegment(BaseModel):
    model_config = ConfigDict(frozen=True)

    key: str
    name: str | None = None
    start: datetime
    end: datetime
    staff_id: str | None = None
    status: str | None = None


class RecordedAppointment(BaseModel):
    """An appointment item as stored, with its segments and the branch of the call that booked it."""

    model_config = ConfigDict(frozen=True)

    appointment_id: str
    status: str
    service_id: str | None = None
    service_name: str | None = None
    start: datetime | None = None  # None only on a failed attempt that never got a plan
    end: datetime | None = None
    timezone: str | None = None
    staff_id: str | None = None
    confirmation_code: str | None = None
    customer_name: str | None = None
    customer_phone: str | None = None
    customer_email: str | None = None
    call_id: str | None = None
    branch_id: str | None = None
    segments: tuple[RecordedSegment, ...] = ()
    created_at: datetime | None = None
    cancelled_at: datetime | None = None
    cancel_reason: str | None = None
    rescheduled_at: datetime | None = None
    reschedule_count: int | None = None
    error: str | None = None

    def works_for(self, staff_id: str) -> bool:
        """The staff member leads the appointment or works one of its segments."""
        return self.staff_id == staff_id or any(s.staff_id == staff_id for s in self.segments)


# ------------------------------------------------------------------ what is asked for

_ID_MAX_CHARS = 128


def _parse_id(name: str, raw: str | None) -> str | None:
    if raw is None:
        return None
    text = raw.strip()
    if not text or len(text) > _ID_MAX_CHARS:
        raise InvalidRequest(f"{name}: an id of 1 to {_ID_MAX_CHARS} characters, not {raw!r}", field=name)
    return text


class AppointmentListing(BaseModel):
    """GET .../appointments: a local day, optional filters, a page."""

    model_config = ConfigDict(frozen=True)

    day: date
    branch_id: str | None = None
    staff_id: str | None = None
    status: str | None = None
    limit: int = DEFAULT_PAGE_SIZE
    cursor: str | None = None

    @classmethod
    def parse(cls, query: Mapping[str, str | None]) -> AppointmentListing:
        return cls(
            day=parse_day(query.get("date")),
            branch_id=_parse_id("branch_id", query.get("branch_id")),
            staff_id=_parse_id("staff_id", query.get("staff_id")),
            status=parse_choice("status", query.get("status"), APPOINTMENT_STATUSES),
            limit=parse_page_size(query.get("limit")),
            cursor=query.get("cursor"),
        )

    @property
    def statuses(self) -> tuple[str, ...]:
        return (self.status,) if self.status else LISTED_BY_DEFAULT

    def key(self) -> dict[str, str | None]:
        """What a cursor of this listing is bound to (the page size may change between pages)."""
        return {
            "date": self.day.isoformat(),
            "branch_id": self.branch_id,
            "staff_id": self.staff_id,
            "status": self.status,
        }


class CallListing(BaseModel):
    """GET .../calls: a local day, an optional outcome, a page."""

    model_config = ConfigDict(frozen=True)

    day: date
    outcome: CallOutcome | None = None
    limit: int = DEFAULT_PAGE_SIZE
    cursor: str | None = None

    @classmethod
    def parse(cls, query: Mapping[str, str | None]) -> CallListing:
        outcome = parse_choice("outcome", query.get("outcome"), tuple(o.value for o in CallOutcome))
        return cls(
            day=parse_day(query.get("date")),
            outcome=CallOutcome(outcome) if outcome else None,
            limit=parse_page_size(query.get("limit")),
            cursor=query.get("cursor"),
        )

    def key(self) -> dict[str, str | None]:
        return {"date": self.day.isoformat(), "outcome": self.outcome.value if self.outcome else None}
