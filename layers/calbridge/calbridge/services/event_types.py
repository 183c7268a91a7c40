"""Booking event types: one hidden Cal.com team event type per hold of a service and staff member.

For every active service, each hold a plan of it can book (domain/event_types.hold_targets: a
simple service's whole length, a composite's segments, a `blocked` service's gaps, a `never`
service's whole length) and each staff member who performs it and has a Cal.com user, the
provisioner makes sure the company's Cal.com team has a hidden event type titled
"<service> - <hold> (<staff member>)", schedulingType collective, that user its only host, the
hold's minutes its length and the company's minimum notice its minimumBookingNotice, and records
it in the event map (company, service, hold, user -> event type id, sync status). One host per
event type is how calbridge pins the staff member with documented properties only
(docs/adr/0013-one-event-type-per-staff-member.md). Rules:

- Idempotent. The slug is deterministic (`domain.event_types.segment_slug`): the event type is
  looked up by slug (else by the id the map remembers, should someone have renamed the slug)
  before anything is created. One that exists but differs in title, slug, length, hidden,
  scheduling type, host, slot interval or minimum notice is PATCHed; one that matches is not
  written to. A difference calbridge made itself (Cal.com still has what the map says was
  written: a renamed service, a new segment length) is `updated` at once; any other is drift,
  `repaired` when the run may repair, else recorded `drifted`. A create that loses a race to
  another run (Cal.com refuses the duplicate slug) finds the winner's event type and carries on.
- E-mails: only the first hold's event type sends Cal.com's standard e-mails; the others ask for
  none (`emailSettings`), so a caller gets one confirmation per appointment, not one per segment.
  Cal.com keeps that setting only for an organization's teams; elsewhere the report warns that
  every segment mails (docs/calcom-emails.md). It is set, never compared: not drift.
- Staff without a known Cal.com user are warnings (they cannot be booked); a service nobody can
  host gets one warning and no event types.
- A Cal.com error fails that event type only (its entry `failed` with Cal.com's message); every
  other one is still provisioned. A company without a Cal.com team id gets one error.
- Entries no longer wanted (a segment or a staff member left the service, the service is gone or
  inactive) and the shared round-robin entries of before ADR 0013 are marked `removed`; their
  event types are KEPT in Cal.com, hidden, so bookings made on them can still be cancelled.
- `create_missing` / `repair` decide what may be written to Cal.com: the admin API and
  `make provision` create and repair; the nightly team sync creates what is missing, applies our
  own changes and repairs drift only when the company asks for it (`sync_repair_drift`); a check
  writes nothing: differences are `drifted`, missing event types `pending`.
- A whole company is looked up with ONE listing of the team's event types (Cal.com allows 120
  requests a minute per API key); a single service looks up each event type's slug.
- Map entries are written only when they change (in one batch per service).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime

from pydantic import BaseModel, Field

from calbridge.adapters.calcom.client import CalcomClient
from calbridge.adapters.calcom.models import (
    EmailSettings,
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
    WRITTEN_FIELDS,
    EventMapEntry,
    EventTypeShape,
    HoldTarget,
    SyncStatus,
    hold_targets,
    map_key,
    segment_slug,
)
from calbridge.domain.mappings import calcom_users_by_staff
from calbridge.domain.models import Company, Service, StaffMember
from calbridge.errors import CalcomError, CalcomRejected, InvalidConfiguration
from calbridge.observability import logger

#: The e-mails of every hold but the first (domain/event_types.HoldTarget.first).
QUIET = EmailSettings(disable_emails_to_attendees=True, disable_emails_to_hosts=True)
EMAILS_NOT_KEPT = (
    "Cal.com did not keep emailSettings (it keeps them only for an organization's teams): callers "
    "and staff get Cal.com's e-mails for every segment of an appointment (docs/calcom-emails.md)"
)


def _now() -> datetime:
    return datetime.now(UTC)


# ------------------------------------------------------------------ the report


class SegmentResult(BaseModel):
    service_id: str
    segment_key: str
    host_user_id: int | None = None
    staff_id: str | None = None
    slug: str
    event_type_id: int | None = None
    changes: list[str] = Field(default_factory=list)
    detail: str = ""

    @property
    def ref(self) -> str:
        """`<service>#<hold>` and the staff member, for reports."""
        who = f" ({self.staff_id})" if self.staff_id else ""
        return f"{self.service_id}#{self.segment_key}{who}"


class SkippedService(BaseModel):
    service_id: str
    reason: str


class ProvisionReport(BaseModel):
    """What one run did, event type by event type; `errors` are problems that stopped it altogether."""

    company_id: str
    team_id: int | None = None
    services: list[str] = Field(default_factory=list)  # the services provisioned
    created: list[SegmentResult] = Field(default_factory=list)
    updated: list[SegmentResult] = Field(default_factory=list)  # our change (a rename, a new length)
    repaired: list[SegmentResult] = Field(default_factory=list)  # Cal.com had been changed: put back
    unchanged: list[SegmentResult] = Field(default_factory=list)
    failed: list[SegmentResult] = Field(default_factory=list)
    drifted: list[SegmentResult] = Field(default_factory=list)  # Cal.com was changed; not repaired
    pending: list[SegmentResult] = Field(default_factory=list)  # not created
    removed: list[SegmentResult] = Field(default_factory=list)
    skipped: list[SkippedService] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
    errors: list[str] = Field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.failed or self.errors)

    def counts(self) -> dict[str, int]:
        kinds = ("created", "updated", "repaired", "unchanged", "failed", "drifted", "pending", "removed")
        return {kind: len(getattr(self, kind)) for kind in kinds}

    def summary(self) -> str:
        counts = ", ".join(f"{kind} {count}" for kind, count in self.counts().items() if count)
        extra = [f"{len(self.warnings)} warning(s)"] if self.warnings else []
        extra += self.errors
        return f"{self.company_id}: {counts or 'nothing to do'}" + "".join(f"; {e}" for e in extra)

    def warn(self, warning: str) -> None:
        if warning not in self.warnings:
            self.warnings.append(warning)


# ------------------------------------------------------------------ helpers


class _Hosts:
    """Who performs a service: (staff member, their Cal.com user) for those who can be booked."""

    def __init__(self, staff: Iterable[StaffMember], users: dict[str, list[int]]) -> None:
        self._staff = {member.staff_id: member for member in staff}
        self._users = users  # domain.mappings.calcom_users_by_staff

    def of(self, service: Service) -> tuple[list[tuple[StaffMember, int]], list[str]]:
        hosts: list[tuple[StaffMember, int]] = []
        warnings: list[str] = []
        for staff_id in service.staff_ids:
            member = self._staff.get(staff_id)
            if member is None:
                warnings.append(f"service {service.service_id}: staff member {staff_id!r} does not exist")
                continue
            if not member.active:
                warnings.append(
                    f"service {service.service_id}: {member.name} ({staff_id}) is inactive: not bookable"
                )
                continue
            found = self._users.get(staff_id)
            if not found:
                warnings.append(
                    f"service {service.service_id}: {member.name} ({staff_id}) has no known Cal.com user "
                    "(no calcom_user_id, no active host mapping): not bookable until linked"
                )
                continue
            hosts.append((member, found[0]))
        return hosts, warnings


class _Lookup:
    """Finds an event type by slug, else by the id the event map remembers.

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
    """One event type a service needs: one hold, one staff member."""

    hold: HoldTarget
    staff: StaffMember
    user_id: int
    shape: EventTypeShape
    description: str

    @property
    def key(self) -> str:
        return self.hold.key

    @property
    def emails(self) -> EmailSettings | None:
        return None if self.hold.first else QUIET


def _targets(company: Company, service: Service, hosts: list[tuple[StaffMember, int]]) -> list[_Target]:
    return [
        _Target(
            hold=hold,
            staff=member,
            user_id=user_id,
            shape=EventTypeShape(
                title=hold.title(service, member.name),
                slug=segment_slug(service.service_id, hold.key, user_id),
                length=hold.minutes,
                host_user_ids=(user_id,),
                slot_interval=hold.slot_interval,
                minimum_notice=company.minimum_notice_minutes,
            ),
            description=(
                f"{hold.name} of service {service.service_id} for {member.name}, managed by calbridge: "
                "changes made here are overwritten at the next provisioning."
            ),
        )
        for hold in hold_targets(service)
        for member, user_id in hosts
    ]


def _shape(found: TeamEventType) -> EventTypeShape:
    return EventTypeShape(
        title=found.title,
        slug=found.slug,
        length=found.length_in_minutes,
        hidden=found.hidden,
        collective=found.scheduling_type == SchedulingType.COLLECTIVE,
        all_members=bool(found.assign_all_team_members),
        host_user_ids=tuple(host.user_id for host in found.hosts),
        slot_interval=found.slot_interval,
        minimum_notice=found.minimum_booking_notice,
    )


def _as_provisioned(before: EventMapEntry | None, found: TeamEventType, wanted: EventTypeShape) -> bool:
    """Cal.com still has what calbridge last wrote (the map's record): the difference is our own
    change (a renamed service, a new segment length, a new minimum notice), applied without waiting
    for a repair. Otherwise somebody changed Cal.com: that is drift."""
    if before is None or before.event_type_id != found.id:
        return False
    if before.sync_status not in (SyncStatus.SYNCED, SyncStatus.DRIFTED):
        return False
    return not wanted.model_copy(update=before.written()).differences(_shape(found))


def _create(target: _Target) -> TeamEventTypeCreate:
    wanted = target.shape
    assert wanted.length is not None
    return TeamEventTypeCreate(
        title=wanted.title,
        slug=wanted.slug,
        length_in_minutes=wanted.length,
        scheduling_type=SchedulingType.COLLECTIVE,
        hidden=True,
        description=target.description,
        hosts=[TeamEventTypeHost(user_id=target.user_id)],
        slot_interval=wanted.slot_interval,
        minimum_booking_notice=wanted.minimum_notice,
        email_settings=target.emails,
    )


def _update(target: _Target, found: TeamEventType) -> TeamEventTypeUpdate:
    """Only what differs; the host whenever it or the scheduling type changes (a switch of the
    scheduling type needs the hosts, Cal.com's PATCH rule)."""
    wanted, have = target.shape, _shape(found)
    changes: dict[str, object] = {}
    for field, name in (("title", "title"), ("slug", "slug"), ("length_in_minutes", "length")):
        if getattr(wanted, name) != getattr(have, name):
            changes[field] = getattr(wanted, name)
    if wanted.hidden != have.hidden:
        changes["hidden"] = wanted.hidden
    if wanted.slot_interval is not None and wanted.slot_interval != have.slot_interval:
        changes["slot_interval"] = wanted.slot_interval
    if wanted.minimum_notice is not None and wanted.minimum_notice != have.minimum_notice:
        changes["minimum_booking_notice"] = wanted.minimum_notice
    if not have.collective:
        changes["scheduling_type"] = SchedulingType.COLLECTIVE
    if not have.collective or have.all_members or set(have.host_user_ids) != set(wanted.host_user_ids):
        changes["hosts"] = [TeamEventTypeHost(user_id=target.user_id)]
        if have.all_members:
            changes["assign_all_team_members"] = False
    if target.emails is not None:
        changes["email_settings"] = target.emails
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
        self,
        company_id: str,
        service_id: str | None = None,
        *,
        repair: bool = True,
        create_missing: bool | None = None,
    ) -> ProvisionReport:
        """By ids: one service, or every service of the company (UnknownCompany / NotFound raise).

        `repair`: PATCH event types that differ; `create_missing` (default: `repair`): create the
        ones that do not exist. Both False: a check that writes nothing to Cal.com."""
        company = self._companies.get(company_id)
        if service_id is None:
            return self.provision_company(company, repair=repair, create_missing=create_missing)
        service = self._services.get(company_id, service_id)
        return self.provision_service(company, service, repair=repair, create_missing=create_missing)

    def provision_service(
        self, company: Company, service: Service, *, repair: bool = True, create_missing: bool | None = None
    ) -> ProvisionReport:
        report = ProvisionReport(company_id=company.company_id, team_id=company.calcom_team_id)
        team_id = self._team(company, report)
        if team_id is not None:
            _Run(
                self,
                company,
                team_id,
                self._hosts(company.company_id),
                _Lookup(self._calcom.for_company(company.company_id), team_id, None),
                report,
                repair=repair,
                create=repair if create_missing is None else create_missing,
            ).service(service, self._event_map.list(company.company_id, service.service_id))
        self._log(report)
        return report

    def provision_company(
        self,
        company: Company,
        *,
        repair: bool = True,
        create_missing: bool | None = None,
        team_event_types: list[TeamEventType] | None = None,
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
        calcom = self._calcom.for_company(company.company_id)
        try:
            snapshot = team_event_types
            if snapshot is None:
                snapshot = calcom.list_team_event_types(team_id)
            lookup = _Lookup(calcom, team_id, snapshot)
        except (CalcomError, InvalidConfiguration) as exc:
            # Each event type then asks by slug, and fails on its own if Cal.com is still failing.
            logger.warning(
                "listing the team's event types failed", company_id=company.company_id, reason=str(exc)
            )
            lookup = _Lookup(calcom, team_id, None)
        run = _Run(
            self,
            company,
            team_id,
            self._hosts(company.company_id),
            lookup,
            report,
            repair=repair,
            create=repair if create_missing is None else create_missing,
        )
        for service in services:
            run.service(service, entries.pop(service.service_id, []))
        for service_id, orphans in sorted(entries.items()):
            run.retire(orphans, f"service {service_id} no longer exists")
        self._log(report)
        return report

    # -------------------------------------------------------------- internals

    @staticmethod
    def _team(company: Company, report: ProvisionReport) -> int | None:
        if company.calcom_team_id is None:
            report.errors.append(
                f"company {company.company_id} has no Cal.com team (calcom_team_id is not set): "
                "booking event types live in the team, so nothing was provisioned"
            )
        return company.calcom_team_id

    def _hosts(self, company_id: str) -> _Hosts:
        staff = self._staff.list(company_id, active_only=False)
        return _Hosts(staff, calcom_users_by_staff(staff, self._mappings.list(company_id)))

    @staticmethod
    def _log(report: ProvisionReport) -> None:
        logger.info(
            "booking event types provisioned",
            company_id=report.company_id,
            services=len(report.services),
            warnings=len(report.warnings),
            errors=len(report.errors),
            **{f"event_types_{kind}": count for kind, count in report.counts().items()},
        )


class _Run:
    """One provisioning run over one company's services (what it may write, where it reports)."""

    def __init__(
        self,
        provisioner: EventTypeProvisioner,
        company: Company,
        team_id: int,
        hosts: _Hosts,
        lookup: _Lookup,
        report: ProvisionReport,
        *,
        repair: bool,
        create: bool,
    ) -> None:
        self._calcom = provisioner._calcom.for_company(company.company_id)
        self._event_map = provisioner._event_map
        self._clock = provisioner._clock
        self._company = company
        self._team_id = team_id
        self._hosts = hosts
        self._lookup = lookup
        self._report = report
        self._repair = repair
        self._create = create

    def service(self, service: Service, entries: list[EventMapEntry]) -> None:
        previous = {entry.key: entry for entry in entries}
        if not service.active:
            self.retire(list(previous.values()), f"service {service.service_id} is inactive")
            self._report.skipped.append(SkippedService(service_id=service.service_id, reason="inactive"))
            return
        self._report.services.append(service.service_id)
        hosts, warnings = self._hosts.of(service)
        self._report.warnings.extend(warnings)
        if not hosts:
            listed = ", ".join(service.staff_ids) or "nobody is listed in staff_ids"
            self._report.warn(
                f"service {service.service_id}: nobody can be booked for it ({listed}): set the staff's "
                "calcom_user_id or link their Cal.com host, then provision again"
            )
        written = []
        for target in _targets(self._company, service, hosts):
            before = previous.pop(map_key(service.service_id, target.key, target.user_id), None)
            entry = self._event_type(service, target, before)
            if not entry.same_as(before):
                written.append(entry)
        self._event_map.save_many(written)
        legacy = [e for e in previous.values() if e.legacy]
        left = [e for e in previous.values() if not e.legacy]
        if legacy:
            self.retire(legacy, "replaced by one event type per staff member (ADR 0013)")
        if left:
            self.retire(left, f"the hold or the staff member left service {service.service_id}")

    def _event_type(self, service: Service, target: _Target, before: EventMapEntry | None) -> EventMapEntry:
        wanted = target.shape
        known_id = before.event_type_id if before else None

        def record(
            kind: str, status: SyncStatus, event_type_id: int | None, detail: str, changes: Iterable[str] = ()
        ) -> EventMapEntry:
            getattr(self._report, kind).append(
                SegmentResult(
                    service_id=service.service_id,
                    segment_key=target.key,
                    host_user_id=target.user_id,
                    staff_id=target.staff.staff_id,
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
            written = {name: getattr(wanted, name) for name in WRITTEN_FIELDS}
            if before is not None and kind in ("drifted", "failed") and before.event_type_id == event_type_id:
                written = before.written()  # nothing was written
            return EventMapEntry(
                company_id=service.company_id,
                service_id=service.service_id,
                segment_key=target.key,
                host_user_id=target.user_id,
                staff_id=target.staff.staff_id,
                event_type_id=event_type_id,
                sync_status=status,
                detail=detail,
                updated_at=self._clock(),
                **written,
            )

        found: TeamEventType | None = None
        try:
            found = self._lookup.find(wanted.slug, known_id)
            if found is None and not self._create:
                return record(
                    "pending", SyncStatus.PENDING, None, f"no Cal.com event type {wanted.slug!r} yet"
                )
            if found is None:
                try:
                    created = self._calcom.create_team_event_type(self._team_id, _create(target))
                except CalcomRejected as rejected:
                    found = self._winner(wanted.slug)  # did another run create it first?
                    if found is None:
                        raise rejected from None
                else:
                    self._check_emails(target, created)
                    return record(
                        "created", SyncStatus.SYNCED, created.id, f"created event type {created.id}"
                    )
            changes = wanted.differences(_shape(found))
            if not changes:
                return record("unchanged", SyncStatus.SYNCED, found.id, "found by its slug; matches the hold")
            ours = _as_provisioned(before, found, wanted)
            if not (self._repair or (ours and self._create)):  # a check writes nothing
                return record(
                    "drifted", SyncStatus.DRIFTED, found.id, "Cal.com differs: " + "; ".join(changes), changes
                )
            updated = self._calcom.update_team_event_type(self._team_id, found.id, _update(target, found))
            self._check_emails(target, updated)
            kind, verb = ("updated", "updated") if ours else ("repaired", "repaired")
            return record(kind, SyncStatus.SYNCED, updated.id, f"{verb}: " + "; ".join(changes), changes)
        except (CalcomError, InvalidConfiguration) as exc:
            logger.warning(
                "booking event type not provisioned",
                company_id=service.company_id,
                service_id=service.service_id,
                segment_key=target.key,
                staff_id=target.staff.staff_id,
                reason=exc.message,
            )
            event_type_id = found.id if found is not None else known_id
            return record("failed", SyncStatus.FAILED, event_type_id, f"Cal.com: {exc.message}")

    def _check_emails(self, target: _Target, answered: TeamEventType) -> None:
        kept = answered.email_settings
        if target.emails is not None and (kept is None or kept != target.emails):
            self._report.warn(EMAILS_NOT_KEPT)

    def _winner(self, slug: str) -> TeamEventType | None:
        try:
            return self._lookup.by_slug(slug)
        except CalcomError:
            return None

    def retire(self, entries: list[EventMapEntry], why: str) -> None:
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
            self._report.removed.append(
                SegmentResult(
                    service_id=entry.service_id,
                    segment_key=entry.segment_key,
                    host_user_id=entry.host_user_id,
                    staff_id=entry.staff_id,
                    slug=entry.slug,
                    event_type_id=entry.event_type_id,
                    detail=detail,
                )
            )
        self._event_map.save_many(retired)
