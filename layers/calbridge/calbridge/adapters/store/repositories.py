"""Repositories: tenant-scoped reads and writes that map PynamoDB records to domain models.

Every method takes the company id; nothing here can read another tenant's items. DynamoDB
failures surface as PynamoDB exceptions only at the edge of this module: callers see domain
errors (UnknownCompany, NotFound) or a StoreUnavailable.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, TypeVar

from pydantic import BaseModel
from pynamodb.exceptions import DoesNotExist, PynamoDBException, TransactWriteError
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from calbridge.adapters.store.models import (
    CompanyRecord,
    PhoneRouteRecord,
    ServiceRecord,
    StaffRecord,
    transaction_connection,
)
from calbridge.domain.models import Company, PhoneRoute, Service, StaffMember, normalize_phone
from calbridge.errors import NotFound, PhoneNumberTaken, StoreUnavailable, UnknownCompany

M = TypeVar("M", bound=BaseModel)
R = TypeVar("R", bound=Model)


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
    def get(self, company_id: str) -> Company:
        try:
            return _to_domain(CompanyRecord.get(company_id), Company)
        except DoesNotExist as exc:
            raise UnknownCompany(f"unknown company {company_id!r}") from exc
        except PynamoDBException as exc:
            raise StoreUnavailable("the company store is unavailable") from exc

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

    def save(self, company: Company) -> None:
        """Write the company and its phone routes in one transaction.

        A number routed to another company makes the whole write fail (PhoneNumberTaken);
        numbers the company no longer lists are removed in the same transaction.
        """
        wanted = {number: branch.branch_id for branch in company.branches for number in branch.phone_numbers}
        try:
            existing = {r.phone_number for r in PhoneRouteRecord.by_company.query(company.company_id)}
            with TransactWrite(connection=transaction_connection(), client_request_token=None) as tx:
                tx.save(_to_record(CompanyRecord, company))
                for number, branch_id in wanted.items():
                    route = PhoneRouteRecord(number, company_id=company.company_id, branch_id=branch_id)
                    tx.save(
                        route,
                        condition=PhoneRouteRecord.phone_number.does_not_exist()
                        | (PhoneRouteRecord.company_id == company.company_id),
                    )
                for number in existing - wanted.keys():
                    tx.delete(
                        PhoneRouteRecord(number),
                        condition=PhoneRouteRecord.company_id == company.company_id,
                    )
        except TransactWriteError as exc:
            if exc.cancellation_reasons and any(
                r is not None and r.code == "ConditionalCheckFailed" for r in exc.cancellation_reasons
            ):
                raise PhoneNumberTaken(
                    f"a phone number of company {company.company_id!r} routes to another company"
                ) from exc
            raise StoreUnavailable("the company store is unavailable") from exc
        except PynamoDBException as exc:
            raise StoreUnavailable("the company store is unavailable") from exc


class _CompanyScoped[E: BaseModel]:
    """list/get/save for a table keyed (company_id, <entity id>) holding one domain model."""

    record_type: type[Model]
    entity_type: type[E]
    noun: str  # for messages: "staff member", "service"

    def list(self, company_id: str, *, active_only: bool = True) -> list[E]:
        try:
            entities = [_to_domain(r, self.entity_type) for r in self.record_type.query(company_id)]
        except PynamoDBException as exc:
            raise StoreUnavailable(f"the {self.noun} store is unavailable") from exc
        return [e for e in entities if e.active or not active_only]  # type: ignore[attr-defined]

    def get(self, company_id: str, entity_id: str) -> E:
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

    def save_many(self, entities: list[E]) -> None:
        """Upsert in BatchWriteItem calls of 25 (PynamoDB retries unprocessed items)."""
        try:
            with self.record_type.batch_write() as batch:
                for entity in entities:
                    batch.save(_to_record(self.record_type, entity))
        except PynamoDBException as exc:
            raise StoreUnavailable(f"the {self.noun} store is unavailable") from exc


class StaffRepository(_CompanyScoped[StaffMember]):
    record_type = StaffRecord
    entity_type = StaffMember
    noun = "staff member"


class ServiceRepository(_CompanyScoped[Service]):
    record_type = ServiceRecord
    entity_type = Service
    noun = "service"
