"""Cal.com hosts and how they are matched to local staff (pure: no I/O).

Strategies by priority (DESIGN.md "Host resolution", seeds phase2 roadmap): manual (200), e-mail
(100, confidence 95), Cal.com username (90, confidence 90), exact name (50, confidence 75), fuzzy
name (25, confidence below 75). The service layer handles existing mappings and persistence; this
module only decides.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from calbridge.domain.models import StaffMember

DEFAULT_THRESHOLD = 75


class MappingSource(StrEnum):
    AUTO_EMAIL = "auto_email"
    AUTO_USERNAME = "auto_username"
    AUTO_NAME = "auto_name"
    AUTO_FUZZY = "auto_fuzzy"
    MANUAL = "manual"
    ADMIN = "admin"


class InvalidHost(ValueError):
    """Host data that cannot identify anybody (no usable id, e-mail, username or name)."""


class HostRef(BaseModel):
    """A Cal.com host as a booking, webhook or membership describes it."""

    model_config = ConfigDict(frozen=True)

    id: int | None = None  # None when Cal.com sends "unknown" or no id
    email: str | None = None  # normalised: stripped, lower-case
    name: str | None = None
    username: str | None = None
    time_zone: str | None = None

    @classmethod
    def from_calcom(cls, data: Mapping[str, Any]) -> HostRef:
        """Lenient parse of `{id, email, name, username, timeZone}` (also `userId`, `displayEmail`).

        Raises InvalidHost for a non-numeric id other than "unknown", or when nothing usable is left.
        """
        raise NotImplementedError  # implemented below by the matching module's author

    @property
    def label(self) -> str:
        """How logs and audits name the host without exposing the e-mail."""
        return f"host {self.id}" if self.id is not None else f"host {self.username or self.name or '?'}"


class ManualRule(BaseModel):
    """An admin's rule: this Cal.com host id, e-mail or username is this staff member."""

    model_config = ConfigDict(frozen=True)

    match_on: Literal["host_id", "email", "username"]
    value: str
    staff_id: str


class Match(BaseModel):
    """One strategy's opinion, explaining itself."""

    model_config = ConfigDict(frozen=True)

    staff_id: str
    source: MappingSource
    priority: int
    confidence: int = Field(ge=0, le=100)
    reason: str


class Outcome(StrEnum):
    LINK = "link"  # auto-link: best match at/above the threshold and unambiguous
    REVIEW = "review"  # candidates exist but none may be linked automatically
    UNMATCHED = "unmatched"  # nobody plausible


class MatchDecision(BaseModel):
    model_config = ConfigDict(frozen=True)

    outcome: Outcome
    best: Match | None = None
    candidates: tuple[Match, ...] = ()  # best first, one per staff member
    reason: str


def decide(
    host: HostRef,
    staff: Sequence[StaffMember],
    manual_rules: Sequence[ManualRule] = (),
    threshold: int = DEFAULT_THRESHOLD,
) -> MatchDecision:
    """Run every strategy against the company's active staff and decide."""
    raise NotImplementedError


class HostExtraction(BaseModel):
    model_config = ConfigDict(frozen=True)

    hosts: tuple[HostRef, ...] = ()  # the organizer first
    warnings: tuple[str, ...] = ()


def extract_hosts(booking: Mapping[str, Any], team_member_emails: Collection[str] = ()) -> HostExtraction:
    """The hosts of a Cal.com booking (REST or webhook payload), organizer first."""
    raise NotImplementedError
