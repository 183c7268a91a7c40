"""What the booking workflow writes to the appointments table (docs/adr/0006-booking-saga.md).

Items, all keyed (company_id, appointment_id):
- `<booking_id>`: the appointment (kind "appointment", status booked | failed);
- `<booking_id>#<segment key>`: one per segment (kind "segment"), with its staff member, Cal.com
  host and the uid of the Cal.com booking (hold) that covers it;
- `code#<confirmation code>`: the code's claim (kind "confirmation_code"), so codes are unique per
  company and an appointment can be found by the code a caller reads out.

An appointment item with a customer phone also carries `customer_key` ("<company_id>#<E.164>"),
the hash key of the `by_customer_phone` index (range: `starts_at`): the cancel and reschedule tools
find a caller's upcoming appointments with one query.

A booked appointment is written in ONE TransactWrite with its segments, its code, the release
of the slot lease and the deletion of the slot-cache entries its holds made stale
(adapters/store/slot_cache.py; their keys are kept on the appointment item, so a cancel or a
reschedule drops them again in its own transaction). Every item is conditioned on its absence;
a retried write finds its own appointment and answers with it (idempotent). A failed attempt
overwrites the appointment item with status failed and removes whatever a half-known earlier
write might have left.

Every item written here carries `expires_at` (DynamoDB's TTL): the appointment's end plus the
company's `appointment_retention_days` (docs/adr/0028-retention-and-erasure.md); a reschedule
moves it with the end. The retention comes from adapters/store/retention.py.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pynamodb.exceptions import DoesNotExist, PynamoDBException, TransactWriteError
from pynamodb.transactions import TransactWrite

from calbridge.adapters.store.calls import CallRepository
from calbridge.adapters.store.leases import LeaseRepository
from calbridge.adapters.store.models import (
    AppointmentRecord,
    SlotCacheRecord,
    conditional_write,
    transaction_connection,
)
from calbridge.adapters.store.repositories import CompanyRepository
from calbridge.adapters.store.retention import RetentionPolicy
from calbridge.domain.booking import (
    AppointmentSummary,
    Customer,
    CustomerAppointment,
    SegmentSummary,
    StaffAssignment,
    new_confirmation_code,
)
from calbridge.domain.calls import CallAppointment
from calbridge.domain.reconciliation import AppointmentOnRecord, HoldOnRecord
from calbridge.errors import AppointmentConflict, NotFound, StoreUnavailable
from calbridge.observability import logger

_UNAVAILABLE = "the appointment store is unavailable"
CODE_ATTEMPTS = 5

# (label, "put" | "delete", what to add to the transaction)
_Op = tuple[str, str, Callable[[TransactWrite], None]]


@dataclass(frozen=True)
class LeaseRef:
    company_id: str
    lease_key: str
    owner: str


class _ConditionsFailed(Exception):
    def __init__(self, labels: set[str]) -> None:
        super().__init__(", ".join(sorted(labels)))
        self.labels = labels


def segment_item_id(booking_id: str, segment_key: str) -> str:
    return f"{booking_id}#{segment_key}"


def code_item_id(code: str) -> str:
    return f"code#{code}"


def customer_phone_key(company_id: str, phone: str) -> str:
    """The by_customer_phone index's key: company first, so a lookup never leaves the company."""
    return f"{company_id}#{phone}"


def _now() -> datetime:
    return datetime.now(UTC)


class BookingRecordRepository:
    def __init__(
        self, clock: Callable[[], datetime] = _now, companies: CompanyRepository | None = None
    ) -> None:
        self._clock = clock
        self._retention = RetentionPolicy(companies)

    def _expires_at(self, company_id: str, end: datetime | None) -> int:
        """The TTL of a company's appointment item ending at `end` (now when it has none)."""
        return self._retention.appointment_expires_at(company_id, end or self._clock())

    # ------------------------------------------------------------------ booked

    def save_booked(
        self,
        summary: AppointmentSummary,
        customer: Customer,
        assignments: Mapping[str, StaffAssignment],
        lease: LeaseRef | None,
        stale_slots: Sequence[str] = (),
        call_note: CallAppointment | None = None,
    ) -> AppointmentSummary:
        """Write the appointment, its segments and its code, release the lease, drop the
        slot-cache entries `stale_slots` (kept on the appointment) and note the booking on its
        call's record (`call_note`): one transaction.

        Returns the summary as stored: with this call's confirmation code, or, when the appointment
        was written before (a retried step), with the stored one. Another attempt's appointment
        under the same id raises AppointmentConflict. A lease that another booking holds by now
        (ours expired) is left to them.
        """
        for _ in range(CODE_ATTEMPTS):
            stored = summary.model_copy(update={"confirmation_code": new_confirmation_code()})
            ops = self._booked_ops(stored, customer, assignments, stale_slots)
            if lease is not None:
                ops.append(("lease", "delete", _release(lease)))
            ops += _drop_slots(stale_slots)
            if call_note is not None and summary.call_id:
                ops.append(("call", "update", _note_call(summary.company_id, summary.call_id, call_note)))
            try:
                self._transact(ops)
                return stored
            except _ConditionsFailed as failed:
                if "appointment" in failed.labels:
                    return self._already_booked(summary)
                if "call" in failed.labels:  # noted by a retried Finalize: not ours to note again
                    call_note = None
                    continue
                if "segment" in failed.labels:
                    raise AppointmentConflict(
                        f"segments of appointment {summary.appointment_id} exist without it"
                    ) from failed
                if "lease" in failed.labels:
                    logger.warning(
                        "slot lease taken over before finalize; left to its new owner",
                        company_id=summary.company_id,
                        appointment_id=summary.appointment_id,
                    )
                    lease = None
                # "code": that code is taken; the next round draws another one.
        raise StoreUnavailable("no free confirmation code found; try again")

    def _already_booked(self, summary: AppointmentSummary) -> AppointmentSummary:
        existing = self.get(summary.company_id, summary.appointment_id)
        if existing is None or existing.get("status") != "booked" or not existing.get("confirmation_code"):
            raise AppointmentConflict(
                f"appointment {summary.appointment_id} exists already and is not this booking"
            )
        return summary.model_copy(
            update={
                "confirmation_code": existing["confirmation_code"],
                "composite_group_uid": existing.get("composite_group_uid") or summary.composite_group_uid,
            }
        )

    def _booked_ops(
        self,
        summary: AppointmentSummary,
        customer: Customer,
        assignments: Mapping[str, StaffAssignment],
        stale_slots: Sequence[str],
    ) -> list[_Op]:
        now = self._clock()
        expires = self._expires_at(summary.company_id, summary.end)
        first = summary.segments[0]
        lead = assignments.get(first.hold)
        appointment = AppointmentRecord(
            summary.company_id,
            summary.appointment_id,
            kind="appointment",
            status="booked",
            service_id=summary.service_id,
            service_name=summary.service_name,
            pause_policy=summary.pause_policy.value,
            timezone=summary.timezone,
            starts_at=summary.start,
            ends_at=summary.end,
            staff_id=summary.staff_id,
            calcom_host_id=first.calcom_host_id,
            staff_source=lead.strategy if lead else None,
            staff_confidence=lead.confidence if lead else None,
            staff_reason=lead.reason if lead else None,
            calcom_booking_uid=first.calcom_booking_uid,
            calcom_booking_uids=dict(summary.calcom_booking_uids),
            composite_group_uid=summary.composite_group_uid,
            confirmation_code=summary.confirmation_code,
            customer_name=customer.name,
            customer_email=customer.email,
            customer_phone=customer.phone,
            customer_key=customer_phone_key(summary.company_id, customer.phone) if customer.phone else None,
            call_id=summary.call_id,
            slot_cache_keys=sorted(stale_slots) or None,
            created_at=now,
            updated_at=now,
            expires_at=expires,
        )
        absent = AppointmentRecord.appointment_id.does_not_exist()
        ops: list[_Op] = [("appointment", "put", _save(appointment, absent))]
        for segment in summary.segments:
            record = _segment_record(summary, segment, assignments.get(segment.hold), now, expires)
            ops.append(("segment", "put", _save(record, absent)))
        code = AppointmentRecord(
            summary.company_id,
            code_item_id(summary.confirmation_code),
            kind="confirmation_code",
            parent_id=summary.appointment_id,
            confirmation_code=summary.confirmation_code,
            created_at=now,
            updated_at=now,
            expires_at=expires,
        )
        ops.append(("code", "put", _save(code, absent)))
        return ops

    # ------------------------------------------------------------------ failed

    def save_failed(
        self,
        company_id: str,
        booking_id: str,
        *,
        error: str,
        cause: str,
        details: Mapping[str, Any],
        segment_keys: list[str],
        stale_slots: Sequence[str] = (),
    ) -> None:
        """Record a failed attempt (status failed, error name and message), remove what a booked
        write of the same attempt may have left (its segments and code) and drop the slot-cache
        entries `stale_slots` (Cal.com may have refused a slot the cache offered): one transaction."""
        now = self._clock()
        existing = self.get(company_id, booking_id)
        record = AppointmentRecord(
            company_id,
            booking_id,
            kind="appointment",
            status="failed",
            error=error,
            error_cause=cause[:1000],
            created_at=now,
            updated_at=now,
            expires_at=self._expires_at(company_id, details.get("ends_at")),
            **{key: value for key, value in details.items() if value is not None},
        )
        ops: list[_Op] = [("appointment", "put", _save(record, None))]
        for key in segment_keys:
            item = AppointmentRecord(company_id, segment_item_id(booking_id, key))
            ops.append(("segment", "delete", _delete(item)))
        code = (existing or {}).get("confirmation_code")
        if code:
            ops.append(("code", "delete", _delete(AppointmentRecord(company_id, code_item_id(code)))))
        ops += _drop_slots(stale_slots)
        try:
            self._transact(ops)
        except _ConditionsFailed as failed:  # no item here has a condition
            raise StoreUnavailable(_UNAVAILABLE) from failed

    # ------------------------------------------------------------------ cancelled, rescheduled

    def load(self, company_id: str, appointment_id: str) -> tuple[AppointmentRecord, list[AppointmentRecord]]:
        """An appointment item and its segment items (consistent reads); NotFound when the company
        has no appointment of that id (a segment's or a code's item id is no appointment either)."""
        try:
            head = AppointmentRecord.get(company_id, appointment_id, consistent_read=True)
            segments = list(
                AppointmentRecord.query(
                    company_id,
                    AppointmentRecord.appointment_id.startswith(f"{appointment_id}#"),
                    consistent_read=True,
                )
            )
        except DoesNotExist as exc:
            raise NotFound(f"no appointment {appointment_id!r}") from exc
        except PynamoDBException as exc:
            raise StoreUnavailable(_UNAVAILABLE) from exc
        if head.kind != "appointment":
            raise NotFound(f"no appointment {appointment_id!r}")
        return head, [s for s in segments if s.kind == "segment"]

    def save_cancelled(
        self, company_id: str, appointment_id: str, *, reason: str, failed_uids: list[str]
    ) -> AppointmentRecord:
        """Mark the appointment and its segments cancelled (reason, time) and drop the slot-cache
        entries its holds fell in: one transaction.

        With `failed_uids` (Cal.com bookings that could not be cancelled) the appointment becomes
        `cancel_failed` naming them, and only the segments whose booking was cancelled are marked.
        Conditioned on the appointment being unchanged since it was read; an appointment already
        cancelled is returned as it is (a retried step).
        """
        head, segments = self.load(company_id, appointment_id)
        if head.status == "cancelled":
            return head
        now = self._clock()
        failed = set(failed_uids)
        condition = AppointmentRecord.status.is_in("booked", "cancel_failed") & (
            AppointmentRecord.updated_at == head.updated_at
        )
        head.status = "cancel_failed" if failed else "cancelled"
        head.cancel_reason = reason
        head.cancelled_at = None if failed else now
        head.failed_cancel_uids = sorted(failed) or None
        head.updated_at = now
        ops: list[_Op] = [("appointment", "put", _save(head, condition))]
        for segment in segments:
            if segment.status == "cancelled" or segment.calcom_booking_uid in failed:
                continue
            segment.status = "cancelled"
            segment.cancel_reason = reason
            segment.cancelled_at = now
            segment.updated_at = now
            ops.append(("segment", "put", _save(segment, None)))
        ops += _drop_slots(head.slot_cache_keys or ())
        try:
            self._transact(ops)
        except _ConditionsFailed as lost:
            again, _ = self.load(company_id, appointment_id)
            if again.status == "cancelled":
                return again
            raise AppointmentConflict(
                f"appointment {appointment_id} changed while it was being cancelled; try again"
            ) from lost
        return head

    def save_rescheduled(
        self,
        summary: AppointmentSummary,
        assignments: Mapping[str, StaffAssignment],
        *,
        old_uids: Mapping[str, str],
        lease: LeaseRef | None,
        stale_slots: Sequence[str] = (),
    ) -> AppointmentSummary:
        """Swap a rescheduled appointment to its new bookings: one transaction, which also drops
        the slot-cache entries of the old holds and the new ones (`stale_slots`, kept from now on).

        The appointment keeps its id, confirmation code and group uid, and gets the new times,
        staff and Cal.com uids (the old ones kept as `replaced_calcom_booking_uids`); every
        segment item is written again from the new bookings, segments the new plan lacks are
        removed, and the attempt's slot lease is released. Conditioned on the appointment still
        being booked on `old_uids`; done already (a retried step) answers with the summary.
        """
        head, segments = self.load(summary.company_id, summary.appointment_id)
        current = stored_uids(head)
        if head.status == "booked" and current == dict(summary.calcom_booking_uids):
            return summary
        if head.status != "booked" or current != dict(old_uids):
            raise AppointmentConflict(
                f"appointment {summary.appointment_id} changed during the reschedule (status {head.status})"
            )
        now = self._clock()
        condition = (AppointmentRecord.status == "booked") & (AppointmentRecord.updated_at == head.updated_at)
        first = summary.segments[0]
        lead = assignments.get(first.hold)
        head.starts_at = summary.start
        head.ends_at = summary.end
        head.staff_id = summary.staff_id
        head.calcom_host_id = first.calcom_host_id
        head.staff_source = lead.strategy if lead else None
        head.staff_confidence = lead.confidence if lead else None
        head.staff_reason = lead.reason if lead else None
        head.calcom_booking_uid = first.calcom_booking_uid
        head.calcom_booking_uids = dict(summary.calcom_booking_uids)
        head.replaced_calcom_booking_uids = dict(old_uids)
        head.rescheduled_at = now
        head.reschedule_count = int(head.reschedule_count or 0) + 1
        old_slots = head.slot_cache_keys or []
        head.slot_cache_keys = sorted(stale_slots) or None
        head.updated_at = now
        # The end moved: so does the TTL of the appointment, its segments and its code.
        head.expires_at = self._expires_at(summary.company_id, summary.end)
        ops: list[_Op] = [("appointment", "put", _save(head, condition))]
        if head.confirmation_code:
            code = AppointmentRecord(summary.company_id, code_item_id(head.confirmation_code))
            moved = [AppointmentRecord.expires_at.set(head.expires_at)]
            exists = AppointmentRecord.appointment_id.exists()
            ops.append(("code", "update", lambda tx: tx.update(code, actions=moved, condition=exists)))
        keys = {segment.key for segment in summary.segments}
        for segment in summary.segments:
            record = _segment_record(summary, segment, assignments.get(segment.hold), now, head.expires_at)
            ops.append(("segment", "put", _save(record, None)))
        for old in segments:
            if old.segment_key not in keys:
                ops.append(("segment", "delete", _delete(old)))
        if lease is not None:
            ops.append(("lease", "delete", _release(lease)))
        ops += _drop_slots({*old_slots, *stale_slots})
        try:
            self._transact(ops)
        except _ConditionsFailed as lost:
            if lost.labels == {"lease"}:  # taken over by another booking: theirs stays
                return self.save_rescheduled(
                    summary, assignments, old_uids=old_uids, lease=None, stale_slots=stale_slots
                )
            raise AppointmentConflict(
                f"appointment {summary.appointment_id} changed during the reschedule"
            ) from lost
        return summary

    def note_pending_cancels(self, company_id: str, appointment_id: str, uids: list[str]) -> None:
        """A booked appointment's old Cal.com bookings (of its last reschedule) that still await
        their cancel (ADR 0024): listed in `failed_cancel_uids` until the worker clears them."""
        record = AppointmentRecord(company_id, appointment_id)
        conditional_write(
            lambda: record.update(
                actions=[
                    AppointmentRecord.failed_cancel_uids.set(sorted(uids)),
                    AppointmentRecord.updated_at.set(self._clock()),
                ],
                condition=AppointmentRecord.appointment_id.exists(),
            ),
            unavailable=_UNAVAILABLE,
        )

    def clear_pending_cancels(self, company_id: str, appointment_id: str, uids: list[str]) -> None:
        """The old bookings `uids` are cancelled: the appointment's note goes, unless it names
        others now (a later reschedule's); an appointment that is gone is left alone."""
        record = AppointmentRecord(company_id, appointment_id)
        conditional_write(
            lambda: record.update(
                actions=[
                    AppointmentRecord.failed_cancel_uids.remove(),
                    AppointmentRecord.updated_at.set(self._clock()),
                ],
                condition=AppointmentRecord.failed_cancel_uids == sorted(uids),
            ),
            unavailable=_UNAVAILABLE,
        )

    def mark_compensated(self, company_id: str, booking_id: str) -> bool:
        """A failed attempt's deferred cancels are done (ADR 0024). False when there is no failed
        attempt of that id (nothing is created: never half a record)."""
        record = AppointmentRecord(company_id, booking_id)
        return conditional_write(
            lambda: record.update(
                actions=[
                    AppointmentRecord.compensation.set("compensated"),
                    AppointmentRecord.updated_at.set(self._clock()),
                ],
                condition=AppointmentRecord.status == "failed",
            ),
            unavailable=_UNAVAILABLE,
        )

    # ------------------------------------------------------------------ reads

    def get(self, company_id: str, appointment_id: str) -> dict[str, Any] | None:
        try:
            return AppointmentRecord.get(company_id, appointment_id, consistent_read=True).to_simple_dict()
        except DoesNotExist:
            return None
        except PynamoDBException as exc:
            raise StoreUnavailable(_UNAVAILABLE) from exc

    def items(self, company_id: str, booking_id: str) -> list[dict[str, Any]]:
        """The appointment item of a booking attempt and its segment items."""
        try:
            segments = AppointmentRecord.query(
                company_id, AppointmentRecord.appointment_id.startswith(f"{booking_id}#")
            )
            found = [r.to_simple_dict() for r in segments]
        except PynamoDBException as exc:
            raise StoreUnavailable(_UNAVAILABLE) from exc
        head = self.get(company_id, booking_id)
        return ([head] if head else []) + found

    def for_customer_phone(
        self, company_id: str, phone: str, *, after: datetime, statuses: Sequence[str] = ("booked",)
    ) -> list[CustomerAppointment]:
        """The appointments of a caller (E.164 phone) in one of `statuses` starting after `after`,
        earliest first: one query of the by_customer_phone index, scoped to the company by its key."""
        try:
            records = AppointmentRecord.by_customer_phone.query(
                customer_phone_key(company_id, phone),
                AppointmentRecord.starts_at > after,
                filter_condition=(AppointmentRecord.kind == "appointment")
                & (AppointmentRecord.status.is_in(*statuses)),
            )
            return [_customer_appointment(r) for r in records if r.company_id == company_id]
        except PynamoDBException as exc:
            raise StoreUnavailable(_UNAVAILABLE) from exc

    def by_confirmation_code(self, company_id: str, code: str) -> CustomerAppointment | None:
        """The appointment a confirmation code belongs to (any status), or None."""
        try:
            claim = AppointmentRecord.get(company_id, code_item_id(code))
            if claim.kind != "confirmation_code" or not claim.parent_id:
                return None
            head = AppointmentRecord.get(company_id, claim.parent_id)
        except DoesNotExist:
            return None
        except PynamoDBException as exc:
            raise StoreUnavailable(_UNAVAILABLE) from exc
        if head.kind != "appointment" or head.starts_at is None:
            return None
        return _customer_appointment(head)

    # ------------------------------------------------------------------ plumbing

    @staticmethod
    def _transact(ops: list[_Op]) -> None:
        """One TransactWrite; a lost condition raises _ConditionsFailed with the items' labels."""
        # PynamoDB sends condition checks, then deletes, then puts, then updates: the cancellation
        # reasons come back in that order, so label them in that order.
        sent = [op for kind in ("delete", "put", "update") for op in ops if op[1] == kind]
        try:
            with TransactWrite(connection=transaction_connection()) as tx:
                for _, _, add in sent:
                    add(tx)
        except TransactWriteError as exc:
            reasons = exc.cancellation_reasons or []
            failed = {
                sent[index][0]
                for index, reason in enumerate(reasons)
                if reason is not None and reason.code == "ConditionalCheckFailed" and index < len(sent)
            }
            if failed:
                raise _ConditionsFailed(failed) from exc
            raise StoreUnavailable(_UNAVAILABLE) from exc
        except PynamoDBException as exc:
            raise StoreUnavailable(_UNAVAILABLE) from exc


def _save(record: AppointmentRecord, condition: Any) -> Callable[[TransactWrite], None]:
    return lambda tx: tx.save(record, condition=condition)


def _delete(record: AppointmentRecord) -> Callable[[TransactWrite], None]:
    return lambda tx: tx.delete(record)


def _drop_slots(keys: Iterable[str]) -> list[_Op]:
    """Deletes of slot-cache entries (unconditional: an entry that expired already is no error)."""
    return [("slot", "delete", _delete_slot(key)) for key in sorted(set(keys))]


def _delete_slot(key: str) -> Callable[[TransactWrite], None]:
    return lambda tx: tx.delete(SlotCacheRecord(key))


def _note_call(company_id: str, call_id: str, note: CallAppointment) -> Callable[[TransactWrite], None]:
    return lambda tx: CallRepository.note_in(tx, company_id, call_id, note)


def _release(lease: LeaseRef) -> Callable[[TransactWrite], None]:
    return lambda tx: LeaseRepository.release_in(tx, lease.company_id, lease.lease_key, lease.owner)


def _segment_record(
    summary: AppointmentSummary,
    segment: SegmentSummary,
    assignment: StaffAssignment | None,
    now: datetime,
    expires: int,
) -> AppointmentRecord:
    return AppointmentRecord(
        summary.company_id,
        segment_item_id(summary.appointment_id, segment.key),
        kind="segment",
        status="booked",
        parent_id=summary.appointment_id,
        service_id=summary.service_id,
        segment_key=segment.key,
        segment_name=segment.name,
        hold_key=segment.hold,
        starts_at=segment.start,
        ends_at=segment.end,
        staff_id=segment.staff_id,
        calcom_host_id=segment.calcom_host_id,
        staff_source=assignment.strategy if assignment else None,
        staff_confidence=assignment.confidence if assignment else None,
        staff_reason=assignment.reason if assignment else None,
        calcom_booking_uid=segment.calcom_booking_uid,
        composite_group_uid=summary.composite_group_uid,
        created_at=now,
        updated_at=now,
        expires_at=expires,
    )


def _customer_appointment(record: AppointmentRecord) -> CustomerAppointment:
    return CustomerAppointment(
        appointment_id=record.appointment_id,
        company_id=record.company_id,
        status=record.status or "",
        service_id=record.service_id,
        service_name=record.service_name,
        staff_id=record.staff_id,
        start=record.starts_at,
        end=record.ends_at,
        confirmation_code=record.confirmation_code,
    )


def stored_uids(record: AppointmentRecord) -> dict[str, str]:
    """An appointment item's Cal.com uids per hold (hold key -> uid)."""
    value = record.calcom_booking_uids
    if value is None:
        return {}
    raw = value.as_dict() if hasattr(value, "as_dict") else dict(value)
    return {str(k): str(v) for k, v in raw.items()}


# ------------------------------------------------------------------ reconciliation (ADR 0023)


class ReconciliationRecords:
    """The appointments table as reconciliation reads it, company by company (its marks go through
    the webhook intake's attention items, adapters/store/calcom_changes.py)."""

    def appointments(self, company_id: str) -> list[AppointmentOnRecord]:
        """Every appointment of the company (any status, any time: a live one anywhere holds its
        Cal.com bookings) with its holds and their segments; one query of the company's partition."""
        try:
            records = list(
                AppointmentRecord.query(
                    company_id,
                    filter_condition=AppointmentRecord.kind.is_in("appointment", "segment"),
                    consistent_read=True,
                )
            )
        except PynamoDBException as exc:
            raise StoreUnavailable(_UNAVAILABLE) from exc
        segments: dict[tuple[str, str], list[AppointmentRecord]] = {}
        for record in records:
            if record.kind == "segment" and record.parent_id and record.calcom_booking_uid:
                segments.setdefault((record.parent_id, record.calcom_booking_uid), []).append(record)
        return [
            AppointmentOnRecord(
                appointment_id=record.appointment_id,
                status=record.status or "",
                starts_at=record.starts_at,
                holds=tuple(
                    _hold(hold, uid, segments.get((record.appointment_id, uid), []))
                    for hold, uid in sorted(stored_uids(record).items())
                ),
            )
            for record in records
            if record.kind == "appointment"
        ]


def _hold(hold: str, uid: str, segments: list[AppointmentRecord]) -> HoldOnRecord:
    starts = [s.starts_at for s in segments if s.starts_at is not None]
    return HoldOnRecord(
        hold=hold,
        uid=uid,
        start=min(starts) if starts else None,
        segment_keys=tuple(sorted(s.segment_key for s in segments if s.segment_key)),
    )
