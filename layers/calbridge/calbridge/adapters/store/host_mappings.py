"""Host mappings, manual rules, audits and review candidates in DynamoDB.

Every change of a mapping is one TransactWrite: the mapping (conditional on its absence or on the
version the writer read) together with its audit record. A lost condition surfaces as
MappingConflict, so the caller re-reads instead of overwriting (docs/adr/0005-host-resolution.md).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pynamodb.exceptions import DoesNotExist, PynamoDBException, TransactWriteError
from pynamodb.transactions import TransactWrite

from calbridge.adapters.cache import CacheGroup, TtlCache
from calbridge.adapters.store.models import (
    AppointmentRecord,
    HostMappingRecord,
    HostReviewRecord,
    MappingAuditRecord,
    conditional_write,
    transaction_connection,
)
from calbridge.domain.mappings import (
    HostMapping,
    HostReview,
    ManualRuleRecord,
    MappingAudit,
    ReviewStatus,
    host_key,
    rule_key,
)
from calbridge.errors import MappingConflict, NotFound, StoreUnavailable

_UNAVAILABLE = "the host mapping store is unavailable"


def _set_or_remove(attribute: Any, value: Any) -> Any:
    return attribute.remove() if value is None else attribute.set(value)


def _lost_condition(exc: TransactWriteError) -> bool:
    return any(r is not None and r.code == "ConditionalCheckFailed" for r in exc.cancellation_reasons or [])


def _audit_record(audit: MappingAudit) -> MappingAuditRecord:
    return MappingAuditRecord(
        audit.company_id,
        f"{audit.mapping_key}#{audit.changed_at.isoformat()}#{audit.audit_id}",
        mapping_key=audit.mapping_key,
        audit_id=audit.audit_id,
        action=audit.action.value,
        old_values=audit.old_values,
        new_values=audit.new_values,
        changed_by=audit.changed_by,
        changed_at=audit.changed_at,
        reason=audit.reason,
    )


def _mapping_record(mapping: HostMapping) -> HostMappingRecord:
    data = mapping.model_dump(mode="python")
    return HostMappingRecord(
        mapping.company_id,
        mapping.key,
        **{k: v for k, v in data.items() if k != "company_id"},
    )


def _mapping(record: HostMappingRecord) -> HostMapping:
    data = record.to_simple_dict()
    for rule_only in ("mapping_key", "match_on", "value", "created_by"):
        data.pop(rule_only, None)
    return HostMapping.model_validate(data)


# Every cached listing in this container: a write through any repository instance drops them all.
_LISTINGS = CacheGroup()


class HostMappingRepository:
    def __init__(self, cache_ttl_s: float = 0) -> None:
        # The tool path's listing (availability, booking plans) is kept per container for
        # `cache_ttl_s`, as the company directory is (wiring.config_reads); writes drop it.
        self._listed: TtlCache[tuple[str, bool], list[HostMapping]] = _LISTINGS.new(cache_ttl_s)

    def get(self, company_id: str, host_id: int) -> HostMapping | None:
        """The mapping of a host, active or not; None if the host was never mapped."""
        try:
            return _mapping(HostMappingRecord.get(company_id, host_key(host_id)))
        except DoesNotExist:
            return None
        except PynamoDBException as exc:
            raise StoreUnavailable(_UNAVAILABLE) from exc

    def list(self, company_id: str, *, active_only: bool = True) -> list[HostMapping]:
        return list(self._listed.get((company_id, active_only), lambda: self._read(company_id, active_only)))

    @staticmethod
    def clear_cache() -> None:
        """Forget every listing this container cached (tests that reset the tables)."""
        _LISTINGS.clear()

    @staticmethod
    def _read(company_id: str, active_only: bool) -> list[HostMapping]:
        try:
            records = HostMappingRecord.query(company_id, HostMappingRecord.mapping_key.startswith("host#"))
            mappings = [_mapping(r) for r in records]
        except PynamoDBException as exc:
            raise StoreUnavailable(_UNAVAILABLE) from exc
        return [m for m in mappings if m.is_active or not active_only]

    def rules(self, company_id: str) -> list[ManualRuleRecord]:
        try:
            records = HostMappingRecord.query(company_id, HostMappingRecord.mapping_key.startswith("rule#"))
            return [
                ManualRuleRecord(
                    company_id=company_id,
                    match_on=r.match_on,
                    value=r.value,
                    staff_id=r.staff_id,
                    created_by=r.created_by or "",
                    created_at=r.created_at,
                )
                for r in records
                if r.is_active
            ]
        except PynamoDBException as exc:
            raise StoreUnavailable(_UNAVAILABLE) from exc

    def write(self, mapping: HostMapping, audit: MappingAudit, *, replaces: HostMapping | None) -> None:
        """Create a mapping (replaces=None) or replace the version `replaces` holds, with its audit.

        Raises MappingConflict when the mapping exists (create) or changed since it was read.
        """
        record = _mapping_record(mapping)
        condition = (
            HostMappingRecord.mapping_key.does_not_exist()
            if replaces is None
            else HostMappingRecord.version == replaces.version
        )
        _LISTINGS.clear()
        self._transact(record, condition, audit)

    def save_rule(self, rule: ManualRuleRecord, audit: MappingAudit) -> None:
        """An admin's rule by e-mail or username (a newer rule for the same value replaces it)."""
        record = HostMappingRecord(
            rule.company_id,
            rule_key(rule.match_on, rule.value),
            staff_id=rule.staff_id,
            match_on=rule.match_on,
            value=rule.value.strip().lower(),
            created_by=rule.created_by,
            source="manual",
            is_active=True,
            created_at=rule.created_at,
            updated_at=rule.created_at,
        )
        self._transact(record, None, audit)

    def audits(self, company_id: str, mapping_key: str) -> list[MappingAudit]:
        try:
            records = MappingAuditRecord.query(
                company_id, MappingAuditRecord.audit_key.startswith(f"{mapping_key}#")
            )
            return [
                MappingAudit.model_validate({**r.to_simple_dict(), "changed_at": r.changed_at})
                for r in records
            ]
        except PynamoDBException as exc:
            raise StoreUnavailable(_UNAVAILABLE) from exc

    @staticmethod
    def _transact(record: HostMappingRecord, condition: Any, audit: MappingAudit) -> None:
        try:
            with TransactWrite(connection=transaction_connection()) as tx:
                tx.save(record, condition=condition)
                audit_record = _audit_record(audit)
                tx.save(audit_record, condition=MappingAuditRecord.audit_key.does_not_exist())
        except TransactWriteError as exc:
            if _lost_condition(exc):
                raise MappingConflict(f"mapping {record.mapping_key} changed concurrently") from exc
            raise StoreUnavailable(_UNAVAILABLE) from exc
        except PynamoDBException as exc:
            raise StoreUnavailable(_UNAVAILABLE) from exc


class HostReviewRepository:
    def record(self, review: HostReview) -> None:
        """Upsert: first sighting creates it, later ones refresh candidates and count sightings."""
        record = HostReviewRecord(review.company_id, review.host_key)
        try:
            record.update(
                actions=[
                    HostReviewRecord.host.set(review.host.model_dump(mode="json")),
                    HostReviewRecord.kind.set(review.kind),
                    HostReviewRecord.status.set(ReviewStatus.OPEN.value),
                    HostReviewRecord.candidates.set([c.model_dump(mode="json") for c in review.candidates]),
                    HostReviewRecord.reason.set(review.reason),
                    HostReviewRecord.seen_count.add(1),
                    HostReviewRecord.first_seen.set(HostReviewRecord.first_seen | review.first_seen),
                    HostReviewRecord.last_seen.set(review.last_seen),
                ]
            )
        except PynamoDBException as exc:
            raise StoreUnavailable(_UNAVAILABLE) from exc

    def list(
        self, company_id: str, *, kind: Literal["review", "unmapped"] | None = None, open_only: bool = True
    ) -> list[HostReview]:
        try:
            reviews = [
                HostReview.model_validate(
                    {**r.to_simple_dict(), "first_seen": r.first_seen, "last_seen": r.last_seen}
                )
                for r in HostReviewRecord.query(company_id)
            ]
        except PynamoDBException as exc:
            raise StoreUnavailable(_UNAVAILABLE) from exc
        return [
            r
            for r in reviews
            if (kind is None or r.kind == kind) and (r.status == ReviewStatus.OPEN or not open_only)
        ]

    def resolve(self, company_id: str, key: str) -> None:
        """Close an open review once the host is linked (no-op if there is none)."""
        record = HostReviewRecord(company_id, key)
        conditional_write(
            lambda: record.update(
                actions=[HostReviewRecord.status.set(ReviewStatus.RESOLVED.value)],
                condition=HostReviewRecord.host_key.exists(),
            ),
            unavailable=_UNAVAILABLE,
        )


class AppointmentRepository:
    """Appointments as far as host resolution needs them: who serves, found how."""

    def create(
        self,
        company_id: str,
        appointment_id: str,
        *,
        service_id: str | None = None,
        calcom_booking_uid: str | None = None,
        starts_at: datetime | None = None,
        ends_at: datetime | None = None,
    ) -> None:
        record = AppointmentRecord(
            company_id,
            appointment_id,
            service_id=service_id,
            calcom_booking_uid=calcom_booking_uid,
            starts_at=starts_at,
            ends_at=ends_at,
            updated_at=datetime.now(UTC),
        )
        try:
            record.save(condition=AppointmentRecord.appointment_id.does_not_exist())
        except PynamoDBException as exc:
            raise StoreUnavailable("the appointment store is unavailable") from exc

    def get(self, company_id: str, appointment_id: str) -> dict[str, Any]:
        try:
            return AppointmentRecord.get(company_id, appointment_id).to_simple_dict()
        except DoesNotExist as exc:
            raise NotFound(f"unknown appointment {appointment_id!r}") from exc
        except PynamoDBException as exc:
            raise StoreUnavailable("the appointment store is unavailable") from exc

    def assign_staff(
        self,
        company_id: str,
        appointment_id: str,
        *,
        staff_id: str | None,
        calcom_host_id: int | None,
        source: str | None,
        confidence: int | None,
        reason: str,
    ) -> None:
        """Record who serves the appointment; the appointment must exist (never creates half a record)."""
        record = AppointmentRecord(company_id, appointment_id)
        actions = [
            _set_or_remove(AppointmentRecord.staff_id, staff_id),
            _set_or_remove(AppointmentRecord.calcom_host_id, calcom_host_id),
            _set_or_remove(AppointmentRecord.staff_source, source),
            _set_or_remove(AppointmentRecord.staff_confidence, confidence),
            AppointmentRecord.staff_reason.set(reason),
            AppointmentRecord.updated_at.set(datetime.now(UTC)),
        ]
        if not conditional_write(
            lambda: record.update(actions=actions, condition=AppointmentRecord.appointment_id.exists()),
            unavailable="the appointment store is unavailable",
        ):
            raise NotFound(f"unknown appointment {appointment_id!r}")
