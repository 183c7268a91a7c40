"""Tenant-scoped domain models. Pure: no I/O, validated with pydantic."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

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
