"""Tenant-scoped domain models. Pure: no I/O, validated with pydantic."""

from __future__ import annotations

import re
from datetime import time
from enum import StrEnum
from itertools import pairwise
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

_ID = r"^[A-Za-z0-9_-]{1,64}$"

# What a typed or transcribed phone number may hold: digits, the separators people write, one
# leading '+'. Letters are refused (libphonenumber would read them as a keypad word: '…abc' -> '…222').
_PHONE_TEXT = re.compile(r"\+?[0-9\s()./-]{1,40}")
# Without the value: it is a person's number, and error messages reach logs and error bodies.
_NOT_A_NUMBER = "not a valid E.164 phone number"


def _phone_number(value: str, region: str | None) -> str:
    """`value` in E.164, read in `region` (ISO 3166 code) when it is a national number.

    Accepted: a number libphonenumber calls *valid* (`is_valid_number`: its length and range are
    assigned in that country), not merely *possible* (length only): Cal.com checks an attendee's
    number with libphonenumber-js/max `isValidPhoneNumber` (docs/reference/calcom-contract/README.md,
    note 4), so a number only possible would fail the booking there instead of being asked again
    here. A leading '00' is also read as the international prefix (ITU-T E.164's recommended one)
    when the region's own reading fails ('0049…' for a salon in the US, whose prefix is 011).
    """
    import phonenumbers  # here, not at the top: ~25 ms every Lambda would pay at cold start

    text = value.strip() if isinstance(value, str) else ""
    if not _PHONE_TEXT.fullmatch(text):
        raise ValueError(_NOT_A_NUMBER)
    readings = [(text, region)] + ([("+" + text[2:], None)] if text.startswith("00") else [])
    for candidate, in_region in readings:
        try:
            number = phonenumbers.parse(candidate, in_region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(number):
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    raise ValueError(_NOT_A_NUMBER)


def normalize_phone(value: str) -> str:
    """An international number (leading '+' or '00') in E.164, through libphonenumber:
    '+49 30 1234-567' -> '+49301234567', '+49 (0)30 1234567' -> '+49301234567' (the bracketed
    trunk prefix dropped). ValueError for a national number (no country to read it in: see
    `phone_in_country`) and for what is not a valid number (`_phone_number`)."""
    return _phone_number(value, None)


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


MAX_PHONE_NUMBERS = 25


class Company(_Model):
    company_id: EntityId
    name: str = Field(min_length=1)
    timezone: TimeZoneName
    language: Language = "de"
    # ISO 3166-1 alpha-2: where a caller's national number ("0151 …") is read (services/tools.py);
    # None: in the country of the dialled number.
    country: str | None = Field(default=None, pattern=r"^[A-Z]{2}$")
    calcom_team_id: int | None = Field(default=None, gt=0)
    branches: list[Branch] = Field(min_length=1, max_length=50)
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
    # The Retell agents that answer for this company. A call that skipped /retell/inbound (a
    # dashboard test call, a web call) is routed by its agent id (docs/adr/0015-tenant-of-a-call.md);
    # an agent serves at most one company. At most 20: they are written in one transaction.
    retell_agent_ids: list[Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,128}$")]] = Field(
        default_factory=list, max_length=20
    )

    # False: the company is switched off. Its numbers and agents stay routed to it, but every call
    # gets the "no salon" answer; nothing of it is deleted (docs/admin-api.md, companies).
    active: bool = True
    # Retention (docs/adr/0028-retention-and-erasure.md): a call record expires this many days after
    # the call, an appointment this many days after it ends (DynamoDB TTL).
    call_retention_days: int = Field(default=90, ge=1, le=3650)
    appointment_retention_days: int = Field(default=365, ge=1, le=3650)
    # Confirmations (docs/adr/0029-confirmations.md): an SMS with time and code to the caller's
    # number besides the e-mail, where the company enables it.
    sms_confirmations: bool = False
    # Whose Cal.com API key its calls use (docs/adr/0030-calcom-credential-per-company.md): the
    # platform's, or its own in Secrets Manager (<CALCOM_COMPANY_KEY_PREFIX><company_id>).
    calcom_credential: Literal["platform", "own"] = "platform"

    @field_validator("retell_agent_ids")
    @classmethod
    def _distinct_agents(cls, agent_ids: list[str]) -> list[str]:
        if len(set(agent_ids)) != len(agent_ids):
            raise ValueError("an agent id is listed twice")
        return agent_ids

    @field_validator("branches")
    @classmethod
    def _distinct_branches(cls, branches: list[Branch]) -> list[Branch]:
        ids = [b.branch_id for b in branches]
        if len(set(ids)) != len(ids):
            raise ValueError("a branch id is listed twice")
        numbers = [n for b in branches for n in b.phone_numbers]
        if len(set(numbers)) != len(numbers):
            raise ValueError("a phone number is listed twice")
        if len(numbers) > MAX_PHONE_NUMBERS:
            # The company, its routes and the routes it gives up are one DynamoDB transaction
            # (at most 100 items): 1 + 2 × 25 numbers + 2 × 20 agent ids stays within it.
            raise ValueError(f"at most {MAX_PHONE_NUMBERS} phone numbers per company")
        return branches

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
    currency: Literal["EUR", "GBP", "CHF", "USD"] = "EUR"  # ISO 4217; the agent says it (phrasing.py)
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


def phone_in_country(value: str, home: str | None, country: str | None = None) -> str:
    """A number as a caller says it, in E.164: an international one as `normalize_phone` reads
    it ('+43 1 2345678' stays Austrian), a national one ('030 1234567', '0151 1234 5678') in
    `country` (ISO 3166, the company's) or else in the country of `home` (an E.164 number, e.g.
    the salon's: libphonenumber's region of that number). Without either (None, a SIP address)
    only international numbers are read. ValueError when `value` is no valid number there."""
    import phonenumbers  # lazily, as in _phone_number

    region = country
    if region is None:
        try:
            home_number = normalize_phone(home or "")
        except ValueError:
            region = None
        else:
            region = phonenumbers.region_code_for_number(phonenumbers.parse(home_number))
    return _phone_number(value, region)
