"""Cal.com slots cached in DynamoDB for a minute, shared by every container.

Keyed per (company, event type, staff member's Cal.com user, local day); availability asks
Cal.com for a week at once and writes one entry per day of the answer. Entries expire by DynamoDB
TTL and are also checked on read (TTL deletion is lazy). The booking, cancel and reschedule sagas
delete the entries of every hold their appointments touch, inside their own transactions
(adapters/store/bookings.py): a superset of the event types availability reads (docs/adr/0016),
so the next check sees Cal.com again. Writing an entry is best
effort: it fails when such a transaction holds the item at that moment (DynamoDB's
TransactionConflict), and a missing entry only means the next check asks Cal.com.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime

from aws_lambda_powertools.metrics import MetricUnit
from pynamodb.exceptions import PynamoDBException

from calbridge.adapters.store.models import SlotCacheRecord
from calbridge.errors import StoreUnavailable
from calbridge.observability import logger, metrics

_UNAVAILABLE = "the slot cache is unavailable"


def cache_key(company_id: str, event_type_id: int, user_id: int, day: date) -> str:
    return f"{company_id}#{event_type_id}#{user_id}#{day.isoformat()}"


class SlotCache:
    def __init__(self, ttl_s: int, clock: Callable[[], float] = time.time) -> None:
        self._ttl_s = ttl_s
        self._clock = clock

    def get_many(self, keys: Iterable[str]) -> dict[str, list[datetime]]:
        """The live entries among `keys` (one BatchGetItem per 100 keys); missing or expired
        ones are left out."""
        wanted = list(dict.fromkeys(keys))
        if self._ttl_s <= 0 or not wanted:
            return {}
        now = self._clock()
        try:
            records = list(SlotCacheRecord.batch_get(wanted))
        except PynamoDBException as exc:
            raise StoreUnavailable(_UNAVAILABLE) from exc
        live = {
            record.cache_key: [datetime.fromisoformat(start) for start in record.starts]
            for record in records
            if record.expires_at > now
        }
        metrics.add_metric(name="SlotCacheHit", unit=MetricUnit.Count, value=len(live))
        metrics.add_metric(name="SlotCacheMiss", unit=MetricUnit.Count, value=len(wanted) - len(live))
        return live

    def put_many(self, entries: Mapping[str, Iterable[datetime]]) -> None:
        """Write entries for the TTL (one BatchWriteItem per 25); best effort, see above."""
        if self._ttl_s <= 0 or not entries:
            return
        expires_at = int(self._clock()) + self._ttl_s
        try:
            with SlotCacheRecord.batch_write() as batch:
                for key, starts in entries.items():
                    batch.save(
                        SlotCacheRecord(key, starts=[s.isoformat() for s in starts], expires_at=expires_at)
                    )
        except PynamoDBException as exc:
            logger.warning("slot cache entries not written", error=type(exc).__name__, count=len(entries))
