"""The nightly team sync's run report (issue 6). Pure: no I/O.

The per-company sync (services/team_sync.py) fills one report per company run; the fan-out
worker stores and logs it and emits one metric per counter.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class SkippedItem(BaseModel):
    """Input the sync could not use (a membership without e-mail, an event type without hosts ...)."""

    model_config = ConfigDict(frozen=True)

    kind: str
    ref: str
    reason: str


class SyncReport(BaseModel):
    company_id: str
    started_at: datetime
    finished_at: datetime | None = None
    status: Literal["ok", "partial", "failed", "skipped"] = "ok"
    members_synced: int = 0
    members_new: int = 0
    members_changed: int = 0
    members_deactivated: int = 0
    staff_linked: int = 0
    event_types_imported: int = 0
    services_created: int = 0
    services_updated: int = 0
    drift_found: int = 0
    drift_repaired: int = 0
    calcom_calls: int = 0
    skipped: list[SkippedItem] = Field(default_factory=list)
    errors: list[str] = Field(default_factory=list)
    # Added by the per-company sync (services/team_sync.py; docs/architecture.md "Team sync").
    mappings_created: int = 0  # hosts linked to staff (each with an auto_matched audit)
    mappings_updated: int = 0  # a linked member's Cal.com name, e-mail or username changed (audited)
    mappings_deactivated: int = 0  # of members gone from the team (audited)
    review_candidates: int = 0  # accepted members no staff member could be linked to (admin review)
    staff_unlinked: int = 0  # staff whose Cal.com user left the team or is linked elsewhere
    event_types_removed: int = 0  # imported team event types gone from Cal.com
    services_deactivated: int = 0  # services whose event type is gone
    throttled: int = 0  # Cal.com 429 answers waited out
    # Booking event types created (a new service, a newly linked staff member) or changed with
    # their service (a rename, a new length): calbridge's own changes, not drift.
    event_types_provisioned: int = 0
    drift: list[str] = Field(default_factory=list)  # "177#A (fabian): drifted length 45 -> 30", one each
    not_done: list[str] = Field(default_factory=list)  # what a partial run left for the next one
