"""Segment event types: one hidden Cal.com team event type per segment of a composite service.

For every active composite service and each of its segments the provisioner makes sure the
company's Cal.com team has a hidden round-robin event type titled "<service> - <segment>", with
the segment's duration as its length and the Cal.com users of the staff who perform the service as
its hosts, and records it in the event map (company, service, segment key -> event type id, sync
status). Rules (docs/architecture.md "Segment event types"):

- Idempotent. The slug is deterministic (`domain.event_types.segment_slug`): the event type is
  looked up by slug (else by the id the map remembers, should someone have renamed the slug)
  before anything is created. One that exists but differs in title, slug, length, hidden, scheduling
  type or hosts is PATCHed (hosts replace the whole list; hosts that stay keep their priority);
  one that matches is not written to. A create that loses a race to another run (Cal.com refuses
  the duplicate slug) finds the winner's event type and carries on with it.
- Hosts: per staff member of `service.staff_ids`, `calcom_user_id`, else the Cal.com hosts of
  their active host mappings. Staff without a known Cal.com user are warnings; a segment without
  any host cannot be booked, so it is recorded `failed` and nothing is created for it.
- A Cal.com error fails that segment only (its entry `failed` with Cal.com's message); every other
  segment and service is still provisioned. A company without a Cal.com team id gets one error.
- Gaps of a `blocked` service get a hidden event type of their own, "<service> - Pause nach
  <segment>" (slug key and map key "gap-<X>", length = the gap's minutes, same hosts), so the gap
  can be booked and nobody else gets the staff member in it. The event types of a `blocked`
  service (segments and gaps) get `slotInterval` 5, so every hold of a contiguous plan is a slot.
  Gaps of other policies are not provisioned; their entries are retired like removed segments.
- Segments that left a service (or services no longer composite or gone) are marked `removed`;
  their event types are KEPT in Cal.com, hidden, so the bookings already made on them can still be
  cancelled and rescheduled. Re-adding the segment finds and reuses the event type by its slug.
- `repair=False` only checks: differences are recorded `drifted`, missing event types `pending`,
  and nothing is written to Cal.com.
- A whole company is looked up with ONE listing of the team's event types (Cal.com allows 120
  requests a minute per API key); a single service looks up each segment's slug.
- Map entries are written only when they change (in one batch per service).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime

from pydantic import BaseModel, Field

from calbridge.adapters.calcom.client import CalcomClient
from calbridge.adapters.calcom.models import (
    SchedulingType,
    TeamEventType,
    TeamEventTypeCreate,
    TeamEventTypeHost,
    TeamEventTypeUpdate,
)
from calbridge.adapters.store.event_map import EventMapRepository
from calbridge.adapters.store.host_mappings import HostMappingRepository
from calbridge.adapters.store.repositories import CompanyRepository, ServiceRepository, StaffRepository
from calbridge.domain.event_types import (
    BLOCKED_SLOT_INTERVAL,
    EventMapEntry,
    EventTypeShape,
    SyncStatus,
    gap_key,
    gap_title,
    segment_slug,
    segment_title,
)
from calbridge.domain.mappings import calcom_users_by_staff
from calbridge.domain.models import Company, PausePolicy, Service, StaffMember
from calbridge.errors import CalcomError, CalcomRejected, InvalidConfiguration
from calbridge.observability import logger

_NOT_COMPOSITE = "not composite: it is booked through its own event type (calcom_event_type_id)"


def _now() -> datetime:
    return datetime.now(UTC)


# ------------------------------------------------------------------ the report


class SegmentResult(BaseModel):
    service_id: str
    segment_key: str
    slug: str
    event_type_id: int | None = None
    changes: list[str] = Field(default_factory=list)
    detail: str = ""


class SkippedService(BaseModel):
    service_id: str
    reason: str


class ProvisionReport(BaseModel):
    """What one run did, segment by segment; `errors` are problems that stopped it altogether."""

    company_id: str
    team_id: int | None = None
    services: list[str] = Field(default_factory=list)  # the composite services provisioned
    created: list[SegmentResult] = Field(default_factory=list)
    updated: list[SegmentResult] = Field(default_factory=list)
    unchanged: list[SegmentResult] = Field(default_factory=list)
    failed: list[SegmentResult] = Field(default_factory=list)
    drifted: list[SegmentResult] = Field(default_factory=list)  # check only (repair=False)
    pending: list[SegmentResult] = Field(default_factory=list)  # check only (repair=False)
    removed: list[SegmentResult] = Field(default_factory=list)
    skipped: list[SkippedService] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
    errors: list[str] = Field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.failed or self.errors)

    def counts(self) -> dict[str, int]:
        kinds = ("created", "updated", "unchanged", "failed", "drifted", "pending", "removed")
        return {kind: len(getattr(self, kind)) for kind in kinds}

    def summary(self) -> str:
        counts = ", ".join(f"{kind} {count}" for kind, count in self.counts().items() if count)
        extra = [f"{len(self.warnings)} warning(s)"] if self.warnings else []
        extra += self.errors
        return f"{self.company_id}: {counts or 'nothing to do'}" + "".join(f"; {e}" for e in extra)


# ------------------------------------------------------------------ helpers


class _Hosts:
    """Which Cal.com users perform a service: staff ids -> calcom_user_id or mapped host ids."""

    def __init__(self, staff: Iterable[StaffMember], users: dict[str, list[int]]) -> None:
        self._staff = {member.staff_id: member for member in staff}
        self._users = users  # domain.mappings.calcom_users_by_staff

    def of(self, service: Service) -> tuple[tuple[int, ...], list[str]]:
        user_ids: set[int] = set()
        warnings: list[str] = []
        for staff_id in service.staff_ids:
            member = self._staff.get(staff_id)
            if member is None:
                warnings.append(f"service {service.service_id}: staff member {staff_id!r} does not exist")
                continue
            if not member.active:
                warnings.append(
                    f"service {service.service_id}: {member.name} ({staff_id}) is inactive: not a host"
                )
                continue
            found = self._users.get(staff_id)
            if not found:
                warnings.append(
                    f"service {service.service_id}: {member.name} ({staff_id}) has no known Cal.com user "
                    "(no calcom_user_id, no active host mapping): not a host of its segment event types"
                )
                continue
            user_ids.update(found)
        return tuple(sorted(user_ids)), warnings


class _Lookup:
    """Finds a segment's event type by slug, else by the id the event map remembers.

    With a `snapshot` (the team's whole listing) it answers without asking Cal.com again.
    """

    def __init__(self, calcom: CalcomClient, team_id: int, snapshot: list[TeamEventType] | None) -> None:
        self._calcom = calcom
        self._team_id = team_id
        self._by_slug = None if snapshot is None else {et.slug: et for et in snapshot}
        self._by_id = {} if snapshot is None else {et.id: et for et in snapshot}

    def find(self, slug: str, known_id: int | None) -> TeamEventType | None:
        if self._by_slug is not None:
            return self._by_slug.get(slug) or (self._by_id.get(known_id) if known_id else None)
        found = self.by_slug(slug)
        if found is None and known_id is not None:
            try:
                found = self._calcom.get_team_event_type(self._team_id, known_id)
            except CalcomRejected as exc:
                if exc.status_code != 404:
                    raise
        return found

    def by_slug(self, slug: str) -> TeamEventType | None:
        """Asks Cal.com (also after a create lost a race, when a snapshot is stale)."""
        listed = self._calcom.list_team_event_types(self._team_id, event_slug=slug)
        return next((et for et in listed if et.slug == slug), None)


class _Target(BaseModel):
    """One event type a service needs: a segment's, or (policy blocked) a gap's."""

    key: str  # the event map's segment key: "A", "gap-A"
    shape: EventTypeShape
    description: str


def _targets(service: Service, host_ids: tuple[int, ...]) -> list[_Target]:
    blocked = service.pause_policy is PausePolicy.BLOCKED
    interval = BLOCKED_SLOT_INTERVAL if blocked else None
    targets = [
        _Target(
            key=segment.key,
            shape=EventTypeShape(
                title=segment_title(service.name, segment.name),
                slug=segment_slug(service.service_id, segment.key),
                length=segment.duration,
                host_user_ids=host_ids,
                slot_interval=interval,
            ),
            description=_description(service, f"Segment {segment.key}"),
        )
        for segment in service.segments
    ]
    if blocked:
        targets += [
            _Target(
                key=gap_key(segment.key),
                shape=EventTypeShape(
                    title=gap_title(service.name, segment.name),
                    slug=segment_slug(service.service_id, gap_key(segment.key)),
                    length=segment.gap_after,
                    host_user_ids=host_ids,
                    slot_interval=interval,
                ),
                description=_description(service, f"The pause after segment {segment.key}"),
            )
            for segment in service.segments
            if segment.gap_after > 0
        ]
    return targets


def _shape(found: TeamEventType) -> EventTypeShape:
    return EventTypeShape(
        title=found.title,
        slug=found.slug,
        length=found.length_in_minutes,
        hidden=found.hidden,
        round_robin=found.scheduling_type == SchedulingType.ROUND_ROBIN,
        all_members=bool(found.assign_all_team_members),
        host_user_ids=tuple(host.user_id for host in found.hosts),
        slot_interval=found.slot_interval,
    )


def _description(service: Service, what: str) -> str:
    return (
        f"{what} of service {service.service_id}, managed by calbridge: "
        "changes made here are overwritten at the next provisioning."
    )


def _create(wanted: EventTypeShape, description: str) -> TeamEventTypeCreate:
    assert wanted.length is not None
    return TeamEventTypeCreate(
        title=wanted.title,
        slug=wanted.slug,
        length_in_minutes=wanted.length,
        scheduling_type=SchedulingType.ROUND_ROBIN,
        hidden=True,
        description=description,
        hosts=[TeamEventTypeHost(user_id=user_id) for user_id in wanted.host_user_ids],
        slot_interval=wanted.slot_interval,
    )


def _update(wanted: EventTypeShape, found: TeamEventType) -> TeamEventTypeUpdate:
    """Only what differs; hosts whenever they or the scheduling type change (both need the list)."""
    have = _shape(found)
    changes: dict[str, object] = {}
    for field, name in (("title", "title"), ("slug", "slug"), ("length_in_minutes", "length")):
        if getattr(wanted, name) != getattr(have, name):
            changes[field] = getattr(wanted, name)
    if wanted.hidden != have.hidden:
        changes["hidden"] = wanted.hidden
    if wanted.slot_interval is not None and wanted.slot_interval != have.slot_interval:
        changes["slot_interval"] = wanted.slot_interval
    if not have.round_robin:
        changes["scheduling_type"] = SchedulingType.ROUND_ROBIN
    if not have.round_robin or have.all_members or set(have.host_user_ids) != set(wanted.host_user_ids):
        # Hosts that stay keep their round-robin settings (an admin may have tuned priorities).
        keep = {host.user_id: host for host in found.hosts} if have.round_robin else {}
        changes["hosts"] = [
            TeamEventTypeHost(
                user_id=user_id,
                mandatory=keep[user_id].mandatory if user_id in keep else None,
                priority=keep[user_id].priority if user_id in keep else None,
            )
            for user_id in wanted.host_user_ids
        ]
        if have.all_members:
            changes["assign_all_team_members"] = False
    return TeamEventTypeUpdate.model_validate(changes)


# ------------------------------------------------------------------ the service


class EventTypeProvisioner:
    def __init__(
        self,
        calcom: CalcomClient,
        services: ServiceRepository,
        staff: StaffRepository,
        mappings: HostMappingRepository,
        event_map: EventMapRepository,
        clock: Callable[[], datetime] = _now,
        *,
        companies: CompanyRepository | None = None,
    ) -> None:
        self._calcom = calcom
        self._services = services
        self._staff = staff
        self._mappings = mappings
        self._event_map = event_map
        self._clock = clock
        self._companies = companies or CompanyRepository()

    # -------------------------------------------------------------- entry points

    def provision(
        self, company_id: str, service_id: str | None = None, *, repair: bool = True
    ) -> ProvisionReport:
        """By ids: one service, or every service of the company (UnknownCompany / NotFound raise)."""
        company = self._companies.get(company_id)
        if service_id is None:
            return self.provision_company(company, repair=repair)
        return self.provision_service(company, self._services.get(company_id, service_id), repair=repair)

    def provision_service(
        self, company: Company, service: Service, *, repair: bool = True
    ) -> ProvisionReport:
        report = ProvisionReport(company_id=company.company_id, team_id=company.calcom_team_id)
        team_id = self._team(company, report)
        if team_id is not None:
            self._service(
                team_id,
                service,
                self._event_map.list(company.company_id, service.service_id),
                self._hosts(company.company_id),
                _Lookup(self._calcom, team_id, None),
                report,
                repair=repair,
            )
        self._log(report)
        return report

    def provision_company(
        self, company: Company, *, repair: bool = True, team_event_types: list[TeamEventType] | None = None
    ) -> ProvisionReport:
        """Every service of the company. `team_event_types`: the team's listing when the caller
        (the team sync) has just read it; otherwise it is listed here."""
        report = ProvisionReport(company_id=company.company_id, team_id=company.calcom_team_id)
        team_id = self._team(company, report)
        if team_id is None:
            self._log(report)
            return report
        services = sorted(
            self._services.list(company.company_id, active_only=False), key=lambda s: s.service_id
        )
        entries: dict[str, list[EventMapEntry]] = {}
        for entry in self._event_map.list(company.company_id):
            entries.setdefault(entry.service_id, []).append(entry)
        hosts = self._hosts(company.company_id)
        try:
            snapshot = team_event_types
            if snapshot is None:
                snapshot = self._calcom.list_team_event_types(team_id)
            lookup = _Lookup(self._calcom, team_id, snapshot)
        except (CalcomError, InvalidConfiguration) as exc:
            # Each segment then asks by slug, and fails on its own if Cal.com is still failing.
            logger.warning(
                "listing the team's event types failed", company_id=company.company_id, reason=str(exc)
            )
            lookup = _Lookup(self._calcom, team_id, None)
        for service in services:
            self._service(
                team_id, service, entries.pop(service.service_id, []), hosts, lookup, report, repair=repair
            )
        for service_id, orphans in sorted(entries.items()):
            self._retire(orphans, f"service {service_id} no longer exists", report)
        self._log(report)
        return report

    # -------------------------------------------------------------- one service, one segment

    def _service(
        self,
        team_id: int,
        service: Service,
        entries: list[EventMapEntry],
        hosts: _Hosts,
        lookup: _Lookup,
        report: ProvisionReport,
        *,
        repair: bool,
    ) -> None:
        previous = {entry.segment_key: entry for entry in entries}
        if not service.active:
            report.skipped.append(SkippedService(service_id=service.service_id, reason="inactive"))
            return
        if not service.composite:
            if previous:
                self._retire(
                    list(previous.values()), f"service {service.service_id} is not composite", report
                )
            report.skipped.append(SkippedService(service_id=service.service_id, reason=_NOT_COMPOSITE))
            return
        report.services.append(service.service_id)
        host_ids, warnings = hosts.of(service)
        report.warnings.extend(warnings)
        written = []
        for target in _targets(service, host_ids):
            before = previous.pop(target.key, None)
            entry = self._segment(team_id, service, target, host_ids, before, lookup, report, repair=repair)
            if not entry.same_as(before):
                written.append(entry)
        self._event_map.save_many(written)
        gaps = {k: e for k, e in previous.items() if k.startswith(gap_key(""))}
        segments = [e for k, e in previous.items() if k not in gaps]
        if segments:
            self._retire(segments, f"the segment left service {service.service_id}", report)
        if gaps:
            policy = service.pause_policy.value
            why = f"service {service.service_id} holds no such gap (pause policy {policy})"
            self._retire(list(gaps.values()), why, report)

    def _segment(
        self,
        team_id: int,
        service: Service,
        target: _Target,
        host_ids: tuple[int, ...],
        before: EventMapEntry | None,
        lookup: _Lookup,
        report: ProvisionReport,
        *,
        repair: bool,
    ) -> EventMapEntry:
        wanted = target.shape
        assert wanted.length is not None
        length = wanted.length
        known_id = before.event_type_id if before else None

        def record(
            kind: str, status: SyncStatus, event_type_id: int | None, detail: str, changes: Iterable[str] = ()
        ) -> EventMapEntry:
            getattr(report, kind).append(
                SegmentResult(
                    service_id=service.service_id,
                    segment_key=target.key,
                    slug=wanted.slug,
                    event_type_id=event_type_id,
                    changes=list(changes),
                    detail=detail,
                )
            )
            if (
                before is not None
                and kind == "unchanged"
                and before.sync_status is SyncStatus.SYNCED
                and before.event_type_id == event_type_id
            ):
                detail = before.detail  # nothing happened: keep what the entry said
            return EventMapEntry(
                company_id=service.company_id,
                service_id=service.service_id,
                segment_key=target.key,
                event_type_id=event_type_id,
                slug=wanted.slug,
                title=wanted.title,
                length=length,
                host_user_ids=list(host_ids),
                sync_status=status,
                detail=detail,
                updated_at=self._clock(),
            )

        if not host_ids:
            listed = ", ".join(service.staff_ids) or "nobody is listed in staff_ids"
            return record(
                "failed",
                SyncStatus.FAILED,
                known_id,
                f"no host: none of the staff who perform service {service.service_id} ({listed}) has "
                "a known Cal.com user; set their calcom_user_id or link their Cal.com host, then "
                "provision again",
            )
        found: TeamEventType | None = None
        try:
            found = lookup.find(wanted.slug, known_id)
            if found is None and not repair:
                return record(
                    "pending", SyncStatus.PENDING, None, f"no Cal.com event type {wanted.slug!r} yet"
                )
            if found is None:
                try:
                    created = self._calcom.create_team_event_type(
                        team_id, _create(wanted, target.description)
                    )
                except CalcomRejected as rejected:
                    found = self._winner(lookup, wanted.slug)  # did another run create it first?
                    if found is None:
                        raise rejected from None
                else:
                    return record(
                        "created", SyncStatus.SYNCED, created.id, f"created event type {created.id}"
                    )
            changes = wanted.differences(_shape(found))
            if not changes:
                return record(
                    "unchanged", SyncStatus.SYNCED, found.id, "found by its slug; matches the segment"
                )
            if not repair:
                return record(
                    "drifted", SyncStatus.DRIFTED, found.id, "Cal.com differs: " + "; ".join(changes), changes
                )
            updated = self._calcom.update_team_event_type(team_id, found.id, _update(wanted, found))
            return record("updated", SyncStatus.SYNCED, updated.id, "updated: " + "; ".join(changes), changes)
        except (CalcomError, InvalidConfiguration) as exc:
            logger.warning(
                "segment event type not provisioned",
                company_id=service.company_id,
                service_id=service.service_id,
                segment_key=target.key,
                reason=exc.message,
            )
            event_type_id = found.id if found is not None else known_id
            return record("failed", SyncStatus.FAILED, event_type_id, f"Cal.com: {exc.message}")

    @staticmethod
    def _winner(lookup: _Lookup, slug: str) -> TeamEventType | None:
        try:
            return lookup.by_slug(slug)
        except CalcomError:
            return None

    def _retire(self, entries: list[EventMapEntry], why: str, report: ProvisionReport) -> None:
        """Mark entries removed; their event types stay in Cal.com, hidden (see the module doc)."""
        retired = []
        for entry in entries:
            if entry.sync_status is SyncStatus.REMOVED:
                continue
            kept = (
                f"event type {entry.event_type_id} is kept, hidden"
                if entry.event_type_id
                else "no event type"
            )
            detail = f"{why}; {kept}"
            retired.append(
                entry.model_copy(
                    update={"sync_status": SyncStatus.REMOVED, "detail": detail, "updated_at": self._clock()}
                )
            )
            report.removed.append(
                SegmentResult(
                    service_id=entry.service_id,
                    segment_key=entry.segment_key,
                    slug=entry.slug,
                    event_type_id=entry.event_type_id,
                    detail=detail,
                )
            )
        self._event_map.save_many(retired)

    # -------------------------------------------------------------- internals

    @staticmethod
    def _team(company: Company, report: ProvisionReport) -> int | None:
        if company.calcom_team_id is None:
            report.errors.append(
                f"company {company.company_id} has no Cal.com team (calcom_team_id is not set): "
                "segment event types live in the team, so nothing was provisioned"
            )
        return company.calcom_team_id

    def _hosts(self, company_id: str) -> _Hosts:
        staff = self._staff.list(company_id, active_only=False)
        return _Hosts(staff, calcom_users_by_staff(staff, self._mappings.list(company_id)))

    @staticmethod
    def _log(report: ProvisionReport) -> None:
        logger.info(
            "segment event types provisioned",
            company_id=report.company_id,
            services=len(report.services),
            warnings=len(report.warnings),
            errors=len(report.errors),
            **{f"segments_{kind}": count for kind, count in report.counts().items()},
        )
