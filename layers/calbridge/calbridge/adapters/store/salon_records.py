"""The appointments and calls of a company's local day, read for the admin API with one query of an
index each (by_start, by_created), never a scan (docs/adr/0031-reading-appointments-and-calls.md).

Reads are lazy iterators of (item, position): the service takes as many as a page needs and
makes its cursor from the position of the last one it took. A position is the item's keys in the
index, so the next query starts right after it (DynamoDB's ExclusiveStartKey); the company is
never taken from a position, so no position reaches another company's partition.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any

from pynamodb.exceptions import PynamoDBException

from calbridge.adapters.store.bookings import BookingRecordRepository
from calbridge.adapters.store.calls import _recorded
from calbridge.adapters.store.models import AppointmentRecord, CallRecord
from calbridge.domain.calls import RecordedCall
from calbridge.domain.salon_records import RecordedAppointment, RecordedSegment
from calbridge.errors import InvalidRequest, StoreUnavailable

_UNAVAILABLE = "the appointment or call store is unavailable"
_LAST_INSTANT = timedelta(microseconds=1)  # BETWEEN is inclusive: a day is [start, end)
_DATETIME = AppointmentRecord.starts_at  # one UTCDateTimeAttribute: the indexes' range format

APPOINTMENT_POSITION = ("appointment_id", "starts_at")
CALL_POSITION = ("call_id", "created_at")
# DynamoDB's Limit counts items before the filter (segments, failed attempts): a page of 1 would
# cost one request per item read.
_PAGE_SIZE_FLOOR = 10


def _moment(text: str, start: datetime, end: datetime) -> str:
    """A cursor's time, checked to lie in the day it pages (DynamoDB would refuse it otherwise)."""
    try:
        moment = _DATETIME.deserialize(text)
    except ValueError as exc:
        raise InvalidRequest("cursor: not a cursor of this listing", field="cursor") from exc
    if not start <= moment < end:
        raise InvalidRequest("cursor: not a cursor of this listing", field="cursor")
    return _DATETIME.serialize(moment)


def _guarded[T](items: Iterable[T]) -> Iterator[T]:
    try:
        yield from items
    except PynamoDBException as exc:
        raise StoreUnavailable(_UNAVAILABLE) from exc


class SalonRecords:
    def appointments_of_day(
        self,
        company_id: str,
        start: datetime,
        end: datetime,
        statuses: Sequence[str],
        *,
        after: dict[str, str] | None,
        page_size: int,
    ) -> Iterator[tuple[RecordedAppointment, dict[str, str]]]:
        """The appointment items starting in [start, end) with one of `statuses`, earliest first."""
        start_key = None
        if after is not None:
            start_key = {
                "company_id": {"S": company_id},
                "appointment_id": {"S": after["appointment_id"]},
                "starts_at": {"S": _moment(after["starts_at"], start, end)},
            }
        records = AppointmentRecord.by_start.query(
            company_id,
            AppointmentRecord.starts_at.between(start, end - _LAST_INSTANT),
            filter_condition=(AppointmentRecord.kind == "appointment")
            & AppointmentRecord.status.is_in(*statuses),
            last_evaluated_key=start_key,
            page_size=max(page_size, _PAGE_SIZE_FLOOR),
        )
        for record in _guarded(records):
            if record.company_id == company_id:
                yield (
                    _appointment(record, ()),
                    {
                        "appointment_id": record.appointment_id,
                        "starts_at": _DATETIME.serialize(record.starts_at),
                    },
                )

    def segments_of(
        self, company_id: str, appointments: Sequence[RecordedAppointment]
    ) -> dict[str, list[RecordedSegment]]:
        """The segment items of `appointments` (at most 100), by appointment id, in start order:
        one query of by_start over the time they span (a segment starts within its appointment)."""
        timed = [(a.appointment_id, a.start, a.end) for a in appointments if a.start and a.end]
        if not timed:
            return {}
        records = AppointmentRecord.by_start.query(
            company_id,
            AppointmentRecord.starts_at.between(min(t[1] for t in timed), max(t[2] for t in timed)),
            filter_condition=(AppointmentRecord.kind == "segment")
            & AppointmentRecord.parent_id.is_in(*{t[0] for t in timed}),
        )
        found: dict[str, list[RecordedSegment]] = {}
        for record in _guarded(records):
            if record.company_id == company_id and record.parent_id:
                found.setdefault(record.parent_id, []).append(_segment(record))
        return found

    def appointment(self, company_id: str, appointment_id: str) -> RecordedAppointment:
        """One appointment with its segments (NotFound for an id the company has no appointment of)."""
        head, segments = BookingRecordRepository().load(company_id, appointment_id)
        ordered = sorted((_segment(s) for s in segments if s.starts_at and s.ends_at), key=lambda s: s.start)
        return _appointment(head, ordered)

    def calls_of_day(
        self, company_id: str, start: datetime, end: datetime, *, after: dict[str, str] | None, page_size: int
    ) -> Iterator[tuple[RecordedCall, dict[str, str]]]:
        """The call records first written in [start, end), newest first."""
        start_key = None
        if after is not None:
            start_key = {
                "company_id": {"S": company_id},
                "call_id": {"S": after["call_id"]},
                "created_at": {"S": _moment(after["created_at"], start, end)},
            }
        records = CallRecord.by_created.query(
            company_id,
            CallRecord.created_at.between(start, end - _LAST_INSTANT),
            scan_index_forward=False,
            last_evaluated_key=start_key,
            page_size=max(page_size, _PAGE_SIZE_FLOOR),
        )
        for record in _guarded(records):
            if record.company_id == company_id:
                yield (
                    _recorded(record),
                    {
                        "call_id": record.call_id,
                        "created_at": _DATETIME.serialize(record.created_at),
                    },
                )

    def calls(self, company_id: str, call_ids: Iterable[str]) -> dict[str, RecordedCall]:
        """The company's call records of `call_ids` (the ones that exist): BatchGetItem, which
        pynamodb sends in requests of at most 100 keys."""
        keys = sorted(set(call_ids))
        if not keys:
            return {}
        found: dict[str, RecordedCall] = {}
        records: Any = CallRecord.batch_get([(company_id, call_id) for call_id in keys])
        for record in _guarded(records):
            found[record.call_id] = _recorded(record)
        return found


def _segment(record: AppointmentRecord) -> RecordedSegment:
    return RecordedSegment(
        key=record.segment_key or record.appointment_id.rpartition("#")[2],
        name=record.segment_name,
        start=record.starts_at,
        end=record.ends_at,
        staff_id=record.staff_id,
        status=record.status,
    )


def _appointment(record: AppointmentRecord, segments: Iterable[RecordedSegment]) -> RecordedAppointment:
    return RecordedAppointment(
        appointment_id=record.appointment_id,
        status=record.status or "",
        service_id=record.service_id,
        service_name=record.service_name,
        start=record.starts_at,
        end=record.ends_at,
        timezone=record.timezone,
        staff_id=record.staff_id,
        confirmation_code=record.confirmation_code,
        customer_name=record.customer_name,
        customer_phone=record.customer_phone,
        customer_email=record.customer_email,
        call_id=record.call_id,
        segments=tuple(segments),
        created_at=record.created_at,
        cancelled_at=record.cancelled_at,
        cancel_reason=record.cancel_reason,
        rescheduled_at=record.rescheduled_at,
        reschedule_count=int(record.reschedule_count) if record.reschedule_count is not None else None,
        error=record.error,
    )
