"""Tenant-scoped domain models. Pure: no I/O, validated with pydantic."""

from __future__ import annotations

import re
from datetime import time
from enum import StrEnum
from itertools import pairwise
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
_ID = r"^[A-Za-z0-9_-]{1,64}$"


def normalize_phone(value: str) -> str:
    """E.164 without separators: '+49 30 1234-567' -> '+49301234567'."""
    compact = re.sub(r"[\s()./-]", "", value)
    if compact.startswith("00"):
        compact = "+" + compact[2:]
    if not _E164.match(compact):
        raise ValueError(f"not an E.164 phone number: {value!r}")
    return compact


def _valid_timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone: {value!r}") from exc
    return value


PhoneNumber = Annotated[str, AfterValidator(normalize_phone)]
TimeZoneName = Annotated[str, AfterValidator(_valid_timezone)]
EntityId = Annotated[str, Field(pattern=_ID)]
Language = Literal["de", "en"]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)


class Branch(_Model):
    branch_id: EntityId
    name: str = Field(min_length=1)
    phone_numbers: list[PhoneNumber] = Field(default_factory=list)


class OpeningHours(_Model):
    """When the business is open: per weekday (0 = Monday … 6 = Sunday) its local (open, close) times.

    A weekday that is missing or has no intervals is closed. JSON: ``{"weekly": {"0": [["09:00",
    "18:00"]], …}}``. Used to read a caller's bare "um 8" as 8:00 or 20:00 (domain/when.py).
    """

    weekly: dict[int, list[tuple[time, time]]] = Field(default_factory=dict)

    @field_validator("weekly")
    @classmethod
    def _valid_days(cls, weekly: dict[int, list[tuple[time, time]]]) -> dict[int, list[tuple[time, time]]]:
        checked: dict[int, list[tuple[time, time]]] = {}
        for weekday, intervals in sorted(weekly.items()):
            if not 0 <= weekday <= 6:
                raise ValueError(f"weekday must be 0 (Monday) to 6 (Sunday), got {weekday}")
            ordered = sorted(intervals)
            for opens, closes in ordered:
                if opens.tzinfo or closes.tzinfo:
                    raise ValueError(f"weekday {weekday}: opening hours are local times, without an offset")
                if closes <= opens:
                    raise ValueError(f"weekday {weekday}: closes at {closes} before it opens at {opens}")
            for (_, earlier_close), (later_open, _) in pairwise(ordered):
                if later_open < earlier_close:
                    raise ValueError(f"weekday {weekday}: opening intervals overlap")
            checked[weekday] = ordered
        return checked

    def intervals(self, weekday: int) -> list[tuple[time, time]]:
        return self.weekly.get(weekday, [])

    def is_open(self, weekday: int, at: time) -> bool:
        """Open at `at` (from opening time up to, not including, closing time)."""
        return any(opens <= at < closes for opens, closes in self.intervals(weekday))


class Company(_Model):
    company_id: EntityId
    name: str = Field(min_length=1)
    timezone: TimeZoneName
    language: Language = "de"
    calcom_team_id: int | None = None
    branches: list[Branch] = Field(min_length=1)
    # Host resolution links a Cal.com host automatically at or above this confidence.
    host_match_threshold: int = Field(default=75, ge=0, le=100)
    # How far ahead callers may book.
    booking_window_days: int = Field(default=60, ge=1, le=730)
    # How soon a caller may book: minutes from now to the earliest start. Set on every booking
    # event type as Cal.com's minimumBookingNotice (whose API default is 120) and honoured by the
    # availability search too.
    minimum_notice_minutes: int = Field(default=120, ge=0, le=10080)
    # Opening hours; None: callers' bare hours are read against a default day (domain/when.py).
    opening_hours: OpeningHours | None = None
    # The nightly team sync repairs drifted segment event types in Cal.com (else only records them).
    sync_repair_drift: bool = False

    def branch(self, branch_id: str) -> Branch | None:
        return next((b for b in self.branches if b.branch_id == branch_id), None)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


class PhoneRoute(_Model):
    """A dialled number and the company/branch it answers for."""

    phone_number: PhoneNumber
    company_id: EntityId
    branch_id: EntityId


class StaffMember(_Model):
    company_id: EntityId
    staff_id: EntityId
    name: str = Field(min_length=1)
    email: str | None = None
    other_emails: list[str] = Field(default_factory=list)
    calcom_user_id: int | None = None
    calcom_username: str | None = None
    active: bool = True


class PausePolicy(StrEnum):
    """What happens to the staff member during a composite service's gaps (docs/pause-policies.md)."""

    FREE = "free"
    BLOCKED = "blocked"
    FLEXIBLE = "flexible"
    NEVER = "never"


class Segment(_Model):
    key: str = Field(pattern=r"^[A-Z][A-Z0-9]{0,7}$")
    name: str = Field(min_length=1)
    duration: int = Field(gt=0, description="minutes of work")
    gap_after: int = Field(default=0, ge=0, description="minutes of waiting after this segment")


class Service(_Model):
    company_id: EntityId
    service_id: EntityId
    name: str = Field(min_length=1)
    description: str = ""
    duration: int = Field(gt=0, description="total minutes, gaps included")
    price_cents: int | None = Field(default=None, ge=0)
    currency: str = "EUR"
    composite: bool = False
    segments: list[Segment] = Field(default_factory=list)
    pause_policy: PausePolicy = PausePolicy.FREE
    max_gap_stretch: int = Field(
        default=0, ge=0, description="flexible policy only: minutes each gap may grow to find a fit"
    )
    calcom_event_type_id: int | None = None
    staff_ids: list[EntityId] = Field(default_factory=list, description="who performs the service")
    active: bool = True

    @model_validator(mode="after")
    def _stretch_only_when_flexible(self) -> Service:
        if self.max_gap_stretch and self.pause_policy is not PausePolicy.FLEXIBLE:
            raise ValueError(
                f"service {self.service_id}: max_gap_stretch applies only to the flexible pause policy, "
                f"not {self.pause_policy.value!r}"
            )
        return self

    @model_validator(mode="after")
    def _segments_consistent(self) -> Service:
        if not self.composite:
            if self.segments:
                raise ValueError(f"service {self.service_id}: segments given but composite is false")
            return self
        if not self.segments:
            raise ValueError(f"service {self.service_id}: a composite service needs at least one segment")
        keys = [s.key for s in self.segments]
        if len(set(keys)) != len(keys):
            raise ValueError(f"service {self.service_id}: segment keys must be unique, got {keys}")
        if self.segments[-1].gap_after:
            raise ValueError(f"service {self.service_id}: the last segment cannot have a gap after it")
        total = sum(s.duration + s.gap_after for s in self.segments)
        if total != self.duration:
            raise ValueError(
                f"service {self.service_id}: duration {self.duration} min does not match "
                f"its segments and gaps ({total} min)"
            )
        return self

    @property
    def gap_minutes(self) -> int:
        return sum(s.gap_after for s in self.segments)


# E.164 country codes of one or two digits (ITU-T E.164 assignments); every other code has three.
_ONE_DIGIT_CODES = frozenset({"1", "7"})
_TWO_DIGIT_CODES = frozenset(
    {"20", "27", "30", "31", "32", "33", "34", "36", "39", "40", "41", "43", "44", "45", "46", "47"}
    | {"48", "49", "51", "52", "53", "54", "55", "56", "57", "58", "60", "61", "62", "63", "64", "65"}
    | {"66", "81", "82", "84", "86", "90", "91", "92", "93", "94", "95", "98"}
)


def country_code(e164: str) -> str:
    """The country calling code of an E.164 number: '+4930123456' -> '49'."""
    digits = e164.lstrip("+")
    if digits[:1] in _ONE_DIGIT_CODES:
        return digits[:1]
    return digits[:2] if digits[:2] in _TWO_DIGIT_CODES else digits[:3]


def phone_in_country(value: str, home: str) -> str:
    """A number as a caller says it, in E.164: international forms as they are, a national one
    (trunk prefix 0: '0151 1234567') in the country of `home` (an E.164 number, e.g. the salon's).
    ValueError when it is neither."""
    try:
        return normalize_phone(value)
    except ValueError:
        compact = re.sub(r"[\s()./-]", "", value)
        if not (compact.startswith("0") and compact[1:].isdigit()):
            raise
        return normalize_phone(f"+{country_code(normalize_phone(home))}{compact[1:]}")
