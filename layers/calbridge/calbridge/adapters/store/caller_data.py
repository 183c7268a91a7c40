"""Every item of one company that names one caller, for export and erasure (docs/adr/0028).

Found without a table scan where the tables allow it, each read paged to its end:
- appointments: one Query of the company's partition of AppointmentsTable (appointment items, any
  status), matched on customer_phone / customer_email here (e-mail case-insensitively, which a
  filter expression cannot do); then each match's segments (`<id>#…`), confirmation code
  (`code#<code>`) and Cal.com change items (`attention#<id>…`, adapters/store/calcom_changes.py);
- calls: one Query of the company's partition of CallsTable, matched on from_number, plus the calls
  that booked a matched appointment (their `call_id`);
- booking requests: one Query of the company's partition, matched on the request's customer;
- idempotency records (Powertools, tool-call answers): their key is a hash without the company, so
  this is the one Scan; the table holds only the last TOOL_IDEMPOTENCY_S of tool calls. A record
  goes when its answer names the caller (phone, e-mail, a name of theirs) or one of their
  appointments, codes or calls.

Erasure deletes, except an appointment Cal.com still holds (booked, cancel_failed): its item is
scrubbed of the caller (name, e-mail, phone, customer_key, call_id) and kept with its segments and
code, which name nobody, so the salon still sees the slot taken and reconciliation still finds the
Cal.com bookings it belongs to; its Cal.com change items lose their `actor`. A scrub also moves
`updated_at`, so a workflow that read the appointment before fails its condition instead of
writing the caller back.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.exceptions import PynamoDBException
from pynamodb.models import Model

from calbridge.adapters.store.booking_requests import BookingRequestRecord
from calbridge.adapters.store.bookings import code_item_id
from calbridge.adapters.store.calcom_changes import _AttentionItem, attention_item_id
from calbridge.adapters.store.models import CallRecord, _Meta, _settings, conditional_write
from calbridge.domain.retention import CallerRef
from calbridge.errors import StoreUnavailable

_UNAVAILABLE = "the store is unavailable; nothing more was erased, run the erasure again"
#: Statuses of an appointment whose Cal.com bookings still stand: scrubbed, not deleted.
HELD_IN_CALCOM = frozenset({"booked", "cancel_failed"})
#: What names the caller on an appointment item.
PERSONAL_ATTRIBUTES = ("customer_name", "customer_email", "customer_phone", "customer_key", "call_id")


class IdempotencyRecord(Model):
    """A Powertools idempotency record (adapters/idempotency.py): `data` is the stored answer."""

    class Meta(_Meta):
        table_name = _settings.idempotency_table

    id = UnicodeAttribute(hash_key=True)
    data = UnicodeAttribute(null=True)
    status = UnicodeAttribute(null=True)
    expiration = NumberAttribute(null=True)


def _view(record: Model) -> dict[str, Any]:
    """A stored item as JSON. Not to_simple_dict(): it refuses string sets (a call's events)."""
    return json.loads(json.dumps(_attributes(record), default=_iso, sort_keys=True))


def _iso(value: Any) -> str:
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def _attributes(record: Model) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in record.get_attributes():
        value = getattr(record, name, None)
        if value is None:
            continue
        if isinstance(value, set):
            value = sorted(value)
        elif hasattr(value, "as_dict"):
            value = value.as_dict()
        elif isinstance(value, list):
            value = [v.as_dict() if hasattr(v, "as_dict") else v for v in value]
        out[name] = value
    return out


class CallerItems:
    """What one company holds about one caller, as found (the records, for erasure and export)."""

    def __init__(self) -> None:
        self.appointments: list[_AttentionItem] = []  # heads of the caller's appointments
        self.related: list[_AttentionItem] = []  # their segments, codes and Cal.com change items
        self.calls: list[CallRecord] = []
        self.booking_requests: list[BookingRequestRecord] = []
        self.idempotency_records: list[IdempotencyRecord] = []

    def export(self) -> dict[str, list[dict[str, Any]]]:
        return {
            "appointments": [_view(r) for r in self.appointments],
            "appointment_items": [_view(r) for r in self.related],
            "calls": [_view(r) for r in self.calls],
            "booking_requests": [_view(r) for r in self.booking_requests],
            "idempotency_records": [_view(r) for r in self.idempotency_records],
        }


class CallerDataStore:
    def find(self, company_id: str, caller: CallerRef) -> CallerItems:
        found = CallerItems()
        try:
            found.appointments = [
                head
                for head in _AttentionItem.query(
                    company_id, filter_condition=_AttentionItem.kind == "appointment", consistent_read=True
                )
                if caller.names(head.customer_phone, head.customer_email)
            ]
            for head in found.appointments:
                found.related += self._related(company_id, head)
            booked_by = {head.call_id for head in found.appointments if head.call_id}
            found.calls = [
                call
                for call in CallRecord.query(company_id, consistent_read=True)
                if caller.names(call.from_number, None) or call.call_id in booked_by
            ]
            found.booking_requests = [
                record
                for record in BookingRequestRecord.query(company_id, consistent_read=True)
                if _request_names(record, caller)
            ]
            found.idempotency_records = self._idempotency_records(_needles(caller, found))
        except PynamoDBException as exc:
            raise StoreUnavailable("the store is unavailable") from exc
        return found

    @staticmethod
    def _related(company_id: str, head: _AttentionItem) -> list[_AttentionItem]:
        appointment_id = head.appointment_id
        items = list(
            _AttentionItem.query(
                company_id,
                _AttentionItem.appointment_id.startswith(f"{appointment_id}#"),
                consistent_read=True,
            )
        )
        items += [
            item
            for item in _AttentionItem.query(
                company_id,
                _AttentionItem.appointment_id.startswith(attention_item_id(appointment_id)),
                consistent_read=True,
            )
            if item.parent_id == appointment_id
        ]
        if head.confirmation_code:
            items += [
                item
                for item in _AttentionItem.query(
                    company_id,
                    _AttentionItem.appointment_id == code_item_id(head.confirmation_code),
                    consistent_read=True,
                )
                if item.parent_id == appointment_id
            ]
        return items

    @staticmethod
    def _idempotency_records(needles: set[str]) -> list[IdempotencyRecord]:
        if not needles:
            return []
        condition = None
        for needle in sorted(needles):
            clause = IdempotencyRecord.data.contains(needle)
            condition = clause if condition is None else condition | clause
        return list(IdempotencyRecord.scan(filter_condition=condition))

    # ------------------------------------------------------------------ erasure

    def erase(self, found: CallerItems, *, now: Any) -> dict[str, int]:
        """Delete (or scrub) every item found; the counts per kind. Each write stands alone: a
        failure part-way leaves the rest for the next run (StoreUnavailable), which finds them."""
        counts = {
            "appointments_deleted": 0,
            "appointments_scrubbed": 0,
            "appointment_items_deleted": 0,
            "appointment_items_scrubbed": 0,
            "calls_deleted": 0,
            "booking_requests_deleted": 0,
            "idempotency_records_deleted": 0,
        }
        kept = {h.appointment_id for h in found.appointments if h.status in HELD_IN_CALCOM}
        try:
            for head in found.appointments:
                if head.appointment_id in kept:
                    counts["appointments_scrubbed"] += self._scrub(head, PERSONAL_ATTRIBUTES, now)
                else:
                    head.delete()
                    counts["appointments_deleted"] += 1
            for item in found.related:
                if _appointment_of(item) not in kept:
                    item.delete()
                    counts["appointment_items_deleted"] += 1
                elif item.actor is not None:
                    counts["appointment_items_scrubbed"] += self._scrub(item, ("actor",), now)
            counts["calls_deleted"] = _delete_all(found.calls)
            counts["booking_requests_deleted"] = _delete_all(found.booking_requests)
            counts["idempotency_records_deleted"] = _delete_all(found.idempotency_records)
        except PynamoDBException as exc:
            raise StoreUnavailable(_UNAVAILABLE) from exc
        return counts

    @staticmethod
    def _scrub(item: _AttentionItem, names: Iterable[str], now: Any) -> int:
        actions = [getattr(_AttentionItem, name).remove() for name in names]
        actions.append(_AttentionItem.updated_at.set(now))
        return int(
            conditional_write(
                lambda: item.update(actions=actions, condition=_AttentionItem.appointment_id.exists()),
                unavailable=_UNAVAILABLE,
            )
        )


def _appointment_of(item: _AttentionItem) -> str:
    """The appointment a segment, code or change item belongs to (a segment's key leads with it)."""
    return item.parent_id or item.appointment_id.split("#", 1)[0]


def _delete_all(records: Iterable[Model]) -> int:
    count = 0
    for record in records:
        record.delete()
        count += 1
    return count


def _request_names(record: BookingRequestRecord, caller: CallerRef) -> bool:
    customer = (record.request or {}).get("customer") or {}
    return caller.names(customer.get("phone"), customer.get("email"))


def _needles(caller: CallerRef, found: CallerItems) -> set[str]:
    """What an idempotency record's answer would name the caller by."""
    needles = {value for value in (caller.phone, caller.email) if value}
    for head in found.appointments:
        needles |= {v for v in (head.customer_name, head.customer_email, head.confirmation_code) if v}
        needles.add(head.appointment_id)
    for request in found.booking_requests:
        customer = (request.request or {}).get("customer") or {}
        needles |= {v for v in (customer.get("name"), customer.get("email")) if v}
        needles.add(request.request_id)
    needles |= {call.call_id for call in found.calls}
    return needles
