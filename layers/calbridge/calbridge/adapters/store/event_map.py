"""The event map in DynamoDB: (company_id, <service>#<hold>#<Cal.com user>) -> its event type.

Not a `_CompanyScoped` repository: entries have no `active` flag, are addressed by service and
segment, and keep the `updated_at` their writer chose (the provisioner's clock).
"""

from __future__ import annotations

from pynamodb.exceptions import PynamoDBException

from calbridge.adapters.cache import CacheGroup, TtlCache
from calbridge.adapters.store.models import EventMapRecord
from calbridge.domain.event_types import EventMapEntry
from calbridge.errors import StoreUnavailable

_UNAVAILABLE = "the event map store is unavailable"


def _entry(record: EventMapRecord) -> EventMapEntry:
    return EventMapEntry.model_validate(record.to_simple_dict())


def _record(entry: EventMapEntry) -> EventMapRecord:
    data = entry.model_dump(mode="python", exclude={"company_id"})
    return EventMapRecord(entry.company_id, entry.key, **data)


# Every cached listing in this container: a write through any repository instance drops them all.
_LISTINGS = CacheGroup()


class EventMapRepository:
    def __init__(self, cache_ttl_s: float = 0) -> None:
        # The tool path (availability, booking plans) keeps the company's whole map per container
        # for `cache_ttl_s` (one query serves every service); this container's writes drop it,
        # another's show after the TTL.
        self._cached = cache_ttl_s > 0
        self._listed: TtlCache[str, list[EventMapEntry]] = _LISTINGS.new(cache_ttl_s)

    def list(self, company_id: str, service_id: str | None = None) -> list[EventMapEntry]:
        """The company's entries (one service's, given its id), ordered by service and segment."""
        if not self._cached:
            return self._read(company_id, service_id)
        entries = self._listed.get(company_id, lambda: self._read(company_id, None))
        return [e for e in entries if service_id is None or e.service_id == service_id]

    @staticmethod
    def clear_cache() -> None:
        """Forget every listing this container cached (tests that reset the tables)."""
        _LISTINGS.clear()

    @staticmethod
    def _read(company_id: str, service_id: str | None) -> list[EventMapEntry]:
        condition = None if service_id is None else EventMapRecord.map_key.startswith(f"{service_id}#")
        try:
            return [_entry(r) for r in EventMapRecord.query(company_id, condition)]
        except PynamoDBException as exc:
            raise StoreUnavailable(_UNAVAILABLE) from exc

    def save(self, entry: EventMapEntry) -> None:
        _LISTINGS.clear()
        try:
            _record(entry).save()
        except PynamoDBException as exc:
            raise StoreUnavailable(_UNAVAILABLE) from exc

    def save_many(self, entries: list[EventMapEntry]) -> None:
        """Upsert in BatchWriteItem calls of 25 (PynamoDB retries unprocessed items)."""
        if not entries:
            return
        _LISTINGS.clear()
        try:
            with EventMapRecord.batch_write() as batch:
                for entry in entries:
                    batch.save(_record(entry))
        except PynamoDBException as exc:
            raise StoreUnavailable(_UNAVAILABLE) from exc
