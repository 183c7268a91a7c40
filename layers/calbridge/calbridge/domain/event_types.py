"""Booking event types and the event map (pure).

Every hold a plan of a service can book (docs/pause-policies.md: a simple service's one hold, a
composite's segments, a `blocked` service's gaps, a `never` service's whole length) is booked in
Cal.com on a hidden team event type of its own PER STAFF MEMBER: schedulingType collective with
that staff member's Cal.com user as the only host. So the event type's slots are that person's
free times and every booking of it is theirs, with nothing but documented properties
(docs/adr/0013-one-event-type-per-staff-member.md). The event map records, per company, service,
hold key and Cal.com user, which event type that is and whether it is in step (`SyncStatus`).

Slugs are deterministic (`cb-<service>-<hold>-u<user>`), so provisioning finds its own event type
again by slug before it creates one: idempotent, and safe when two runs race (Cal.com refuses a
second slug in a team). Entries without a user are the shared round-robin event types of before
ADR 0013; provisioning retires them.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from calbridge.domain.models import PausePolicy, Service
from calbridge.domain.planning import SIMPLE_SEGMENT_KEY, WHOLE_KEY, Hold, gap_key
from calbridge.errors import EventTypeMissing

SLUG_PREFIX = "cb"
SLUG_MAX_LENGTH = 100
TITLE_SEPARATOR = " - "


class SyncStatus(StrEnum):
    """Where an event type stands."""

    SYNCED = "synced"  # the Cal.com event type matches the hold
    DRIFTED = "drifted"  # it differs from the hold (seen by a check that does not repair)
    FAILED = "failed"  # provisioning could not make it match (Cal.com error): see detail
    PENDING = "pending"  # no event type yet (seen by a check that does not create)
    REMOVED = "removed"  # the hold or staff member left the service; its event type is kept, hidden


#: Statuses whose event type books: SYNCED, and DRIFTED (it exists; a check found a difference).
BOOKABLE_STATUSES = frozenset({SyncStatus.SYNCED, SyncStatus.DRIFTED})


def slugify(value: str) -> str:
    """Cal.com's slug rule for ASCII: lower case, every other character run becomes one '-'."""
    slug = re.sub(r"[^a-z0-9]+", "-", value.strip().lower())
    return slug.strip("-")


def segment_slug(service_id: str, hold_key: str, host_user_id: int | None = None) -> str:
    """`cb-<service_id>-<hold key>-u<user>`, as Cal.com stores it (slugified, at most 100 characters);
    without a user, the slug of a shared event type of before ADR 0013.

    A service id that slugifying would change (upper case, underscores) gets a short hash of the
    original, so two ids that differ only there ("Cut_1", "cut-1") never share a slug.
    """
    base = slugify(service_id)
    if base != service_id:
        base = f"{base}-{hashlib.sha256(service_id.encode()).hexdigest()[:8]}".strip("-")
    slug = f"{SLUG_PREFIX}-{base}-{slugify(hold_key)}"
    if host_user_id is not None:
        slug = f"{slug}-u{host_user_id}"
    if len(slug) > SLUG_MAX_LENGTH:  # not reachable with 64-character ids and 8-character keys
        digest = hashlib.sha256(slug.encode()).hexdigest()[:12]
        slug = f"{slug[: SLUG_MAX_LENGTH - len(digest) - 1].rstrip('-')}-{digest}"
    return slug


#: The finest `slotInterval` calbridge asks for. Cal.com offers an event type's slots on a grid of
#: `slotInterval`, by default its own length, from the start of the working hours. A composite's
#: later holds start wherever the holds before them end (+ a gap, stretched in steps of 5 minutes
#: for `flexible`), rarely on that grid: their event types step by the greatest common divisor of
#: the service's minutes and this, so every start a plan can need is a slot
#: (docs/pause-policies.md). A `blocked` service's first hold steps so too, as it always did.
FOLLOWING_HOLD_SLOT_INTERVAL = 5
GAP_TITLE_WORD = "Pause nach"


def map_key(service_id: str, hold_key: str, host_user_id: int | None = None) -> str:
    """The event map's sort key: `<service>#<hold>#<user>` (`<service>#<hold>` before ADR 0013)."""
    key = f"{service_id}#{hold_key}"
    return key if host_user_id is None else f"{key}#{host_user_id}"


def following_slot_interval(service: Service) -> int:
    """The `slotInterval` of a composite's later holds: the greatest common divisor of every
    segment's and gap's minutes and FOLLOWING_HOLD_SLOT_INTERVAL (5, or 1 for odd minutes)."""
    minutes = [m for s in service.segments for m in (s.duration, s.gap_after) if m]
    return math.gcd(FOLLOWING_HOLD_SLOT_INTERVAL, *minutes)


class HoldTarget(BaseModel):
    """One hold a plan of the service can book, as its event types must be."""

    model_config = ConfigDict(frozen=True)

    key: str  # the plan's hold key: "A", "B", "gap-A", "whole"
    name: str  # what the hold is, for the event type's title
    minutes: int = Field(gt=0)
    slot_interval: int | None = None  # None: Cal.com's default, the event's length
    first: bool = False  # the appointment's first hold (the one whose e-mails a caller gets)

    def title(self, service: Service, staff_name: str) -> str:
        """ "<service> - <hold> (<staff member>)"; a hold that is the whole service: "<service> (<staff>)"."""
        what = service.name if self.name == service.name else f"{service.name}{TITLE_SEPARATOR}{self.name}"
        return f"{what} ({staff_name})"


def hold_targets(service: Service) -> list[HoldTarget]:
    """Every hold key a plan of `service` can book, first hold first (domain/planning.py's holds):
    a simple service's "A", a `never` service's "whole", a composite's segments, and a `blocked`
    service's gaps ("gap-<segment>"). Every hold after the first (and all of a `blocked` service's)
    steps by `following_slot_interval`; the first keeps Cal.com's grid of its own length."""
    if not service.composite or service.pause_policy is PausePolicy.NEVER:
        key = WHOLE_KEY if service.composite else SIMPLE_SEGMENT_KEY
        return [HoldTarget(key=key, name=service.name, minutes=service.duration, first=True)]
    blocked = service.pause_policy is PausePolicy.BLOCKED
    interval = following_slot_interval(service)
    targets = [
        HoldTarget(
            key=s.key,
            name=s.name,
            minutes=s.duration,
            slot_interval=interval if blocked or i > 0 else None,
            first=i == 0,
        )
        for i, s in enumerate(service.segments)
    ]
    if blocked:
        targets += [
            HoldTarget(
                key=gap_key(s.key),
                name=f"{GAP_TITLE_WORD} {s.name}",
                minutes=s.gap_after,
                slot_interval=interval,
            )
            for s in service.segments
            if s.gap_after > 0
        ]
    return targets


class EventTypeShape(BaseModel):
    """What calbridge cares about in one of its event types: wanted (from the hold) or found."""

    model_config = ConfigDict(frozen=True)

    title: str
    slug: str
    length: int | None
    hidden: bool = True
    collective: bool = True
    all_members: bool = False  # Cal.com's assignAllTeamMembers
    host_user_ids: tuple[int, ...] = ()
    #: Cal.com `slotInterval` (minutes between offered starts). Wanted None: not managed.
    slot_interval: int | None = None
    #: Cal.com `minimumBookingNotice` in minutes. Wanted None: not managed.
    minimum_notice: int | None = None

    def differences(self, found: EventTypeShape) -> list[str]:
        """What `found` must change to become this shape, one readable item per field."""
        changes = []
        for name, label in (("title", "title"), ("slug", "slug"), ("length", "length"), ("hidden", "hidden")):
            want, have = getattr(self, name), getattr(found, name)
            if want != have:
                changes.append(f"{label} {have!r} -> {want!r}")
        if self.slot_interval is not None and found.slot_interval != self.slot_interval:
            changes.append(f"slot interval {found.slot_interval!r} -> {self.slot_interval!r}")
        if self.minimum_notice is not None and found.minimum_notice != self.minimum_notice:
            changes.append(f"minimum notice {found.minimum_notice!r} -> {self.minimum_notice!r} min")
        if not found.collective:
            changes.append("scheduling type -> collective")
        if found.all_members or set(found.host_user_ids) != set(self.host_user_ids):
            have_hosts = "all team members" if found.all_members else sorted(found.host_user_ids)
            changes.append(f"hosts {have_hosts} -> {sorted(self.host_user_ids)}")
        return changes


#: The fields of an EventTypeShape an event map entry records as last written by calbridge.
WRITTEN_FIELDS = ("slug", "title", "length", "minimum_notice", "slot_interval")


class EventMapEntry(BaseModel):
    """One hold of one service for one staff member's Cal.com user -> its event type."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    company_id: str
    service_id: str
    segment_key: str  # the hold key
    host_user_id: int | None = None  # None: a shared event type of before ADR 0013 (legacy)
    staff_id: str | None = None
    event_type_id: int | None = None
    # What calbridge last wrote (drift is Cal.com differing from it, not from a new wish of ours).
    slug: str
    title: str
    length: int = Field(gt=0)
    minimum_notice: int | None = None
    slot_interval: int | None = None
    sync_status: SyncStatus
    detail: str = ""
    updated_at: datetime

    @property
    def key(self) -> str:
        return map_key(self.service_id, self.segment_key, self.host_user_id)

    @property
    def legacy(self) -> bool:
        return self.host_user_id is None

    def written(self) -> dict[str, Any]:
        """What calbridge last wrote to the event type (WRITTEN_FIELDS)."""
        return {name: getattr(self, name) for name in WRITTEN_FIELDS}

    def same_as(self, other: EventMapEntry | None) -> bool:
        """Equal but for `updated_at`: rewriting it would change nothing."""
        return other is not None and self.model_dump(exclude={"updated_at"}) == other.model_dump(
            exclude={"updated_at"}
        )


EventMapIndex = Mapping[tuple[str, int], EventMapEntry]
"""A service's event map entries by (hold key, Cal.com user id)."""


def index_event_map(entries: Iterable[EventMapEntry]) -> dict[tuple[str, int], EventMapEntry]:
    """Entries by (hold key, Cal.com user); the shared event types of before ADR 0013 are left
    out: they cannot pin a staff member."""
    return {(e.segment_key, e.host_user_id): e for e in entries if e.host_user_id is not None}


def event_type_for(hold: Hold | HoldTarget, service: Service, entries: EventMapIndex, user_id: int) -> int:
    """The event type that books `hold` for Cal.com user `user_id`, or EventTypeMissing naming why:
    no entry, an entry without an event type, one failed, pending or removed, or one whose length
    no longer is the hold's (provision the service again)."""
    where = f"hold {hold.key} of service {service.service_id} for Cal.com user {user_id}"
    entry = entries.get((hold.key, user_id))
    if entry is None or entry.event_type_id is None:
        raise EventTypeMissing(f"{where}: no event type in the event map (provision the service)")
    if entry.sync_status not in BOOKABLE_STATUSES:
        detail = f": {entry.detail}" if entry.detail else ""
        raise EventTypeMissing(f"{where}: its event type is {entry.sync_status.value}{detail}")
    if entry.length != hold.minutes:
        raise EventTypeMissing(
            f"{where}: its event type lasts {entry.length} min, the hold {hold.minutes} min "
            "(provision the service again)"
        )
    return entry.event_type_id
