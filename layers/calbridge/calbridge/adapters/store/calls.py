"""Call records in DynamoDB: one item per (company_id, call_id), written only by conditional updates.

Retell redelivers webhooks (up to 3 retries) and sends them out of order, and two events of a call
can arrive at the same moment. So nothing here reads before it writes: each lifecycle event is a
single UpdateItem conditioned on the event not being in the item's `events` set yet, which
records it in that set in the same step. Facts of the final event (`call_analyzed`) replace
stored ones, the others use if_not_exists; the status is derived from `events` on read
(domain/calls.py). Two different events therefore never lose each other's writes, and a
redelivered one changes nothing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pynamodb.exceptions import DoesNotExist, PynamoDBException
from pynamodb.transactions import TransactWrite

from calbridge.adapters.store.models import CallAppointmentAttribute, CallRecord, conditional_write
from calbridge.domain.calls import (
    FINAL_EVENT,
    ONCE_PER_APPOINTMENT,
    CallAppointment,
    CallEvent,
    CallFacts,
    RecordedCall,
)
from calbridge.domain.retention import expires_at
from calbridge.errors import StoreUnavailable

_UNAVAILABLE = "the call store is unavailable"


def _recorded(record: CallRecord) -> RecordedCall:
    # Not to_simple_dict(): it refuses string sets.
    data = {name: getattr(record, name) for name in RecordedCall.model_fields}
    data["events"] = record.events or set()
    data["appointments"] = [
        CallAppointment(appointment_id=a.appointment_id, action=a.action, at=a.at, change_of=a.change_of)
        for a in record.appointments or []
    ]
    return RecordedCall.model_validate(data)


def _note(appointment: CallAppointment) -> tuple[list[Any], Any]:
    """The update that appends `appointment` to a call's record, and its once-only condition."""
    key = f"{appointment.appointment_id}#{appointment.action.value}"
    entry = CallAppointmentAttribute(
        appointment_id=appointment.appointment_id,
        action=appointment.action.value,
        at=appointment.at,
        change_of=appointment.change_of,
    )
    actions = [
        CallRecord.appointments.set((CallRecord.appointments | []).append([entry])),
        CallRecord.appointment_keys.add({key}),
        CallRecord.created_at.set(CallRecord.created_at | appointment.at),
        CallRecord.updated_at.set(appointment.at),
    ]
    condition = None
    if appointment.action in ONCE_PER_APPOINTMENT:
        condition = CallRecord.appointment_keys.does_not_exist() | ~CallRecord.appointment_keys.contains(key)
    return actions, condition


class CallRepository:
    def record_event(
        self,
        company_id: str,
        call_id: str,
        event: CallEvent,
        facts: CallFacts,
        *,
        now: datetime,
        retention_days: int,
    ) -> bool:
        """Apply one lifecycle event to the call's record (created if absent).

        The record expires `retention_days` after its latest event (ADR 0028). False, and nothing
        written, when this event was applied before (a redelivery).
        """
        actions: list[Any] = [
            CallRecord.events.add({event.value}),
            CallRecord.created_at.set(CallRecord.created_at | now),
            CallRecord.updated_at.set(now),
            CallRecord.expires_at.set(expires_at(now, retention_days)),
        ]
        for name, value in facts.model_dump(exclude_none=True).items():
            attribute = getattr(CallRecord, name)
            actions.append(attribute.set(value if event is FINAL_EVENT else attribute | value))
        condition = CallRecord.events.does_not_exist() | ~CallRecord.events.contains(event.value)
        return self._update(company_id, call_id, actions, condition)

    def note_appointment(self, company_id: str, call_id: str, appointment: CallAppointment) -> bool:
        """Append the appointment to the call's record (created if absent, whatever events arrived).

        Booking or cancelling one appointment is noted once: False, and nothing written, the
        second time. Every reschedule is noted.
        """
        actions, condition = _note(appointment)
        return self._update(company_id, call_id, actions, condition)

    @staticmethod
    def note_in(tx: TransactWrite, company_id: str, call_id: str, appointment: CallAppointment) -> None:
        """The same note as one item of a transaction (the booking's Finalize): its condition fails
        the transaction when the appointment was noted already."""
        actions, condition = _note(appointment)
        tx.update(CallRecord(company_id, call_id), actions=actions, condition=condition)

    def get(self, company_id: str, call_id: str) -> RecordedCall | None:
        try:
            return _recorded(CallRecord.get(company_id, call_id, consistent_read=True))
        except DoesNotExist:
            return None
        except PynamoDBException as exc:
            raise StoreUnavailable(_UNAVAILABLE) from exc

    def list(self, company_id: str) -> list[RecordedCall]:
        try:
            return [_recorded(r) for r in CallRecord.query(company_id)]
        except PynamoDBException as exc:
            raise StoreUnavailable(_UNAVAILABLE) from exc

    @staticmethod
    def _update(company_id: str, call_id: str, actions: list[Any], condition: Any) -> bool:
        record = CallRecord(company_id, call_id)
        return conditional_write(
            lambda: record.update(actions=actions, condition=condition), unavailable=_UNAVAILABLE
        )
