"""Cal.com slots cached in DynamoDB for a minute, shared by every container.

Keyed per (company, event type, staff member's Cal.com user, local day). Entries expire by
DynamoDB TTL and are also checked on read (TTL deletion is lazy). The booking, cancel and
reschedule sagas delete the entries their appointments touch, inside their own transactions
(adapters/store/bookings.py), so the next check sees Cal.com again. Writing an entry is best
effort: it fails when such a transaction holds the item at that moment (DynamoDB's
TransactionConflict), and a missing entry only means the next check asks Cal.com.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from datetime import date, datetime

from pynamodb.exceptions import DoesNotExist, PynamoDBException

from calbridge.adapters.store.models import SlotCacheRecord
from calbridge.errors import StoreUnavailable
from calbridge.observability import logger

_UNAVAILABLE = "the slot cache is unavailable"


def cache_key(company_id: str, event_type_id: int, user_id: int, day: date) -> str:
    return f"{company_id}#{event_type_id}#{user_id}#{day.isoformat()}"


class SlotCache:
    def __init__(self, ttl_s: int, clock: Callable[[], float] = time.time) -> None:
        self._ttl_s = ttl_s
        self._clock = clock

    def get(self, key: str) -> list[datetime] | None:
        if self._ttl_s <= 0:
            return None
        try:
            record = SlotCacheRecord.get(key)
        except DoesNotExist:
            return None
        except PynamoDBException as exc:
            raise StoreUnavailable(_UNAVAILABLE) from exc
        if record.expires_at <= self._clock():
            return None
        return [datetime.fromisoformat(start) for start in record.starts]

    def put(self, key: str, starts: Iterable[datetime]) -> None:
        if self._ttl_s <= 0:
            return
        record = SlotCacheRecord(
            key, starts=[s.isoformat() for s in starts], expires_at=int(self._clock()) + self._ttl_s
        )
        try:
            record.save()
        except PynamoDBException as exc:
            logger.warning("slot cache entry not written", error=type(exc).__name__)

    def invalidate(self, keys: Iterable[str]) -> None:
        """Forget entries our own booking made stale (one BatchWriteItem per 25 keys)."""
        try:
            with SlotCacheRecord.batch_write() as batch:
                for key in keys:
                    batch.delete(SlotCacheRecord(key))
        except PynamoDBException as exc:
            raise StoreUnavailable(_UNAVAILABLE) from exc
