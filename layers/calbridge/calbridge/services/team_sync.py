"""The nightly team sync of one company (issue 6; docs/architecture.md "Team sync").

`TeamSync.sync_company` brings calbridge in step with the company's Cal.com team:

1. Cal.com: the team's memberships (every page) and its team event types (one listing), through
   a guarded client (adapters/calcom/pacing.py): paced within the rate limit, a 429 waited out
   until Cal.com's reset, never past the deadline, every request counted.
2. Store: the company, its staff, host mappings, open reviews, services and what the last sync
   recorded about the team: one query each, indexed in memory (no per-member reads).
3. Members (domain/team_sync.py decides, this module writes): hosts that left the team lose
   their mappings (HostResolver.deactivate, audited); every accepted member goes through
   HostResolver.link_member (the host-resolution strategies: e-mail first, then username, name;
   a link writes the mapping and its audit in one transaction, a changed Cal.com profile refreshes
   it, audited); staff get their Cal.com user id and username (batch); member records (batch).
4. Team event types: their hosts are recorded and they become services (created or updated by
   event type id, never duplicated; batch). Our own `cb-` booking event types are not imported.
5. Booking event types (services/event_types.py): the provisioner creates the missing ones (a new
   service, a staff member linked in step 3) and compares the others (length, hidden, host,
   notice ...) with the services, from the same listing; `Company.sync_repair_drift` decides
   whether it repairs drift in Cal.com or only records it (`drifted` in the event map).

Only changes are written: a run over an unchanged team writes nothing. Bad input (a membership
without e-mail, a user listed twice, an event type without hosts, a company without a team) is
skipped with a reason in the report. Infrastructure failures that a retry of the job may cure
raise (Cal.com unavailable when the run starts, the store unavailable); anything else ends in the
report: `partial` (the deadline, or a later Cal.com failure) says in `not_done` what is left for
the next run, `failed` when Cal.com refuses the team.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

from calbridge.adapters.calcom.client import CalcomClient
from calbridge.adapters.calcom.models import TeamEventType, TeamMembership
from calbridge.adapters.calcom.pacing import Deadline, Pacer, RequestGuard
from calbridge.adapters.store.event_map import EventMapRepository
from calbridge.adapters.store.host_mappings import HostMappingRepository, HostReviewRepository
from calbridge.adapters.store.repositories import CompanyRepository, ServiceRepository, StaffRepository
from calbridge.adapters.store.team import TeamRepository, TeamSnapshot
from calbridge.domain.mappings import HostMapping, HostReview, review_key
from calbridge.domain.models import Company, Service, StaffMember
from calbridge.domain.sync import SkippedItem, SyncReport
from calbridge.domain.team_sync import (
    SYNC_ACTOR,
    CalcomEventType,
    CalcomMember,
    EventTypeHost,
    MemberPlan,
    plan_event_types,
    plan_members,
    plan_staff_links,
)
from calbridge.errors import (
    CalcomRejected,
    CalcomUnavailable,
    DeadlineExceeded,
    MappingConflict,
    UnknownCompany,
)
from calbridge.services.event_types import EventTypeProvisioner, ProvisionReport, SegmentResult
from calbridge.services.host_resolution import HostResolver

STEPS = ("members", "staff links", "team event types", "booking event types")


def _now() -> datetime:
    return datetime.now(UTC)


def _member_of(membership: TeamMembership) -> CalcomMember:
    user = membership.user
    return CalcomMember(
        user_id=membership.user_id,
        membership_id=membership.id,
        email=user.email,
        name=user.name,
        username=user.username,
        role=membership.role,
        accepted=membership.accepted,
    )


def _event_type_of(et: TeamEventType, accepted: list[CalcomMember]) -> CalcomEventType:
    hosts = [EventTypeHost(user_id=h.user_id, name=h.name, username=h.username) for h in et.hosts]
    if not hosts and et.assign_all_team_members:  # "every member hosts": the team is the host list
        hosts = [EventTypeHost(user_id=m.user_id, name=m.name, username=m.username) for m in accepted]
    return CalcomEventType(
        id=et.id,
        title=et.title,
        slug=et.slug,
        length=et.length_in_minutes,
        hidden=et.hidden,
        scheduling_type=et.scheduling_type.value if et.scheduling_type else None,
        hosts=tuple(hosts),
    )


class _Stored:
    """What the store holds about the company, read once per run."""

    def __init__(
        self,
        staff: list[StaffMember],
        mappings: list[HostMapping],
        reviews: list[HostReview],
        team: TeamSnapshot,
        services: list[Service],
    ) -> None:
        self.staff = staff
        self.mappings = mappings
        self.active_mappings = {m.host_id: m for m in mappings if m.is_active}
        self.open_reviews = {r.host_key: r for r in reviews}
        self.team = team
        self.services = services


class _Run:
    """One company's run: its report, deadline and guarded Cal.com client, and the steps left."""

    def __init__(
        self, company: Company, report: SyncReport, deadline: Deadline, calcom: CalcomClient
    ) -> None:
        self.company = company
        self.report = report
        self.deadline = deadline
        self.calcom = calcom
        self.left: list[str] = list(STEPS)
        self.now = report.started_at

    @property
    def company_id(self) -> str:
        return self.company.company_id

    def done(self, step: str) -> None:
        self.left.remove(step)

    def check(self, what: str) -> None:
        """Stop before `what` when the deadline has passed (the steps left go to `not_done`)."""
        if self.deadline.expired:
            raise DeadlineExceeded(f"the deadline passed before {what}")


class TeamSync:
    def __init__(
        self,
        calcom: CalcomClient,
        resolver: HostResolver,
        *,
        companies: CompanyRepository,
        staff: StaffRepository,
        services: ServiceRepository,
        mappings: HostMappingRepository,
        reviews: HostReviewRepository,
        team: TeamRepository,
        event_map: EventMapRepository,
        pacer: Pacer,
        clock: Callable[[], datetime] = _now,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._calcom = calcom
        self._resolver = resolver
        self._companies = companies
        self._staff = staff
        self._services = services
        self._mappings = mappings
        self._reviews = reviews
        self._team = team
        self._event_map = event_map
        self._pacer = pacer
        self._clock = clock
        self._sleep = sleep
        self._monotonic = monotonic

    def sync_company(self, company_id: str, *, deadline_s: float = 300.0) -> SyncReport:
        """Sync one company; see the module docstring. Raises CalcomUnavailable / StoreUnavailable
        for failures a retry of the job may cure, and returns the report otherwise."""
        report = SyncReport(company_id=company_id, started_at=self._clock())
        deadline = Deadline(deadline_s, self._monotonic)
        guard = RequestGuard(deadline, self._pacer, sleep=self._sleep)
        run: _Run | None = None
        try:
            company = self._company(company_id, report)
            if company is not None:
                run = _Run(company, report, deadline, self._calcom.for_company(company_id).guarded(guard))
                self._run(run)
        except DeadlineExceeded as exc:
            report.status = "partial"
            report.errors.append(f"stopped by the {deadline_s:g} s deadline: {exc.message}")
            report.not_done = list(run.left) if run else list(STEPS)
        finally:
            report.calcom_calls = guard.calls
            report.throttled = guard.throttled
            report.finished_at = self._clock()
        return report  # logged, stored and counted by its runner (services/team_sync_jobs.py)

    # ------------------------------------------------------------------ the steps

    def _company(self, company_id: str, report: SyncReport) -> Company | None:
        try:
            company = self._companies.get(company_id)
        except UnknownCompany:
            report.status = "skipped"
            report.skipped.append(SkippedItem(kind="company", ref=company_id, reason="unknown company"))
            return None
        if company.calcom_team_id is None:
            report.status = "skipped"
            report.skipped.append(
                SkippedItem(
                    kind="company",
                    ref=company_id,
                    reason="no Cal.com team (calcom_team_id is not set): nothing to sync",
                )
            )
            return None
        return company

    def _run(self, run: _Run) -> None:
        report, team_id = run.report, run.company.calcom_team_id
        assert team_id is not None
        try:
            memberships = run.calcom.list_team_memberships(team_id)
        except CalcomRejected as exc:
            report.status = "failed"
            report.errors.append(f"Cal.com refused the team's memberships: {exc.message}")
            report.not_done = list(run.left)
            return
        listed = [_member_of(m) for m in memberships]
        event_types: list[TeamEventType] | None
        try:
            event_types = run.calcom.list_team_event_types(team_id)
        except (CalcomRejected, CalcomUnavailable) as exc:
            event_types = None
            report.errors.append(f"the team's event types could not be read: Cal.com: {exc.message}")

        stored = self._load(run.company)
        plan = plan_members(
            run.company_id, listed, stored.team.members, stored.active_mappings.keys(), run.now
        )
        report.skipped.extend(plan.skipped)
        links = self._members(run, plan, stored)
        self._staff_links(run, plan, stored, links)
        self._team.save_members(plan.writes)
        report.members_synced = len(plan.members)
        report.members_new = len(plan.new)
        report.members_changed = len(plan.changed)
        report.members_deactivated = len(plan.deactivated)
        run.done("members")

        if event_types is None:
            report.status = "partial"
            report.not_done = list(run.left)
            return
        self._event_types(run, event_types, listed, plan, stored, links)
        self._drift(run, event_types)
        report.status = "partial" if report.errors else "ok"

    def _load(self, company: Company) -> _Stored:
        company_id = company.company_id
        return _Stored(
            staff=self._staff.list(company_id, active_only=False),
            mappings=self._mappings.list(company_id, active_only=False),
            reviews=self._reviews.list(company_id),
            team=self._team.load(company_id),
            services=self._services.list(company_id, active_only=False),
        )

    def _members(self, run: _Run, plan: MemberPlan, stored: _Stored) -> dict[int, str]:
        """Departed hosts' mappings deactivated, every accepted member resolved: user id -> staff id."""
        report = run.report
        self._resolver.prime(run.company, stored.staff, stored.mappings, [m.user_id for m in plan.members])
        team_id = run.company.calcom_team_id
        for user_id in plan.departed_user_ids:
            if user_id not in stored.active_mappings:
                continue
            run.check(f"deactivating the mapping of Cal.com user {user_id}")
            reason = f"Cal.com user {user_id} is no longer a member of team {team_id}"
            try:
                self._resolver.deactivate(run.company_id, user_id, SYNC_ACTOR, reason)
            except MappingConflict:
                continue  # deactivated meanwhile (an admin, a concurrent resolution)
            report.mappings_deactivated += 1

        links: dict[int, str] = {}
        linkable = plan.linkable
        for index, member in enumerate(linkable):
            run.check(f"linking {len(linkable) - index} of {len(linkable)} members to staff")
            host = member.host
            resolution = self._resolver.link_member(
                run.company_id, host, actor=SYNC_ACTOR, open_review=stored.open_reviews.get(review_key(host))
            )
            if resolution.staff_id is not None:
                links[member.user_id] = resolution.staff_id
            else:
                report.review_candidates += 1
            report.mappings_created += int(resolution.mapping_created)
            report.mappings_updated += int(resolution.mapping_refreshed)
        return links

    def _staff_links(self, run: _Run, plan: MemberPlan, stored: _Stored, links: dict[int, str]) -> None:
        run.check("setting the staff's Cal.com user ids")
        usernames = {member.user_id: member.username for member in plan.members}
        staff_plan = plan_staff_links(stored.staff, links, usernames, plan.departed_user_ids)
        if staff_plan.updates:
            for staff_id in self._staff.set_calcom_links(list(staff_plan.updates)):
                run.report.skipped.append(
                    SkippedItem(
                        kind="staff_link", ref=staff_id, reason="staff member deleted during the sync"
                    )
                )
            self._resolver.forget(run.company_id)  # its cached directory predates these links
        run.report.staff_linked = len(staff_plan.linked)
        run.report.staff_unlinked = len(staff_plan.unlinked)
        run.report.skipped.extend(staff_plan.skipped)
        run.done("staff links")

    def _event_types(
        self,
        run: _Run,
        event_types: list[TeamEventType],
        listed: list[CalcomMember],
        plan: MemberPlan,
        stored: _Stored,
        links: dict[int, str],
    ) -> None:
        run.check("importing the team event types")
        accepted = [m for m in listed if m.accepted]
        et_plan = plan_event_types(
            run.company_id,
            [_event_type_of(et, accepted) for et in event_types],
            stored.team.event_types,
            stored.services,
            {member.user_id: member for member in plan.members},
            links,
            run.now,
        )
        if et_plan.services:
            self._services.save_many(et_plan.services)
        self._team.save_event_types(list(et_plan.mappings))
        report = run.report
        report.event_types_imported = et_plan.imported
        report.event_types_removed = et_plan.removed
        report.services_created = len(et_plan.created)
        report.services_updated = len(et_plan.updated)
        report.services_deactivated = len(et_plan.deactivated)
        report.skipped.extend(et_plan.skipped)
        run.done("team event types")

    def _drift(self, run: _Run, event_types: list[TeamEventType]) -> None:
        run.check("checking the booking event types")
        repair = run.company.sync_repair_drift
        provisioner = EventTypeProvisioner(
            run.calcom,
            self._services,
            self._staff,
            self._mappings,
            self._event_map,
            self._clock,
            companies=self._companies,
        )
        # Missing event types (a new service, a staff member linked today) are created, so what
        # the sync imported can be booked; drift is only repaired when the company asks for it.
        provisioned = provisioner.provision_company(
            run.company, repair=repair, create_missing=True, team_event_types=event_types
        )
        self._drift_report(run.report, provisioned)
        run.done("booking event types")

    @staticmethod
    def _drift_report(report: SyncReport, provisioned: ProvisionReport) -> None:
        def describe(kind: str, results: list[SegmentResult]) -> list[str]:
            return [f"{r.ref}: {kind} " + ("; ".join(r.changes) or r.detail) for r in results]

        report.drift = describe("repaired", provisioned.repaired) + describe("drifted", provisioned.drifted)
        report.drift_found = len(report.drift)
        report.drift_repaired = len(provisioned.repaired)
        report.event_types_provisioned = len(provisioned.created) + len(provisioned.updated)
        report.skipped.extend(
            SkippedItem(kind="booking_event_type", ref=r.ref, reason=r.detail) for r in provisioned.failed
        )
        report.errors.extend(provisioned.errors)
