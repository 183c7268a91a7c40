"""Segment event types and the event map (pure).

Every segment of a composite service is booked in Cal.com as its own hidden round-robin team
event type ("<service> - <segment>", length = the segment's duration, hosts = the Cal.com users of
the staff who perform the service). The event map records, per company, service and segment key,
which event type that is and whether it is in step with the segment (`SyncStatus`).

The slug is deterministic, so provisioning finds its own event type again by slug before it
creates one (idempotent, and safe when two runs race: Cal.com refuses a second slug in a team).
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

SLUG_PREFIX = "cb"
SLUG_MAX_LENGTH = 100
TITLE_SEPARATOR = " - "


class SyncStatus(StrEnum):
    """Where a segment's event type stands."""

    SYNCED = "synced"  # the Cal.com event type matches the segment
    DRIFTED = "drifted"  # it differs from the segment (seen by a check that does not repair)
    FAILED = "failed"  # provisioning could not make it match (Cal.com error, no hosts): see detail
    PENDING = "pending"  # no event type yet (seen by a check that does not create)
    REMOVED = "removed"  # the segment left the service; its event type is kept, hidden (see docs)


def slugify(value: str) -> str:
    """Cal.com's slug rule for ASCII: lower case, every other character run becomes one '-'."""
    slug = re.sub(r"[^a-z0-9]+", "-", value.strip().lower())
    return slug.strip("-")


def segment_slug(service_id: str, segment_key: str) -> str:
    """`cb-<service_id>-<segment key>`, as Cal.com stores it (slugified, at most 100 characters).

    A service id that slugifying would change (upper case, underscores) gets a short hash of the
    original, so two ids that differ only there ("Cut_1", "cut-1") never share a slug.
    """
    base = slugify(service_id)
    if base != service_id:
        base = f"{base}-{hashlib.sha256(service_id.encode()).hexdigest()[:8]}".strip("-")
    slug = f"{SLUG_PREFIX}-{base}-{slugify(segment_key)}"
    if len(slug) > SLUG_MAX_LENGTH:  # not reachable with 64-character ids and 8-character keys
        digest = hashlib.sha256(slug.encode()).hexdigest()[:12]
        slug = f"{slug[: SLUG_MAX_LENGTH - len(digest) - 1].rstrip('-')}-{digest}"
    return slug


def segment_title(service_name: str, segment_name: str) -> str:
    return f"{service_name}{TITLE_SEPARATOR}{segment_name}"


#: `slotInterval` of the event types of a `blocked` service (segments and gaps): its holds follow
#: each other without a hole, so each must be offered at any 5-minute start, not only on the grid
#: of its own length from the start of the working hours (docs/pause-policies.md).
BLOCKED_SLOT_INTERVAL = 5
GAP_TITLE_WORD = "Pause nach"


def gap_key(segment_key: str) -> str:
    """The event map's segment key (and the plan's hold key) of the gap after `segment_key`."""
    return f"gap-{segment_key}"


def gap_title(service_name: str, segment_name: str) -> str:
    """ "<service> - Pause nach <segment>": the gap event type of a `blocked` service."""
    return f"{service_name}{TITLE_SEPARATOR}{GAP_TITLE_WORD} {segment_name}"


def map_key(service_id: str, segment_key: str) -> str:
    """The event map's sort key."""
    return f"{service_id}#{segment_key}"


class EventTypeShape(BaseModel):
    """What calbridge cares about in a segment event type: wanted (from the segment) or found."""

    model_config = ConfigDict(frozen=True)

    title: str
    slug: str
    length: int | None
    hidden: bool = True
    round_robin: bool = True
    all_members: bool = False  # Cal.com's assignAllTeamMembers
    host_user_ids: tuple[int, ...] = ()
    #: Cal.com `slotInterval` (minutes between offered starts). Wanted None: not managed.
    slot_interval: int | None = None

    def differences(self, found: EventTypeShape) -> list[str]:
        """What `found` must change to become this shape, one readable item per field."""
        changes = []
        for name, label in (("title", "title"), ("slug", "slug"), ("length", "length"), ("hidden", "hidden")):
            want, have = getattr(self, name), getattr(found, name)
            if want != have:
                changes.append(f"{label} {have!r} -> {want!r}")
        if self.slot_interval is not None and found.slot_interval != self.slot_interval:
            changes.append(f"slot interval {found.slot_interval!r} -> {self.slot_interval!r}")
        if not found.round_robin:
            changes.append("scheduling type -> round robin")
        if found.all_members or set(found.host_user_ids) != set(self.host_user_ids):
            have_hosts = "all team members" if found.all_members else sorted(found.host_user_ids)
            changes.append(f"hosts {have_hosts} -> {sorted(self.host_user_ids)}")
        return changes


class EventMapEntry(BaseModel):
    """One segment of one service -> its Cal.com event type, and whether the two agree."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    company_id: str
    service_id: str
    segment_key: str
    event_type_id: int | None = None
    slug: str
    title: str
    length: int = Field(gt=0)
    host_user_ids: list[int] = Field(default_factory=list)
    sync_status: SyncStatus
    detail: str = ""
    updated_at: datetime

    @property
    def key(self) -> str:
        return map_key(self.service_id, self.segment_key)

    def same_as(self, other: EventMapEntry | None) -> bool:
        """Equal but for `updated_at`: rewriting it would change nothing."""
        return other is not None and self.model_dump(exclude={"updated_at"}) == other.model_dump(
            exclude={"updated_at"}
        )
