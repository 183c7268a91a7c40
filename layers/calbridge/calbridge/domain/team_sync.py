"""The nightly team sync's decisions for one company (issue 6). Pure: no I/O.

services/team_sync.py reads Cal.com's team (memberships, team event types) and what calbridge
stored, asks these functions what to change, and writes only that:

- `plan_members`: the team members to record (new, changed, deactivated) and who left the team.
  Memberships without an e-mail and duplicate entries are skipped with a reason; a member who is
  no longer listed is deactivated, never deleted. An empty listing deactivates nobody (a team
  always has its owner: an empty answer is a fault, not a team without members).
- `plan_staff_links`: which staff members get (or lose) their Cal.com user id and username, given
  the host resolution of every member.
- `plan_event_types`: the team event types to record with their hosts, and the services they
  become (created, updated, deactivated: found by event type id, never duplicated). Our own
  segment event types (slug `cb-…`, domain/event_types.py) are not imported; the provisioner
  checks them for drift.

Every plan compares with what is stored and lists only real changes, so a second run over an
unchanged team writes nothing.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from calbridge.domain.event_types import SLUG_PREFIX
from calbridge.domain.hosts import HostRef, normalize_email
from calbridge.domain.models import Service, StaffMember
from calbridge.domain.sync import SkippedItem

SYNC_ACTOR = "calbridge:team-sync"
IMPORTED_SERVICE_PREFIX = "calcom-"  # services created from a team event type: calcom-<event type id>

_TIMESTAMPS = {"first_seen_at", "updated_at", "deactivated_at"}


MEMBER_PREFIX, EVENT_TYPE_PREFIX = "member#", "event_type#"  # TeamMembersTable sort key prefixes


def member_key(user_id: int) -> str:
    return f"{MEMBER_PREFIX}{user_id}"


def event_type_key(event_type_id: int) -> str:
    return f"{EVENT_TYPE_PREFIX}{event_type_id}"


def is_booking_event_type(slug: str) -> bool:
    """A hidden booking event type calbridge provisions itself (`cb-<service>-<hold>-u<user>`, or
    `cb-<service>-<hold>` from before ADR 0013)."""
    return slug.startswith(f"{SLUG_PREFIX}-")


def _text(value: object) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


# ------------------------------------------------------------------ members


class CalcomMember(BaseModel):
    """One membership as Cal.com lists it (the service maps the client's model to this)."""

    model_config = ConfigDict(frozen=True)

    user_id: int
    membership_id: int | None = None
    email: str | None = None  # normalised: stripped, lower case; None when missing or no e-mail
    name: str | None = None
    username: str | None = None
    role: str | None = None  # OWNER | ADMIN | MEMBER
    accepted: bool = False

    @field_validator("email", mode="before")
    @classmethod
    def _email(cls, value: object) -> str | None:
        return normalize_email(value)

    @field_validator("name", "username", mode="before")
    @classmethod
    def _strip(cls, value: object) -> str | None:
        return _text(value)

    @field_validator("role", mode="before")
    @classmethod
    def _role(cls, value: object) -> str | None:
        text = _text(value)
        return text.upper() if text else None


class TeamMember(BaseModel):
    """A Cal.com team member as calbridge last saw it (TeamMembersTable, `member#<user id>`)."""

    model_config = ConfigDict(frozen=True)

    company_id: str
    user_id: int
    membership_id: int | None = None
    email: str | None = None
    name: str | None = None
    username: str | None = None
    role: str | None = None
    accepted: bool = False
    is_active: bool = True  # False once the member left the team (never deleted)
    first_seen_at: datetime
    updated_at: datetime
    deactivated_at: datetime | None = None

    @property
    def key(self) -> str:
        return member_key(self.user_id)

    @property
    def host(self) -> HostRef:
        """The member as a Cal.com host, for host resolution."""
        return HostRef(id=self.user_id, email=self.email, name=self.name, username=self.username)

    def same_as(self, other: TeamMember | None) -> bool:
        """Equal but for timestamps: rewriting it would change nothing."""
        return other is not None and self.model_dump(exclude=_TIMESTAMPS) == other.model_dump(
            exclude=_TIMESTAMPS
        )


class MemberPlan(BaseModel):
    model_config = ConfigDict(frozen=True)

    members: tuple[TeamMember, ...] = ()  # every usable listed member, as it will be stored
    new: tuple[TeamMember, ...] = ()
    changed: tuple[TeamMember, ...] = ()  # incl. members who came back
    deactivated: tuple[TeamMember, ...] = ()
    departed_user_ids: tuple[int, ...] = ()  # deactivated members and mapped hosts no longer listed
    skipped: tuple[SkippedItem, ...] = ()

    @property
    def writes(self) -> list[TeamMember]:
        return [*self.new, *self.changed, *self.deactivated]

    @property
    def linkable(self) -> list[TeamMember]:
        """Members host resolution should link: accepted ones (a pending invitee cannot host yet)."""
        return [member for member in self.members if member.accepted]


def plan_members(
    company_id: str,
    listed: Sequence[CalcomMember],
    stored: Mapping[int, TeamMember],
    mapped_host_ids: Collection[int],
    now: datetime,
) -> MemberPlan:
    """Compare Cal.com's memberships with the stored members (by user id).

    `mapped_host_ids`: hosts with an active host mapping; one that is no longer a member has left
    the team too (its mapping predates the sync, or an earlier run stopped before recording it).
    """
    skipped: list[SkippedItem] = []
    listed_ids = {entry.user_id for entry in listed}
    first_by_id: dict[int, CalcomMember] = {}
    user_by_email: dict[str, int] = {}
    members: list[TeamMember] = []
    new: list[TeamMember] = []
    changed: list[TeamMember] = []
    for entry in listed:
        ref = f"Cal.com user {entry.user_id}"
        if entry.user_id in first_by_id:
            skipped.append(
                SkippedItem(
                    kind="member",
                    ref=ref,
                    reason=f"listed twice by Cal.com (memberships {first_by_id[entry.user_id].membership_id} "
                    f"and {entry.membership_id}): the first entry is used",
                )
            )
            continue
        first_by_id[entry.user_id] = entry
        if entry.email is None:
            skipped.append(
                SkippedItem(kind="member", ref=ref, reason="no e-mail address in Cal.com: not synced")
            )
            continue
        if entry.email in user_by_email:
            skipped.append(
                SkippedItem(
                    kind="member",
                    ref=ref,
                    reason=f"same e-mail address as Cal.com user {user_by_email[entry.email]}: "
                    "only that user is synced",
                )
            )
            continue
        user_by_email[entry.email] = entry.user_id
        before = stored.get(entry.user_id)
        member = TeamMember(
            company_id=company_id,
            user_id=entry.user_id,
            membership_id=entry.membership_id,
            email=entry.email,
            name=entry.name,
            username=entry.username,
            role=entry.role,
            accepted=entry.accepted,
            first_seen_at=before.first_seen_at if before else now,
            updated_at=now,
        )
        if before is None:
            new.append(member)
        elif not member.same_as(before):
            changed.append(member)
        else:
            member = before
        members.append(member)

    deactivated: list[TeamMember] = []
    departed: set[int] = set()
    if not listed:
        if any(m.is_active for m in stored.values()) or mapped_host_ids:
            skipped.append(
                SkippedItem(
                    kind="team",
                    ref=company_id,
                    reason="Cal.com listed no members at all (a team always has its owner): "
                    "nobody was deactivated",
                )
            )
    else:
        for user_id, member in sorted(stored.items()):
            if user_id in listed_ids or not member.is_active:
                continue
            deactivated.append(
                member.model_copy(update={"is_active": False, "updated_at": now, "deactivated_at": now})
            )
        departed = {m.user_id for m in deactivated} | (set(mapped_host_ids) - listed_ids)
    return MemberPlan(
        members=tuple(members),
        new=tuple(new),
        changed=tuple(changed),
        deactivated=tuple(deactivated),
        departed_user_ids=tuple(sorted(departed)),
        skipped=tuple(skipped),
    )


# ------------------------------------------------------------------ staff links


class StaffLinkPlan(BaseModel):
    model_config = ConfigDict(frozen=True)

    updates: tuple[StaffMember, ...] = ()  # staff whose calcom_user_id / calcom_username change
    linked: tuple[str, ...] = ()  # staff ids that got a (new) Cal.com user id
    unlinked: tuple[str, ...] = ()  # staff ids whose Cal.com user id was cleared
    skipped: tuple[SkippedItem, ...] = ()


def plan_staff_links(
    staff: Sequence[StaffMember],
    links: Mapping[int, str],
    usernames: Mapping[int, str | None],
    departed: Collection[int],
) -> StaffLinkPlan:
    """Each active staff member's Cal.com user id after the sync.

    `links`: Cal.com user id -> the staff member host resolution linked it to (this run's members);
    `usernames`: the members' Cal.com usernames; `departed`: user ids that left the team.
    A staff member linked by exactly one member gets that user id (and username). When several
    members are linked to one staff member, the current id stays if it is one of them, otherwise
    nothing is set and the conflict is reported. A user id that left the team, or that is now
    linked to another staff member, is cleared.
    """
    users_of: dict[str, list[int]] = {}
    for user_id, staff_id in links.items():
        users_of.setdefault(staff_id, []).append(user_id)
    departed_ids = set(departed)
    updates: list[StaffMember] = []
    linked: list[str] = []
    unlinked: list[str] = []
    skipped: list[SkippedItem] = []
    for member in staff:
        if not member.active:
            continue
        current = member.calcom_user_id
        users = sorted(users_of.get(member.staff_id, []))
        wanted: int | None = current
        if len(users) == 1:
            wanted = users[0]
        elif len(users) > 1 and current not in users:
            skipped.append(
                SkippedItem(
                    kind="staff_link",
                    ref=member.staff_id,
                    reason=f"Cal.com users {', '.join(map(str, users))} are all linked to this staff "
                    "member: calcom_user_id not set (fix the host mappings)",
                )
            )
            wanted = None if current in departed_ids or current in links else current
        elif not users and current is not None and (current in departed_ids or current in links):
            wanted = None
        username = usernames.get(wanted) if wanted is not None else None
        if wanted is not None and wanted == current and wanted not in usernames:
            username = member.calcom_username  # not listed this run (e.g. skipped): keep what we know
        if (wanted, username) == (current, member.calcom_username):
            continue
        updates.append(member.model_copy(update={"calcom_user_id": wanted, "calcom_username": username}))
        if wanted is None:
            unlinked.append(member.staff_id)
        elif wanted != current:
            linked.append(member.staff_id)
    return StaffLinkPlan(
        updates=tuple(updates), linked=tuple(linked), unlinked=tuple(unlinked), skipped=tuple(skipped)
    )


# ------------------------------------------------------------------ team event types


class EventTypeHost(BaseModel):
    model_config = ConfigDict(frozen=True)

    user_id: int
    name: str | None = None
    username: str | None = None
    email: str | None = None  # from the team member (event type hosts carry no e-mail)


class CalcomEventType(BaseModel):
    """One team event type as Cal.com lists it (the service maps the client's model to this)."""

    model_config = ConfigDict(frozen=True)

    id: int
    title: str = ""
    slug: str = ""
    length: int | None = None
    hidden: bool = False
    scheduling_type: str | None = None
    hosts: tuple[EventTypeHost, ...] = ()


class TeamEventTypeMapping(BaseModel):
    """A team event type with its hosts, and the service it became (TeamMembersTable, `event_type#<id>`)."""

    model_config = ConfigDict(frozen=True)

    company_id: str
    event_type_id: int
    title: str
    slug: str
    length: int | None = None
    hidden: bool = False
    scheduling_type: str | None = None
    hosts: tuple[EventTypeHost, ...] = ()
    service_id: str | None = None
    is_active: bool = True  # False once the event type is gone from Cal.com
    updated_at: datetime

    @property
    def key(self) -> str:
        return event_type_key(self.event_type_id)

    def same_as(self, other: TeamEventTypeMapping | None) -> bool:
        return other is not None and self.model_dump(exclude={"updated_at"}) == other.model_dump(
            exclude={"updated_at"}
        )


class EventTypePlan(BaseModel):
    model_config = ConfigDict(frozen=True)

    mappings: tuple[TeamEventTypeMapping, ...] = ()  # to write: new, changed or deactivated
    created: tuple[Service, ...] = ()
    updated: tuple[Service, ...] = ()
    deactivated: tuple[Service, ...] = ()
    imported: int = 0  # team event types (not ours) now recorded with their hosts
    removed: int = 0  # recorded ones gone from Cal.com
    skipped: tuple[SkippedItem, ...] = ()

    @property
    def services(self) -> list[Service]:
        return [*self.created, *self.updated, *self.deactivated]


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    return str(error["msg"]).removeprefix("Value error, ")


def _service_for(
    company_id: str,
    et: CalcomEventType,
    owners: Sequence[Service],
    services_by_id: Mapping[str, Service],
    staff_of_user: Mapping[int, str],
) -> tuple[Service | None, str, str | None]:
    """The service event type `et` becomes: (service, "created"|"updated"|"unchanged", None) or
    (None, "", why it cannot)."""
    assert et.length is not None
    if len(owners) > 1:
        names = ", ".join(sorted(s.service_id for s in owners))
        return None, "", f"services {names} all use this event type: none of them is updated"
    if owners:
        service = owners[0]
        changes: dict[str, Any] = {}
        if service.name != et.title:
            changes["name"] = et.title
        if service.duration != et.length:
            changes["duration"] = et.length
        if not changes:
            return service, "unchanged", None
        try:
            return Service.model_validate({**service.model_dump(), **changes}), "updated", None
        except ValidationError as exc:
            return None, "", f"service {service.service_id} cannot take it over: {_first_error(exc)}"
    service_id = f"{IMPORTED_SERVICE_PREFIX}{et.id}"
    if service_id in services_by_id:
        return (
            None,
            "",
            f"service {service_id} exists but books event type "
            + str(services_by_id[service_id].calcom_event_type_id),
        )
    try:
        created = Service(
            company_id=company_id,
            service_id=service_id,
            name=et.title,
            duration=et.length,
            calcom_event_type_id=et.id,
            staff_ids=sorted({staff_of_user[h.user_id] for h in et.hosts if h.user_id in staff_of_user}),
            active=not et.hidden,  # a hidden team event type is not offered to callers
        )
    except ValidationError as exc:
        return None, "", f"not a valid service: {_first_error(exc)}"
    return created, "created", None


def plan_event_types(
    company_id: str,
    listed: Sequence[CalcomEventType],
    stored: Mapping[int, TeamEventTypeMapping],
    services: Sequence[Service],
    members: Mapping[int, TeamMember],
    staff_of_user: Mapping[int, str],
    now: datetime,
) -> EventTypePlan:
    """Team event types -> event type mappings (with hosts) and services.

    A service is found by its `calcom_event_type_id`: found, its name and duration follow the
    event type's title and length; not found, `calcom-<event type id>` is created (staff = the
    hosts' linked staff members; inactive when the event type is hidden). Event types without
    hosts or length are skipped; a recorded event type no longer listed is deactivated with its
    service.
    """
    by_event_type: dict[int, list[Service]] = {}
    for service in services:
        if service.calcom_event_type_id is not None:
            by_event_type.setdefault(service.calcom_event_type_id, []).append(service)
    services_by_id = {s.service_id: s for s in services}
    mappings: list[TeamEventTypeMapping] = []
    created: list[Service] = []
    updated: list[Service] = []
    skipped: list[SkippedItem] = []
    seen: set[int] = set()
    imported = 0
    for et in listed:
        ref = f"event type {et.id}"
        if et.id in seen:
            skipped.append(SkippedItem(kind="event_type", ref=ref, reason="listed twice by Cal.com"))
            continue
        seen.add(et.id)
        if is_booking_event_type(et.slug):
            continue
        if not et.hosts:
            skipped.append(
                SkippedItem(kind="event_type", ref=ref, reason="no hosts: nobody can be booked on it")
            )
            continue
        if et.length is None or et.length < 1:
            skipped.append(SkippedItem(kind="event_type", ref=ref, reason="no length in minutes"))
            continue
        service, outcome, problem = _service_for(
            company_id, et, by_event_type.get(et.id, []), services_by_id, staff_of_user
        )
        if problem is not None:
            skipped.append(SkippedItem(kind="service", ref=ref, reason=problem))
        elif outcome == "created":
            assert service is not None
            created.append(service)
        elif outcome == "updated":
            assert service is not None
            updated.append(service)
        hosts = tuple(
            host.model_copy(update={"email": members[host.user_id].email})
            if host.user_id in members
            else host
            for host in et.hosts
        )
        mapping = TeamEventTypeMapping(
            company_id=company_id,
            event_type_id=et.id,
            title=et.title,
            slug=et.slug,
            length=et.length,
            hidden=et.hidden,
            scheduling_type=et.scheduling_type,
            hosts=hosts,
            service_id=service.service_id if service else None,
            updated_at=now,
        )
        if not mapping.same_as(stored.get(et.id)):
            mappings.append(mapping)
        imported += 1

    deactivated: list[Service] = []
    removed = 0
    for event_type_id, mapping in sorted(stored.items()):
        if event_type_id in seen or not mapping.is_active:
            continue
        removed += 1
        mappings.append(mapping.model_copy(update={"is_active": False, "updated_at": now}))
        service = services_by_id.get(mapping.service_id or "")
        if service is not None and service.active and service.calcom_event_type_id == event_type_id:
            deactivated.append(service.model_copy(update={"active": False}))
    return EventTypePlan(
        mappings=tuple(mappings),
        created=tuple(created),
        updated=tuple(updated),
        deactivated=tuple(deactivated),
        imported=imported,
        removed=removed,
        skipped=tuple(skipped),
    )
