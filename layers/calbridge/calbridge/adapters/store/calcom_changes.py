"""The appointments table as the Cal.com webhook reads and marks it (docs/adr/0021-calcom-webhook-intake.md).

- `appointments_holding(company_id, uid)`: which appointment holds a Cal.com booking, through the
  `by_calcom_uid` index (hash `calcom_booking_uid`, range `company_id`: a lookup never leaves the
  company). Appointment and segment items carry the uid; the index is eventually consistent.
- An appointment that needs the salon's attention gets items of its own, next to it, never a
  write to the appointment item: the booking workflows rewrite that item whole and condition on
  its `updated_at`, so a mark there would be lost by the next cancel or would make a running
  reschedule fail. Keys, all under the company:
  * `attention#<appointment id>` (kind `attention`): status `open`, the last reason, the segments
    concerned, how many changes, first and last time; `open_attention(company_id)` lists them;
  * `attention#<appointment id>#change#<delivery key>` (kind `attention_change`): one per change
    (the audit: trigger, reason, hold, segments, Cal.com uids, times, who, staff before/after).
    Conditioned on its absence, it is also the delivery's dedupe: a redelivery writes nothing;
  * `attention#<appointment id>#host#<hold>` (kind `attention_host`): the last Cal.com host
    assignment applied to a hold, with Cal.com's `createdAt`, so an older reassignment that
    arrives late is refused.
  One transaction writes what a change needs; a reassignment also records the new staff member on
  the hold's segment items.
Attention items expire (DynamoDB TTL, ADR 0028) the company's appointment retention after their
last write: a change in Cal.com comes before or near the appointment's end, so they go about
when the appointment does (an erasure removes them with it).
"""

from __future__ import annotations

from typing import Any, Literal

from pynamodb.attributes import NumberAttribute, UnicodeAttribute, UnicodeSetAttribute
from pynamodb.exceptions import PynamoDBException
from pynamodb.indexes import GlobalSecondaryIndex, KeysOnlyProjection

from calbridge.adapters.store.bookings import (
    BookingRecordRepository,
    _ConditionsFailed,
    _Op,
    segment_item_id,
    stored_uids,
)
from calbridge.adapters.store.models import AppointmentRecord
from calbridge.domain.calcom_events import AppointmentState, AttentionMark, HostChange, SegmentState
from calbridge.errors import NotFound, StoreUnavailable

_UNAVAILABLE = "the appointment store is unavailable"
ATTENTION_PREFIX = "attention#"

Written = Literal["marked", "duplicate", "stale", "recorded"]


class _AppointmentsByCalcomUidIndex(GlobalSecondaryIndex):
    class Meta:
        index_name = "by_calcom_uid"
        projection = KeysOnlyProjection()

    calcom_booking_uid = UnicodeAttribute(hash_key=True)
    company_id = UnicodeAttribute(range_key=True)


class _IndexedAppointment(AppointmentRecord):
    # A connection of its own: PynamoDB describes a model's indexes to its connection, and the
    # one inherited from AppointmentRecord knows only by_customer_phone.
    _connection = None
    by_calcom_uid = _AppointmentsByCalcomUidIndex()


class _AttentionItem(AppointmentRecord):
    """The attention items (see above); kind, parent_id, status, hold_key, staff_id are the table's."""

    reason = UnicodeAttribute(null=True)
    trigger = UnicodeAttribute(null=True)
    segment_keys = UnicodeSetAttribute(null=True)
    change_count = NumberAttribute(null=True)
    first_marked_at = UnicodeAttribute(null=True)
    last_marked_at = UnicodeAttribute(null=True)
    booking_uid = UnicodeAttribute(null=True)  # not calcom_booking_uid: that one is indexed
    new_booking_uid = UnicodeAttribute(null=True)
    new_starts_at = UnicodeAttribute(null=True)
    actor = UnicodeAttribute(null=True)
    previous_staff_id = UnicodeAttribute(null=True)
    calcom_created_at = UnicodeAttribute(null=True)


def attention_item_id(appointment_id: str) -> str:
    return f"{ATTENTION_PREFIX}{appointment_id}"


class CalcomChangeRecords(BookingRecordRepository):
    """Reads for matching a Cal.com booking to an appointment, and the attention marks."""

    def appointments_holding(self, company_id: str, uid: str) -> list[str]:
        """Ids of the company's appointments with an item that holds Cal.com booking `uid`."""
        try:
            items = _IndexedAppointment.by_calcom_uid.query(uid, _IndexedAppointment.company_id == company_id)
            ids = {item.appointment_id.split("#", 1)[0] for item in items}
        except PynamoDBException as exc:
            raise StoreUnavailable(_UNAVAILABLE) from exc
        return sorted(ids)

    def state(self, company_id: str, appointment_id: str) -> AppointmentState | None:
        """The appointment as a decision needs it (consistent reads), or None when there is none."""
        try:
            head, segments = self.load(company_id, appointment_id)
        except NotFound:
            return None
        replaced = head.replaced_calcom_booking_uids or {}
        replaced_uids = replaced.as_dict() if hasattr(replaced, "as_dict") else dict(replaced)
        return AppointmentState(
            appointment_id=appointment_id,
            status=head.status or "",
            holds=stored_uids(head),
            replaced_uids=frozenset(str(uid) for uid in replaced_uids.values()),
            segments=tuple(
                SegmentState(
                    key=s.segment_key or "",
                    hold=s.hold_key or "",
                    staff_id=s.staff_id,
                    calcom_host_id=int(s.calcom_host_id) if s.calcom_host_id is not None else None,
                )
                for s in segments
            ),
        )

    def record_change(
        self, company_id: str, mark: AttentionMark | None, host: HostChange | None = None
    ) -> Written:
        """Write a change made in Cal.com in one transaction: the attention mark with its audit
        item (`mark`), and for a reassignment the hold's host record and its segments' staff
        (`host`). A delivery recorded before gives "duplicate", a reassignment older than the
        one recorded gives "stale"; then nothing is written."""
        ops: list[_Op] = []
        if mark is not None:
            ops += self._mark_ops(company_id, mark)
        if host is not None:
            ops += self._host_ops(company_id, host, staff_changed=mark is not None)
        if not ops:
            return "recorded"
        try:
            self._transact(ops)
        except _ConditionsFailed as lost:
            return "stale" if "host" in lost.labels else "duplicate"
        return "marked" if mark is not None else "recorded"

    def _mark_ops(self, company_id: str, mark: AttentionMark) -> list[_Op]:
        now = self._clock()
        at = now.isoformat()
        expires = self._expires_at(company_id, None)
        change = _AttentionItem(
            company_id,
            f"{attention_item_id(mark.appointment_id)}#change#{mark.key}",
            kind="attention_change",
            parent_id=mark.appointment_id,
            trigger=mark.trigger,
            reason=mark.reason,
            hold_key=mark.hold,
            segment_keys=set(mark.segment_keys),
            booking_uid=mark.uid,
            new_booking_uid=mark.new_uid,
            new_starts_at=mark.new_start.isoformat() if mark.new_start else None,
            actor=mark.actor,
            staff_id=mark.new_staff_id,
            previous_staff_id=mark.previous_staff_id,
            calcom_created_at=mark.calcom_created_at,
            created_at=now,
            updated_at=now,
            expires_at=expires,
        )
        head = _AttentionItem(company_id, attention_item_id(mark.appointment_id))
        actions = [
            _AttentionItem.kind.set("attention"),
            _AttentionItem.parent_id.set(mark.appointment_id),
            _AttentionItem.status.set("open"),
            _AttentionItem.reason.set(mark.reason),
            _AttentionItem.trigger.set(mark.trigger),
            _AttentionItem.segment_keys.add(set(mark.segment_keys)),
            _AttentionItem.change_count.add(1),
            _AttentionItem.first_marked_at.set(_AttentionItem.first_marked_at | at),
            _AttentionItem.last_marked_at.set(at),
            _AttentionItem.created_at.set(_AttentionItem.created_at | now),
            _AttentionItem.updated_at.set(now),
            _AttentionItem.expires_at.set(expires),
        ]
        absent = _AttentionItem.appointment_id.does_not_exist()
        return [
            ("change", "put", lambda tx: tx.save(change, condition=absent)),
            ("mark", "update", lambda tx: tx.update(head, actions=actions)),
        ]

    def _host_ops(self, company_id: str, host: HostChange, *, staff_changed: bool) -> list[_Op]:
        now = self._clock()
        record = _AttentionItem(
            company_id,
            f"{attention_item_id(host.appointment_id)}#host#{host.hold}",
            kind="attention_host",
            parent_id=host.appointment_id,
            hold_key=host.hold,
            staff_id=host.staff_id,
            calcom_host_id=host.calcom_host_id,
            calcom_created_at=host.calcom_created_at,
            created_at=now,
            updated_at=now,
            expires_at=self._expires_at(company_id, None),
        )
        newer = _AttentionItem.appointment_id.does_not_exist() | (
            _AttentionItem.calcom_created_at < host.calcom_created_at
        )
        ops: list[_Op] = [("host", "put", lambda tx: tx.save(record, condition=newer))]
        if not staff_changed:
            return ops
        for segment_key in host.segment_keys:
            segment = AppointmentRecord(company_id, segment_item_id(host.appointment_id, segment_key))
            actions = [
                _set_or_remove(AppointmentRecord.staff_id, host.staff_id),
                _set_or_remove(AppointmentRecord.calcom_host_id, host.calcom_host_id),
                _set_or_remove(AppointmentRecord.staff_source, host.strategy),
                _set_or_remove(AppointmentRecord.staff_confidence, host.confidence),
                AppointmentRecord.staff_reason.set(host.reason),
                AppointmentRecord.updated_at.set(now),
            ]
            exists = AppointmentRecord.appointment_id.exists()
            ops.append(("segment", "update", _update(segment, actions, exists)))
        return ops

    def open_attention(self, company_id: str) -> list[dict[str, Any]]:
        """The company's appointments that need the salon's attention (one query of its partition)."""
        try:
            items = _AttentionItem.query(
                company_id,
                _AttentionItem.appointment_id.startswith(ATTENTION_PREFIX),
                filter_condition=(_AttentionItem.kind == "attention") & (_AttentionItem.status == "open"),
            )
            return [item.to_simple_dict(force=True) for item in items]
        except PynamoDBException as exc:
            raise StoreUnavailable(_UNAVAILABLE) from exc

    def attention(self, company_id: str, appointment_id: str) -> list[dict[str, Any]]:
        """An appointment's attention items: the mark, its changes and host records (consistent)."""
        try:
            items = _AttentionItem.query(
                company_id,
                _AttentionItem.appointment_id.startswith(attention_item_id(appointment_id)),
                consistent_read=True,
            )
            return [item.to_simple_dict(force=True) for item in items if item.parent_id == appointment_id]
        except PynamoDBException as exc:
            raise StoreUnavailable(_UNAVAILABLE) from exc


def _set_or_remove(attribute: Any, value: Any) -> Any:
    # As adapters/store/host_mappings.py writes staff; not imported from there, which would bring
    # host resolution's name matching into this function's cold start.
    return attribute.remove() if value is None else attribute.set(value)


def _update(record: AppointmentRecord, actions: list[Any], condition: Any) -> Any:
    return lambda tx: tx.update(record, actions=actions, condition=condition)
