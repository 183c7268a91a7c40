"""Host mappings, their audit trail and review candidates (pure models)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from calbridge.domain.hosts import HostRef, MappingSource, Match
from calbridge.domain.models import StaffMember

SYSTEM_ACTOR = "calbridge:host-resolution"


def host_key(host_id: int) -> str:
    return f"host#{host_id}"


def rule_key(match_on: str, value: str) -> str:
    return f"rule#{match_on}#{value.strip().lower()}"


def review_key(host: HostRef) -> str:
    if host.id is not None:
        return host_key(host.id)
    return f"email#{host.email}" if host.email else f"username#{(host.username or host.name or '').lower()}"


class AuditAction(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    DELETED = "deleted"  # soft: the mapping is deactivated, never removed
    AUTO_MATCHED = "auto_matched"
    MANUAL_OVERRIDE = "manual_override"


class HostMapping(BaseModel):
    """Cal.com host id -> local staff member, within one company."""

    model_config = ConfigDict(frozen=True)

    company_id: str
    host_id: int
    staff_id: str
    calcom_name: str | None = None
    calcom_email: str | None = None
    calcom_username: str | None = None
    calcom_time_zone: str | None = None
    source: MappingSource
    confidence: int = Field(ge=0, le=100)
    last_synced_at: datetime | None = None
    is_active: bool = True
    metadata: dict[str, Any] = Field(default_factory=dict)
    version: int = 1
    created_at: datetime
    updated_at: datetime

    @property
    def key(self) -> str:
        return host_key(self.host_id)

    def audit_view(self) -> dict[str, Any]:
        """The values an audit record keeps (no timestamps: the audit has its own)."""
        return self.model_dump(mode="json", exclude={"created_at", "updated_at", "company_id"})


class ManualRuleRecord(BaseModel):
    """An admin's rule by e-mail or username, applied when that host is first met."""

    model_config = ConfigDict(frozen=True)

    company_id: str
    match_on: Literal["email", "username"]
    value: str
    staff_id: str
    created_by: str
    created_at: datetime


class MappingAudit(BaseModel):
    model_config = ConfigDict(frozen=True)

    company_id: str
    mapping_key: str
    audit_id: str
    action: AuditAction
    old_values: dict[str, Any] | None = None
    new_values: dict[str, Any] | None = None
    changed_by: str
    changed_at: datetime
    reason: str


class ReviewStatus(StrEnum):
    OPEN = "open"
    RESOLVED = "resolved"


class HostReview(BaseModel):
    """A host that could not be linked automatically: candidates for an admin, or none at all."""

    model_config = ConfigDict(frozen=True)

    company_id: str
    host_key: str
    host: HostRef
    kind: Literal["review", "unmapped"]
    status: ReviewStatus = ReviewStatus.OPEN
    candidates: tuple[Match, ...] = ()
    reason: str
    seen_count: int = 1
    first_seen: datetime
    last_seen: datetime


def calcom_users_by_staff(
    staff: Iterable[StaffMember], mappings: Iterable[HostMapping]
) -> dict[str, list[int]]:
    """Each active staff member's Cal.com user ids: their own `calcom_user_id` (set by the team
    sync), else the hosts actively mapped to them. Staff with none are absent."""
    mapped: dict[str, list[int]] = {}
    for mapping in mappings:
        if mapping.is_active:
            mapped.setdefault(mapping.staff_id, []).append(mapping.host_id)
    users: dict[str, list[int]] = {}
    for member in staff:
        if not member.active:
            continue
        found = (
            [member.calcom_user_id]
            if member.calcom_user_id is not None
            else sorted(mapped.get(member.staff_id, []))
        )
        if found:
            users[member.staff_id] = found
    return users
