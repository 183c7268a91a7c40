"""Pending booking requests (BookingRequestsTable): key (company_id, request_id), one item per
request holding the whole request, so a write is all of it or nothing
(docs/adr/0025-pending-booking-requests.md).

Every write is conditional: a new request only when its id is free (a retried tool call records
nothing more), a change only over the version read (status still open, same attempts), so two
workers never settle one request twice.

A request is what a caller asked for in a call: it expires (DynamoDB TTL, ADR 0028) with the
company's call retention, counted from its creation.
"""

from __future__ import annotations

from pynamodb.attributes import JSONAttribute, NumberAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.exceptions import DoesNotExist, PynamoDBException
from pynamodb.models import Model

from calbridge.adapters.store.models import _Meta, _settings, conditional_write
from calbridge.adapters.store.repositories import CompanyRepository
from calbridge.adapters.store.retention import RetentionPolicy
from calbridge.domain.booking_requests import SETTLED, PendingBooking, RequestStatus
from calbridge.errors import NotFound, StoreUnavailable

_UNAVAILABLE = "the booking request store is unavailable"
MAX_LISTED = 200


class BookingRequestRecord(Model):
    class Meta(_Meta):
        table_name = _settings.booking_requests_table

    company_id = UnicodeAttribute(hash_key=True)
    request_id = UnicodeAttribute(range_key=True)
    status = UnicodeAttribute()
    attempts = NumberAttribute(default=0)
    created_at = UTCDateTimeAttribute()
    request = JSONAttribute()  # the PendingBooking as JSON
    expires_at = NumberAttribute(null=True)  # epoch seconds: DynamoDB's TTL attribute


def _record(pending: PendingBooking, expires_at: int) -> BookingRequestRecord:
    return BookingRequestRecord(
        pending.company_id,
        pending.request_id,
        status=pending.status.value,
        attempts=pending.attempts,
        created_at=pending.created_at,
        request=pending.model_dump(mode="json"),
        expires_at=expires_at,
    )


def _pending(record: BookingRequestRecord) -> PendingBooking:
    return PendingBooking.model_validate(record.request)


class BookingRequestRepository:
    def __init__(self, companies: CompanyRepository | None = None) -> None:
        self._retention = RetentionPolicy(companies)

    def _expires_at(self, pending: PendingBooking) -> int:
        return self._retention.call_expires_at(pending.company_id, pending.created_at)

    def add(self, pending: PendingBooking) -> tuple[PendingBooking, bool]:
        """Record a new request; when one with its id exists (a retried tool call), that one.
        The second value: whether this call wrote it."""
        record = _record(pending, self._expires_at(pending))
        if conditional_write(
            lambda: record.save(condition=BookingRequestRecord.request_id.does_not_exist()),
            unavailable=_UNAVAILABLE,
        ):
            return pending, True
        return self.get(pending.company_id, pending.request_id), False

    def get(self, company_id: str, request_id: str) -> PendingBooking:
        try:
            return _pending(BookingRequestRecord.get(company_id, request_id, consistent_read=True))
        except DoesNotExist as exc:
            raise NotFound(f"no booking request {request_id!r}") from exc
        except PynamoDBException as exc:
            raise StoreUnavailable(_UNAVAILABLE) from exc

    def replace(self, before: PendingBooking, after: PendingBooking) -> bool:
        """Write `after` over `before` when the stored request is still `before` (open, same
        attempts); False when someone else changed it first."""
        if (before.company_id, before.request_id) != (after.company_id, after.request_id):
            raise ValueError("a request is replaced only by itself")
        record = _record(after, self._expires_at(after))
        condition = (BookingRequestRecord.status == RequestStatus.OPEN.value) & (
            BookingRequestRecord.attempts == before.attempts
        )
        return conditional_write(lambda: record.save(condition=condition), unavailable=_UNAVAILABLE)

    def list(self, company_id: str, *, settled: bool) -> list[PendingBooking]:
        """The company's open (or settled) requests, newest first, at most MAX_LISTED."""
        wanted = [s.value for s in SETTLED] if settled else [RequestStatus.OPEN.value]
        try:
            records = list(
                BookingRequestRecord.query(
                    company_id, filter_condition=BookingRequestRecord.status.is_in(*wanted)
                )
            )
        except PynamoDBException as exc:
            raise StoreUnavailable(_UNAVAILABLE) from exc
        records.sort(key=lambda r: r.created_at, reverse=True)
        return [_pending(r) for r in records[:MAX_LISTED]]
