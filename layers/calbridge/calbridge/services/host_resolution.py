"""Host resolution: which local staff member serves a Cal.com booking.

Order (DESIGN.md "Host resolution"): a valid active mapping wins; an invalid one (staff inactive
or gone) is deactivated with an audit record and resolution goes on with the strategies of
`domain.hosts.decide`. An auto-link creates the mapping and its audit in one transaction; when
two requests race, the loser re-reads and answers with the winner's staff member. Hosts that
cannot be linked are stored for an admin as review candidates or unmapped hosts. The strategies
run only against the staff a host could match (`domain.hosts.StaffIndex`), so resolving a whole
team (`link_member`, the team sync) grows linearly with its size.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, Literal

from aws_lambda_powertools.metrics import MetricUnit, single_metric
from pydantic import BaseModel, ConfigDict

from calbridge.adapters.cache import TtlCache
from calbridge.adapters.store.host_mappings import (
    AppointmentRepository,
    HostMappingRepository,
    HostReviewRepository,
)
from calbridge.adapters.store.repositories import CompanyRepository, StaffRepository
from calbridge.domain.hosts import (
    HostRef,
    ManualRule,
    MappingSource,
    Match,
    MatchDecision,
    Outcome,
    StaffIndex,
    decide,
    extract_hosts,
)
from calbridge.domain.mappings import (
    SYSTEM_ACTOR,
    AuditAction,
    HostMapping,
    HostReview,
    ManualRuleRecord,
    MappingAudit,
    calcom_users_by_staff,
    host_key,
    review_key,
    rule_key,
)
from calbridge.domain.models import Company, StaffMember
from calbridge.errors import InvalidRequest, MappingConflict, NotFound
from calbridge.observability import logger, metrics

EXISTING = "existing_mapping"


class Resolution(BaseModel):
    """The answer for one host: who serves, found how, and why."""

    model_config = ConfigDict(frozen=True)

    company_id: str
    calcom_host_id: int | None
    staff_id: str | None
    outcome: Literal["existing", "linked", "review", "unmatched"]
    strategy: str  # existing_mapping, or the strategy that linked (a MappingSource value), or "none"
    source: MappingSource | None  # the mapping's source
    confidence: int
    reason: str
    mapping_created: bool = False
    mapping_refreshed: bool = False  # link_member: the mapping took Cal.com's new name/e-mail/username


class BookingResolution(BaseModel):
    model_config = ConfigDict(frozen=True)

    primary: Resolution | None  # the organizer's (hosts[0])
    others: tuple[Resolution, ...] = ()  # round-robin / collective co-hosts among the attendees
    warnings: tuple[str, ...] = ()


def _now() -> datetime:
    return datetime.now(UTC)


class HostResolver:
    def __init__(
        self,
        companies: CompanyRepository,
        staff: StaffRepository,
        mappings: HostMappingRepository,
        reviews: HostReviewRepository,
        appointments: AppointmentRepository,
        *,
        cache_ttl_s: float,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self._companies = companies
        self._staff = staff
        self._mappings = mappings
        self._reviews = reviews
        self._appointments = appointments
        self._clock = clock
        # Per container: tenants' configuration, staff directories, mappings and rules.
        self._company_cache: TtlCache[str, Company] = TtlCache(cache_ttl_s)
        self._directory_cache: TtlCache[str, dict[str, StaffMember]] = TtlCache(cache_ttl_s)
        # The directory indexed for matching, rebuilt whenever the directory itself is reloaded.
        self._indexes: dict[str, tuple[dict[str, StaffMember], StaffIndex]] = {}
        self._mapping_cache: TtlCache[tuple[str, int], HostMapping | None] = TtlCache(cache_ttl_s)
        self._rules_cache: TtlCache[str, list[Any]] = TtlCache(cache_ttl_s)

    # ------------------------------------------------------------------ queries

    def company(self, company_id: str) -> Company:
        return self._company_cache.get(company_id, lambda: self._companies.get(company_id))

    def directory(self, company_id: str) -> dict[str, StaffMember]:
        """Every staff member of the company, active or not, by id."""
        return self._directory_cache.get(
            company_id, lambda: {m.staff_id: m for m in self._staff.list(company_id, active_only=False)}
        )

    def _indexed(self, company_id: str, directory: dict[str, StaffMember]) -> StaffIndex:
        """The directory indexed for matching (domain.hosts.StaffIndex), built once per directory."""
        built = self._indexes.get(company_id)
        if built is None or built[0] is not directory:
            built = (directory, StaffIndex(list(directory.values())))
            self._indexes[company_id] = built
        return built[1]

    def calcom_user(self, company_id: str, member: StaffMember) -> int | None:
        """The Cal.com user a staff member is booked as, by the rule availability and provisioning
        follow (domain.mappings.calcom_users_by_staff): their own `calcom_user_id` (the team sync's
        link), else the host an admin or host resolution mapped to them. The mappings are read only
        for a member the team sync has not linked yet."""
        if member.calcom_user_id is not None:
            return member.calcom_user_id
        found = calcom_users_by_staff([member], self._mappings.list(company_id)).get(member.staff_id)
        return found[0] if found else None

    def mapping(self, company_id: str, host_id: int) -> HostMapping | None:
        return self._mapping_cache.get((company_id, host_id), lambda: self._mappings.get(company_id, host_id))

    def prime(
        self,
        company: Company,
        staff: Iterable[StaffMember],
        mappings: Iterable[HostMapping],
        host_ids: Iterable[int],
    ) -> None:
        """Drop what this container cached about the company and seed the caches with what the
        caller has just read: the company, its whole staff and every mapping (`host_ids` without a
        listed mapping have none). Resolving many hosts in a row (the team sync) then reads nothing
        one by one while the cache lives."""
        company_id = company.company_id
        self.forget(company_id)
        self._company_cache.put(company_id, company)
        self._directory_cache.put(company_id, {member.staff_id: member for member in staff})
        listed = {mapping.host_id: mapping for mapping in mappings}
        for host_id in {*listed, *host_ids}:
            self._mapping_cache.put((company_id, host_id), listed.get(host_id))

    def forget(self, company_id: str) -> None:
        """Drop this container's cached view of a company (after an admin change here)."""
        self._company_cache.invalidate(company_id)
        self._directory_cache.invalidate(company_id)
        self._indexes.pop(company_id, None)
        self._rules_cache.invalidate(company_id)
        self._mapping_cache.clear()

    def clear(self) -> None:
        """Drop everything this container cached (tests reseeding the local stack use it)."""
        for cache in (self._company_cache, self._directory_cache, self._mapping_cache, self._rules_cache):
            cache.clear()
        self._indexes.clear()

    # ------------------------------------------------------------------ resolution

    def resolve(self, company_id: str, host: HostRef) -> Resolution:
        return self._resolve(company_id, host, actor=SYSTEM_ACTOR, assigning=True)

    def link_member(
        self, company_id: str, host: HostRef, *, actor: str, open_review: HostReview | None = None
    ) -> Resolution:
        """The team sync's resolution of a Cal.com team member: `resolve`'s order and strategies,
        with three differences so that a sync that finds nothing new writes nothing:

        - an existing valid mapping whose Cal.com name, e-mail or username changed is refreshed
          (an `updated` audit, by `actor`);
        - `open_review` is the host's open review, None when it has none (the sync reads them all
          at once): an unresolved member whose review says the same is not recorded again, and a
          link closes a review only when there is one;
        - no StaffAssigned / StaffUnassigned metrics: no appointment is being assigned.
        """
        return self._resolve(
            company_id,
            host,
            actor=actor,
            assigning=False,
            refresh=True,
            open_review=open_review,
            close_review=open_review is not None,
        )

    def _resolve(
        self,
        company_id: str,
        host: HostRef,
        *,
        actor: str,
        assigning: bool,
        refresh: bool = False,
        open_review: HostReview | None = None,
        close_review: bool = True,
    ) -> Resolution:
        company = self.company(company_id)
        directory = self.directory(company_id)
        current = self.mapping(company_id, host.id) if host.id is not None else None
        if current is not None and current.is_active:
            problem = self._invalid_because(current, directory)
            if problem is None:
                refreshed = self._refresh(current, host, actor) if refresh else current
                found = self._existing(refreshed, "the host's active mapping", assigning=assigning)
                return found.model_copy(update={"mapping_refreshed": refreshed is not current})
            current = self._deactivate(current, actor, f"mapping no longer valid: {problem}")

        rules = self._rules_cache.get(company_id, lambda: self._mappings.rules(company_id))
        manual = [ManualRule(match_on=r.match_on, value=r.value, staff_id=r.staff_id) for r in rules]
        candidates = self._indexed(company_id, directory).candidates(host, manual)
        decision = decide(host, candidates, manual, threshold=company.host_match_threshold)
        if decision.outcome is Outcome.LINK and decision.best is not None:
            return self._link(
                company_id,
                host,
                decision.best,
                replaces=current,
                actor=actor,
                assigning=assigning,
                close_review=close_review,
            )
        return self._unresolved(company_id, host, decision, assigning=assigning, open_review=open_review)

    def resolve_booking(self, company_id: str, booking: Mapping[str, Any]) -> BookingResolution:
        """Resolve every host of a Cal.com booking; no hosts is a warning, never an error."""
        directory = self.directory(company_id)
        team_emails = {e for m in directory.values() for e in (m.email, *m.other_emails) if e}
        extraction = extract_hosts(booking, team_emails)
        for warning in extraction.warnings:
            logger.warning("host extraction", company_id=company_id, warning=warning)
        if not extraction.hosts:
            self._count("StaffUnassigned")
            return BookingResolution(primary=None, warnings=extraction.warnings)
        resolutions = [self.resolve(company_id, host) for host in extraction.hosts]
        return BookingResolution(
            primary=resolutions[0], others=tuple(resolutions[1:]), warnings=extraction.warnings
        )

    def assign_appointment(
        self, company_id: str, appointment_id: str, booking: Mapping[str, Any]
    ) -> BookingResolution:
        """Resolve the booking's hosts and record the organizer's staff member on the appointment."""
        self._appointments.get(company_id, appointment_id)  # NotFound before anything is written
        resolution = self.resolve_booking(company_id, booking)
        primary = resolution.primary
        self._appointments.assign_staff(
            company_id,
            appointment_id,
            staff_id=primary.staff_id if primary else None,
            calcom_host_id=primary.calcom_host_id if primary else None,
            source=primary.strategy if primary else None,
            confidence=primary.confidence if primary else None,
            reason=primary.reason if primary else "the booking has no hosts",
        )
        return resolution

    # ------------------------------------------------------------------ admin operations

    def deactivate(self, company_id: str, host_id: int, actor: str, reason: str) -> HostMapping:
        mapping = self._mappings.get(company_id, host_id)
        if mapping is None or not mapping.is_active:
            raise MappingConflict(f"host {host_id} has no active mapping")
        return self._deactivate(mapping, actor, reason)

    def override(self, company_id: str, host: HostRef, staff_id: str, actor: str, reason: str) -> HostMapping:
        """An admin links a host id to a staff member; it beats every automatic strategy afterwards."""
        if host.id is None:
            raise InvalidRequest("a mapping needs the Cal.com host id", field="host.id")
        self._require_active_staff(company_id, staff_id)
        current = self._mappings.get(company_id, host.id)
        now = self._clock()
        mapping = HostMapping(
            company_id=company_id,
            host_id=host.id,
            staff_id=staff_id,
            calcom_name=host.name or (current.calcom_name if current else None),
            calcom_email=host.email or (current.calcom_email if current else None),
            calcom_username=host.username or (current.calcom_username if current else None),
            calcom_time_zone=host.time_zone or (current.calcom_time_zone if current else None),
            source=MappingSource.MANUAL,
            confidence=100,
            last_synced_at=current.last_synced_at if current else None,
            metadata={"set_by": actor},
            version=current.version + 1 if current else 1,
            created_at=current.created_at if current else now,
            updated_at=now,
        )
        action = AuditAction.MANUAL_OVERRIDE if current else AuditAction.CREATED
        self._mappings.write(
            mapping,
            self._audit(mapping.key, company_id, action, current, mapping, actor, reason),
            replaces=current,
        )
        self._mapping_cache.put((company_id, host.id), mapping)
        self._reviews.resolve(company_id, host_key(host.id))
        self._count("MappingCreated")
        return mapping

    def add_rule(
        self,
        company_id: str,
        match_on: Literal["email", "username"],
        value: str,
        staff_id: str,
        actor: str,
        reason: str,
    ) -> ManualRuleRecord:
        """An admin's mapping by e-mail or username, applied (priority 200) when that host is met."""
        self._require_active_staff(company_id, staff_id)
        rule = ManualRuleRecord(
            company_id=company_id,
            match_on=match_on,
            value=value.strip().lower(),
            staff_id=staff_id,
            created_by=actor,
            created_at=self._clock(),
        )
        key = rule_key(match_on, rule.value)
        audit = self._audit(key, company_id, AuditAction.CREATED, None, None, actor, reason)
        self._mappings.save_rule(rule, audit.model_copy(update={"new_values": rule.model_dump(mode="json")}))
        self._rules_cache.invalidate(company_id)
        return rule

    def audit_trail(self, company_id: str, host_id: int) -> list[MappingAudit]:
        return self._mappings.audits(company_id, host_key(host_id))

    # ------------------------------------------------------------------ internals

    def _require_active_staff(self, company_id: str, staff_id: str) -> None:
        self.company(company_id)  # UnknownCompany for a wrong tenant
        self._directory_cache.invalidate(company_id)  # an admin acts on fresh data
        member = self.directory(company_id).get(staff_id)
        if member is None:
            raise NotFound(f"unknown staff member {staff_id!r} in company {company_id!r}")
        if not member.active:
            raise InvalidRequest(f"staff member {staff_id!r} is inactive", field="staff_id")

    @staticmethod
    def _invalid_because(mapping: HostMapping, directory: dict[str, StaffMember]) -> str | None:
        member = directory.get(mapping.staff_id)
        if member is None:
            return f"staff member {mapping.staff_id} does not exist in company {mapping.company_id}"
        if not member.active:
            return f"staff member {mapping.staff_id} is inactive"
        return None

    def _existing(self, mapping: HostMapping, why: str, *, assigning: bool = True) -> Resolution:
        if assigning:
            self._count("StaffAssigned")
        return Resolution(
            company_id=mapping.company_id,
            calcom_host_id=mapping.host_id,
            staff_id=mapping.staff_id,
            outcome="existing",
            strategy=EXISTING,
            source=mapping.source,
            confidence=mapping.confidence,
            reason=f"{why} ({mapping.source.value}, confidence {mapping.confidence})",
        )

    def _deactivate(self, mapping: HostMapping, actor: str, reason: str) -> HostMapping:
        inactive = mapping.model_copy(
            update={"is_active": False, "version": mapping.version + 1, "updated_at": self._clock()}
        )
        audit = self._audit(
            mapping.key, mapping.company_id, AuditAction.DELETED, mapping, inactive, actor, reason
        )
        try:
            self._mappings.write(inactive, audit, replaces=mapping)
        except MappingConflict:
            # Someone else changed it first: their version stands; continue from what is stored.
            stored = self._mappings.get(mapping.company_id, mapping.host_id)
            self._mapping_cache.put((mapping.company_id, mapping.host_id), stored)
            if stored is None:
                raise
            return stored
        logger.info(
            "host mapping deactivated", company_id=mapping.company_id, host_id=mapping.host_id, reason=reason
        )
        self._mapping_cache.put((mapping.company_id, mapping.host_id), inactive)
        return inactive

    def _refresh(self, mapping: HostMapping, host: HostRef, actor: str) -> HostMapping:
        """The mapping with Cal.com's current name, e-mail and username (audited), or as it was
        when nothing changed (a missing value never erases a known one)."""
        fields = {"calcom_name": host.name, "calcom_email": host.email, "calcom_username": host.username}
        changes = {k: v for k, v in fields.items() if v is not None and v != getattr(mapping, k)}
        if not changes:
            return mapping
        now = self._clock()
        refreshed = mapping.model_copy(
            update={**changes, "version": mapping.version + 1, "updated_at": now, "last_synced_at": now}
        )
        what = ", ".join(k.removeprefix("calcom_").replace("email", "e-mail") for k in changes)
        audit = self._audit(
            mapping.key,
            mapping.company_id,
            AuditAction.UPDATED,
            mapping,
            refreshed,
            actor,
            f"Cal.com changed the host's {what}",
        )
        try:
            self._mappings.write(refreshed, audit, replaces=mapping)
        except MappingConflict:
            stored = self._mappings.get(mapping.company_id, mapping.host_id)
            self._mapping_cache.put((mapping.company_id, mapping.host_id), stored)
            return stored if stored is not None and stored.is_active else mapping
        self._mapping_cache.put((mapping.company_id, mapping.host_id), refreshed)
        return refreshed

    def _link(
        self,
        company_id: str,
        host: HostRef,
        best: Match,
        replaces: HostMapping | None,
        *,
        actor: str = SYSTEM_ACTOR,
        assigning: bool = True,
        close_review: bool = True,
    ) -> Resolution:
        if host.id is None:
            # No id to key a mapping on: answer for this booking, remember nothing.
            if assigning:
                self._count("StaffAssigned")
            self._confidence(best)
            return Resolution(
                company_id=company_id,
                calcom_host_id=None,
                staff_id=best.staff_id,
                outcome="linked",
                strategy=best.source.value,
                source=best.source,
                confidence=best.confidence,
                reason=f"{best.reason}; not stored: the host has no Cal.com id",
            )
        now = self._clock()
        mapping = HostMapping(
            company_id=company_id,
            host_id=host.id,
            staff_id=best.staff_id,
            calcom_name=host.name,
            calcom_email=host.email,
            calcom_username=host.username,
            calcom_time_zone=host.time_zone,
            source=best.source,
            confidence=best.confidence,
            last_synced_at=now,
            metadata={"strategy_reason": best.reason},
            version=replaces.version + 1 if replaces else 1,
            created_at=now,
            updated_at=now,
        )
        audit = self._audit(
            mapping.key, company_id, AuditAction.AUTO_MATCHED, replaces, mapping, actor, best.reason
        )
        try:
            self._mappings.write(mapping, audit, replaces=replaces)
        except MappingConflict:
            winner = self._mappings.get(company_id, host.id)
            self._mapping_cache.put((company_id, host.id), winner)
            if winner is None or not winner.is_active:
                raise
            return self._existing(winner, "linked concurrently by another request", assigning=assigning)
        self._mapping_cache.put((company_id, host.id), mapping)
        if close_review:
            self._reviews.resolve(company_id, host_key(host.id))
        self._count("MappingCreated")
        if assigning:
            self._count("StaffAssigned")
        self._confidence(best)
        logger.info(
            "host linked",
            company_id=company_id,
            host_id=host.id,
            staff_id=best.staff_id,
            strategy=best.source.value,
        )
        return Resolution(
            company_id=company_id,
            calcom_host_id=host.id,
            staff_id=best.staff_id,
            outcome="linked",
            strategy=best.source.value,
            source=best.source,
            confidence=best.confidence,
            reason=best.reason,
            mapping_created=True,
        )

    def _unresolved(
        self,
        company_id: str,
        host: HostRef,
        decision: MatchDecision,
        *,
        assigning: bool = True,
        open_review: HostReview | None = None,
    ) -> Resolution:
        now = self._clock()
        kind: Literal["review", "unmapped"] = "review" if decision.candidates else "unmapped"
        review = HostReview(
            company_id=company_id,
            host_key=review_key(host),
            host=host,
            kind=kind,
            candidates=decision.candidates,
            reason=decision.reason,
            first_seen=now,
            last_seen=now,
        )
        unchanged = ("host_key", "host", "kind", "status", "candidates", "reason")
        if open_review is None or open_review.model_dump(include=set(unchanged)) != review.model_dump(
            include=set(unchanged)
        ):
            self._reviews.record(review)
            if kind == "review":
                self._count("ReviewCandidate")
        if assigning:
            self._count("StaffUnassigned")
        top = decision.candidates[0] if decision.candidates else None
        return Resolution(
            company_id=company_id,
            calcom_host_id=host.id,
            staff_id=None,
            outcome=kind if kind == "review" else "unmatched",
            strategy=top.source.value if top else "none",
            source=None,
            confidence=top.confidence if top else 0,
            reason=decision.reason,
        )

    def _audit(
        self,
        mapping_key: str,
        company_id: str,
        action: AuditAction,
        old: HostMapping | None,
        new: HostMapping | None,
        actor: str,
        reason: str,
    ) -> MappingAudit:
        return MappingAudit(
            company_id=company_id,
            mapping_key=mapping_key,
            audit_id=uuid.uuid4().hex[:12],
            action=action,
            old_values=old.audit_view() if old else None,
            new_values=new.audit_view() if new else None,
            changed_by=actor,
            changed_at=self._clock(),
            reason=reason,
        )

    @staticmethod
    def _count(name: str) -> None:
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=1)

    @staticmethod
    def _confidence(match: Match) -> None:
        with single_metric(
            name="MatchConfidence",
            unit=MetricUnit.NoUnit,
            value=match.confidence,
            namespace=metrics.namespace,
        ) as metric:
            metric.add_dimension(name="strategy", value=match.source.value)
