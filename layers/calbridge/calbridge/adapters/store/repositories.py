"""Repositories: tenant-scoped reads and writes that map PynamoDB records to domain models.

Every method takes the company id; nothing here can read another tenant's items. DynamoDB
failures surface as PynamoDB exceptions only at the edge of this module: callers see domain
errors (UnknownCompany, NotFound) or a StoreUnavailable.

Built with `cache_ttl_s` (wiring.config_reads: the Retell webhook's inbound and tool path), a
repository keeps what it read of a company (the company; all its staff or services) for that
many seconds in this container (adapters/cache.py), like host resolution does: a change made
elsewhere shows within the TTL, one saved through the same repository at once.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from functools import partial
from typing import Any, TypeVar

from pydantic import BaseModel
from pynamodb.exceptions import DoesNotExist, PynamoDBException, TransactWriteError
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from calbridge.adapters.cache import TtlCache
from calbridge.adapters.store.models import (
    AGENT_ROUTE_PREFIX,
    AgentRouteRecord,
    CompanyRecord,
    PhoneRouteRecord,
    ServiceRecord,
    StaffRecord,
    conditional_write,
    transaction_connection,
)
from calbridge.domain.models import Company, PhoneRoute, Service, StaffMember, normalize_phone
from calbridge.errors import MappingConflict, NotFound, PhoneNumberTaken, StoreUnavailable, UnknownCompany

M = TypeVar("M", bound=BaseModel)
R = TypeVar("R", bound=Model)

# The company attributes an admin may change on their own (PATCH .../settings): each is one
# attribute of CompanyRecord, none touches the branches or the phone routes. retell_agent_ids also
# writes the agent routes, in the same transaction.
COMPANY_SETTINGS = (
    "language",
    "host_match_threshold",
    "booking_window_days",
    "minimum_notice_minutes",
    "opening_hours",
    "sync_repair_drift",
    "retell_agent_ids",
    "call_retention_days",
    "appointment_retention_days",
    "sms_confirmations",
)
_UNAVAILABLE = "the company store is unavailable"


def _condition_failed(exc: TransactWriteError) -> bool:
    return any(r is not None and r.code == "ConditionalCheckFailed" for r in exc.cancellation_reasons or [])


class _Unclaimed(Exception):
    """No company claims the agent id: raised out of the cache's loader so a miss is not cached."""


def _to_domain[M: BaseModel](record: Any, model: type[M]) -> M:
    data = record.to_simple_dict()
    data.pop("updated_at", None)
    return model.model_validate(data)


def _to_record[R: Model](record_type: type[R], entity: BaseModel) -> R:
    record = record_type()
    record.from_simple_dict(entity.model_dump(mode="json"))
    record.updated_at = datetime.now(UTC)
    return record


class CompanyRepository:
    def __init__(self, cache_ttl_s: float = 0) -> None:
        self._cache: TtlCache[str, Company] = TtlCache(cache_ttl_s)  # 0: every read reads
        # agent id -> company id. Only claims are kept: an agent id set a moment ago routes at once.
        self._agents: TtlCache[str, str] = TtlCache(cache_ttl_s)

    def get(self, company_id: str) -> Company:
        return self._cache.get(company_id, lambda: self._read(company_id))

    @staticmethod
    def _read(company_id: str) -> Company:
        try:
            return _to_domain(CompanyRecord.get(company_id), Company)
        except DoesNotExist as exc:
            raise UnknownCompany(f"unknown company {company_id!r}") from exc
        except PynamoDBException as exc:
            raise StoreUnavailable("the company store is unavailable") from exc

    def clear_cache(self) -> None:
        self._cache.clear()
        self._agents.clear()

    def calcom_team_ids(self) -> dict[str, int | None]:
        """Every company's Cal.com team id (None when unset), for the nightly team sync's fan-out.

        The one read across tenants: a Scan that returns only these two attributes (the table
        holds one small item per company).
        """
        try:
            return {
                r.company_id: None if r.calcom_team_id is None else int(r.calcom_team_id)
                for r in CompanyRecord.scan(attributes_to_get=["company_id", "calcom_team_id"])
            }
        except PynamoDBException as exc:
            raise StoreUnavailable("the company store is unavailable") from exc

    def all(self) -> list[Company]:
        """Every company, for the platform's admins (a Scan: one small item per company)."""
        try:
            return [_to_domain(record, Company) for record in CompanyRecord.scan()]
        except PynamoDBException as exc:
            raise StoreUnavailable(_UNAVAILABLE) from exc

    def route_for(self, dialled_number: str) -> PhoneRoute | None:
        """The company/branch a dialled number answers for, or None if nobody claims it."""
        try:
            number = normalize_phone(dialled_number)
        except ValueError:
            return None
        try:
            return _to_domain(PhoneRouteRecord.get(number), PhoneRoute)
        except DoesNotExist:
            return None
        except PynamoDBException as exc:
            raise StoreUnavailable("the phone routing store is unavailable") from exc

    def company_of_agent(self, agent_id: str) -> str | None:
        """The company a Retell agent answers for (one GetItem, or this container's cache), or None."""
        try:
            return self._agents.get(agent_id, lambda: self._read_agent_route(agent_id))
        except _Unclaimed:
            return None

    @staticmethod
    def _read_agent_route(agent_id: str) -> str:
        try:
            return AgentRouteRecord.get(AGENT_ROUTE_PREFIX + agent_id).company_id
        except DoesNotExist as exc:
            raise _Unclaimed(agent_id) from exc
        except PynamoDBException as exc:
            raise StoreUnavailable("the agent routing store is unavailable") from exc

    def save(self, company: Company) -> None:
        """Write the company, its phone routes and its agent routes in one transaction.

        A number routed to another company makes the whole write fail (PhoneNumberTaken), an agent
        id another company claims too (MappingConflict); numbers and agents the company no longer
        lists are removed in the same transaction.
        """
        wanted = {number: branch.branch_id for branch in company.branches for number in branch.phone_numbers}
        try:
            routed = self._routed_keys(company.company_id)
            stale = {key for key in routed if not key.startswith(AGENT_ROUTE_PREFIX)} - wanted.keys()
            with TransactWrite(connection=transaction_connection(), client_request_token=None) as tx:
                tx.save(_to_record(CompanyRecord, company))
                for number, branch_id in wanted.items():
                    route = PhoneRouteRecord(number, company_id=company.company_id, branch_id=branch_id)
                    tx.save(
                        route,
                        condition=PhoneRouteRecord.phone_number.does_not_exist()
                        | (PhoneRouteRecord.company_id == company.company_id),
                    )
                for number in stale:
                    tx.delete(
                        PhoneRouteRecord(number),
                        condition=PhoneRouteRecord.company_id == company.company_id,
                    )
                self._write_agent_routes(tx, company, routed)
        except TransactWriteError as exc:
            if not _condition_failed(exc):
                raise StoreUnavailable(_UNAVAILABLE) from exc
            if self._agents_claimed_elsewhere(company):
                raise self._agent_taken(company) from exc
            raise PhoneNumberTaken(
                f"a phone number of company {company.company_id!r} routes to another company"
            ) from exc
        except PynamoDBException as exc:
            raise StoreUnavailable(_UNAVAILABLE) from exc
        finally:
            self._cache.invalidate(company.company_id)
            self._agents.clear()

    @staticmethod
    def _routed_keys(company_id: str) -> set[str]:
        """The keys of every route of the company: its phone numbers and "agent#<id>" keys."""
        return {r.phone_number for r in PhoneRouteRecord.by_company.query(company_id)}

    @staticmethod
    def _write_agent_routes(tx: TransactWrite, company: Company, routed: set[str]) -> None:
        """Claim the company's agent ids (refused if another company holds one) and release the
        ones it no longer lists. Every agent route of the company is rewritten: cheap (a few
        items) and it re-checks each claim in the transaction."""
        wanted = {AGENT_ROUTE_PREFIX + agent_id for agent_id in company.retell_agent_ids}
        for key in wanted:
            tx.save(
                AgentRouteRecord(key, company_id=company.company_id),
                condition=AgentRouteRecord.route_key.does_not_exist()
                | (AgentRouteRecord.company_id == company.company_id),
            )
        for key in {k for k in routed if k.startswith(AGENT_ROUTE_PREFIX)} - wanted:
            tx.delete(AgentRouteRecord(key), condition=AgentRouteRecord.company_id == company.company_id)

    def _agents_claimed_elsewhere(self, company: Company) -> bool:
        """After a refused transaction: does another company hold one of the company's agent ids?
        (Read again rather than told by the cancellation reasons, whose order is PynamoDB's
        grouping of the operations, not ours.)"""
        for agent_id in company.retell_agent_ids:
            try:
                owner = self._read_agent_route(agent_id)
            except _Unclaimed:
                continue
            if owner != company.company_id:
                return True
        return False

    @staticmethod
    def _agent_taken(company: Company) -> MappingConflict:
        return MappingConflict(f"a Retell agent id of company {company.company_id!r} serves another company")

    def save_settings(self, company: Company, fields: Iterable[str]) -> None:
        """Write only the named settings of the company (COMPANY_SETTINGS), to a company that
        still exists: its name, branches and phone routes are neither read nor rewritten, and a
        company deleted meanwhile is not brought back (UnknownCompany)."""
        names = sorted(set(fields))
        unknown = set(names) - set(COMPANY_SETTINGS)
        if unknown:
            raise ValueError(f"not company settings: {sorted(unknown)}")
        data = company.model_dump(mode="json", include=set(names))
        actions: list[Any] = [
            getattr(CompanyRecord, name).remove()
            if data[name] is None
            else getattr(CompanyRecord, name).set(data[name])
            for name in names
        ]
        actions.append(CompanyRecord.updated_at.set(datetime.now(UTC)))
        record = CompanyRecord(company.company_id)
        try:
            if "retell_agent_ids" in names:
                written = self._save_with_agent_routes(company, record, actions)
            else:
                written = conditional_write(
                    lambda: record.update(actions=actions, condition=CompanyRecord.company_id.exists()),
                    unavailable=_UNAVAILABLE,
                )
        finally:
            self._cache.invalidate(company.company_id)
            self._agents.clear()
        if not written:
            raise UnknownCompany(f"unknown company {company.company_id!r}")

    def _save_with_agent_routes(self, company: Company, record: CompanyRecord, actions: list[Any]) -> bool:
        """The settings update and the company's agent routes in one transaction; False when the
        company is gone, MappingConflict when another company claims one of the agent ids."""
        try:
            routed = self._routed_keys(company.company_id)
            with TransactWrite(connection=transaction_connection(), client_request_token=None) as tx:
                tx.update(record, actions=actions, condition=CompanyRecord.company_id.exists())
                self._write_agent_routes(tx, company, routed)
        except TransactWriteError as exc:
            if not _condition_failed(exc):
                raise StoreUnavailable(_UNAVAILABLE) from exc
            if self._agents_claimed_elsewhere(company):
                raise self._agent_taken(company) from exc
            return False  # the company's own condition: it is gone
        except PynamoDBException as exc:
            raise StoreUnavailable(_UNAVAILABLE) from exc
        return True


class _CompanyScoped[E: BaseModel]:
    """list/get/save for a table keyed (company_id, <entity id>) holding one domain model."""

    record_type: type[Model]
    entity_type: type[E]
    noun: str  # for messages: "staff member", "service"
    id_field: str  # the entity's id: "staff_id", "service_id"

    def __init__(self, cache_ttl_s: float = 0) -> None:
        # company -> every entity, active or not (0: every read reads)
        self._cache: TtlCache[str, dict[str, E]] = TtlCache(cache_ttl_s)
        self._cached = cache_ttl_s > 0

    def list(self, company_id: str, *, active_only: bool = True) -> list[E]:
        entities = self._cache.get(company_id, lambda: self._read_all(company_id)).values()
        return [e for e in entities if e.active or not active_only]  # type: ignore[attr-defined]

    def _read_all(self, company_id: str) -> dict[str, E]:
        try:
            entities = [_to_domain(r, self.entity_type) for r in self.record_type.query(company_id)]
        except PynamoDBException as exc:
            raise StoreUnavailable(f"the {self.noun} store is unavailable") from exc
        return {getattr(e, self.id_field): e for e in entities}

    def get(self, company_id: str, entity_id: str) -> E:
        if self._cached:  # from the company's cached entities
            found = self._cache.get(company_id, lambda: self._read_all(company_id)).get(entity_id)
            if found is None:
                raise NotFound(f"unknown {self.noun} {entity_id!r}")
            return found
        try:
            return _to_domain(self.record_type.get(company_id, entity_id), self.entity_type)
        except DoesNotExist as exc:
            raise NotFound(f"unknown {self.noun} {entity_id!r}") from exc
        except PynamoDBException as exc:
            raise StoreUnavailable(f"the {self.noun} store is unavailable") from exc

    def save(self, entity: E) -> None:
        try:
            _to_record(self.record_type, entity).save()
        except PynamoDBException as exc:
            raise StoreUnavailable(f"the {self.noun} store is unavailable") from exc
        finally:
            self._cache.invalidate(entity.company_id)  # type: ignore[attr-defined]

    def save_many(self, entities: list[E]) -> None:
        """Upsert in BatchWriteItem calls of 25 (PynamoDB retries unprocessed items)."""
        try:
            with self.record_type.batch_write() as batch:
                for entity in entities:
                    batch.save(_to_record(self.record_type, entity))
        except PynamoDBException as exc:
            raise StoreUnavailable(f"the {self.noun} store is unavailable") from exc
        finally:
            for company_id in {e.company_id for e in entities}:  # type: ignore[attr-defined]
                self._cache.invalidate(company_id)

    def clear_cache(self) -> None:
        self._cache.clear()


class StaffRepository(_CompanyScoped[StaffMember]):
    record_type = StaffRecord
    entity_type = StaffMember
    noun = "staff member"
    id_field = "staff_id"

    def set_calcom_links(self, members: list[StaffMember]) -> list[str]:
        """Write only the members' Cal.com user id and username, each to a staff member that still
        exists: an admin's edit of the same member meanwhile (name, e-mail, active) is kept, and a
        member deleted meanwhile is not brought back. Returns the staff ids that were gone."""
        gone: list[str] = []
        try:
            for member in members:
                record = StaffRecord(member.company_id, member.staff_id)
                calcom_fields = [
                    StaffRecord.calcom_user_id.remove()
                    if member.calcom_user_id is None
                    else StaffRecord.calcom_user_id.set(member.calcom_user_id),
                    StaffRecord.calcom_username.remove()
                    if member.calcom_username is None
                    else StaffRecord.calcom_username.set(member.calcom_username),
                    StaffRecord.updated_at.set(datetime.now(UTC)),
                ]
                update = partial(
                    record.update, actions=calcom_fields, condition=StaffRecord.staff_id.exists()
                )
                if not conditional_write(update, unavailable=f"the {self.noun} store is unavailable"):
                    gone.append(member.staff_id)
        finally:
            for company_id in {m.company_id for m in members}:
                self._cache.invalidate(company_id)
        return gone


class ServiceRepository(_CompanyScoped[Service]):
    record_type = ServiceRecord
    entity_type = Service
    noun = "service"
    id_field = "service_id"
