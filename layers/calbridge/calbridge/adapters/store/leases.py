"""Slot leases in DynamoDB: a conditional write instead of a lock (DESIGN.md "Conditional writes").

A lease (company_id, `<staff_id>#<local date>`) lets one booking attempt at a time reserve a
staff member's holds on a day. It is taken with a put conditioned on "absent, expired or already
mine" (re-entrant, so a retried step is harmless), and given back with a delete conditioned on
the owner, so nobody ever releases somebody else's lease. `expires_at` bounds a lease whose owner
died; it is also the table's TTL attribute, which only tidies up: the condition decides.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict
from pynamodb.exceptions import DoesNotExist, PynamoDBException
from pynamodb.transactions import TransactWrite

from calbridge.adapters.store.models import LeaseRecord, conditional_write
from calbridge.errors import LeaseBusy, StoreUnavailable

_UNAVAILABLE = "the lease store is unavailable"


class Lease(BaseModel):
    model_config = ConfigDict(frozen=True)

    company_id: str
    lease_key: str
    owner: str
    expires_at: int  # epoch seconds


def _mine_or_gone(owner: str) -> Any:
    return LeaseRecord.lease_key.does_not_exist() | (LeaseRecord.owner == owner)


class LeaseRepository:
    def acquire(self, company_id: str, lease_key: str, owner: str, *, ttl_s: int, now: datetime) -> Lease:
        """Take the lease for `owner` (or extend it, if it is theirs); LeaseBusy if another holds it."""
        now_s = int(now.timestamp())
        lease = Lease(company_id=company_id, lease_key=lease_key, owner=owner, expires_at=now_s + ttl_s)
        record = LeaseRecord(company_id, lease_key, owner=owner, expires_at=lease.expires_at, acquired_at=now)
        condition = _mine_or_gone(owner) | (LeaseRecord.expires_at < now_s)
        if not conditional_write(lambda: record.save(condition=condition), unavailable=_UNAVAILABLE):
            raise LeaseBusy(f"lease {lease_key} is held by another booking")
        return lease

    def release(self, company_id: str, lease_key: str, owner: str) -> bool:
        """Give the lease back if it is ours. False when another owner holds it now (theirs stays)."""
        record = LeaseRecord(company_id, lease_key)
        return conditional_write(
            lambda: record.delete(condition=_mine_or_gone(owner)), unavailable=_UNAVAILABLE
        )

    def get(self, company_id: str, lease_key: str) -> Lease | None:
        try:
            record = LeaseRecord.get(company_id, lease_key)
        except DoesNotExist:
            return None
        except PynamoDBException as exc:
            raise StoreUnavailable(_UNAVAILABLE) from exc
        return Lease(
            company_id=company_id, lease_key=lease_key, owner=record.owner, expires_at=int(record.expires_at)
        )

    @staticmethod
    def release_in(tx: TransactWrite, company_id: str, lease_key: str, owner: str) -> None:
        """Add the owner-conditioned release to a transaction (an absent lease passes)."""
        tx.delete(LeaseRecord(company_id, lease_key), condition=_mine_or_gone(owner))
