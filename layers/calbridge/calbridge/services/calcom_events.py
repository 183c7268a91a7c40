"""Changes made in Cal.com, from its booking webhooks (`POST /calcom/webhook/{company_id}`).

The handler has verified the company's signature on the raw body; this service reads the body,
finds the appointment that holds the booking (by our metadata's booking id, else by the Cal.com
uid through the appointments' `by_calcom_uid` index) and applies `domain.calcom_events.decide`:
a segment cancelled, moved, rejected or left waiting for a host in Cal.com marks the appointment
for the salon's attention; a reassignment re-resolves the hold's staff through host resolution
and marks it when the staff member changed. calbridge's own cancels and reschedules, bookings that
are not ours and other triggers write nothing. Deliveries are at least once and in any order: a
change is recorded once per (trigger, uid, createdAt), and an older reassignment never overrides
a newer one (docs/adr/0021-calcom-webhook-intake.md).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Literal

from aws_lambda_powertools.metrics import MetricUnit, single_metric
from pydantic import BaseModel, ConfigDict

from calbridge.adapters.parsing import parse_json, parse_model
from calbridge.adapters.store.calcom_changes import CalcomChangeRecords
from calbridge.adapters.store.repositories import CompanyRepository
from calbridge.domain.calcom_events import (
    WATCHED,
    AppointmentState,
    Attention,
    AttentionMark,
    BookingPayload,
    CalcomChange,
    HostChange,
    Ignore,
    Reassign,
    Trigger,
    WebhookEnvelope,
    decide,
    staff_change,
)
from calbridge.observability import logger, metrics

if TYPE_CHECKING:
    from calbridge.services.host_resolution import HostResolver

_KNOWN_TRIGGERS = frozenset(trigger.value for trigger in Trigger)
_WATCHED = frozenset(trigger.value for trigger in WATCHED)


class WebhookOutcome(BaseModel):
    """What a delivery did (the answer's body; Cal.com only looks at the status)."""

    model_config = ConfigDict(frozen=True)

    trigger: str
    outcome: Literal["ignored", "marked", "recorded", "duplicate", "stale"]
    reason: str | None = None
    appointment_id: str | None = None


class CalcomEvents:
    def __init__(
        self,
        companies: CompanyRepository,
        records: CalcomChangeRecords,
        resolver: Callable[[], HostResolver],
    ) -> None:
        self._companies = companies
        self._records = records
        self._resolver = resolver  # built on the first reassignment: no cold-start cost otherwise

    def receive(self, company_id: str, raw_body: bytes) -> WebhookOutcome:
        """Apply one signed delivery for `company_id`. Raises UnknownCompany (no such company),
        InvalidRequest (not a Cal.com webhook) before anything is written."""
        self._companies.get(company_id)
        envelope = parse_model(WebhookEnvelope, parse_json(raw_body))
        trigger = envelope.trigger
        with single_metric(
            name="CalcomWebhookReceived", unit=MetricUnit.Count, value=1, namespace=metrics.namespace
        ) as metric:
            metric.add_dimension(name="trigger", value=trigger if trigger in _KNOWN_TRIGGERS else "other")
        if trigger not in _WATCHED:
            logger.info("Cal.com webhook: trigger not watched", company_id=company_id, trigger=trigger)
            return WebhookOutcome(trigger=trigger, outcome="ignored", reason="unwatched_trigger")
        change = CalcomChange.read(envelope, parse_model(BookingPayload, envelope.payload, at="payload"))
        decision = decide(change, company_id, self._holder(company_id, change))
        if isinstance(decision, Ignore):
            log = logger.warning if decision.reason == "other_company" else logger.info
            log(
                "Cal.com webhook: nothing to change",
                company_id=company_id,
                trigger=trigger,
                uid=change.uid,
                reason=decision.reason,
            )
            return WebhookOutcome(trigger=trigger, outcome="ignored", reason=decision.reason)
        if isinstance(decision, Reassign):
            return self._reassigned(company_id, change, decision, envelope.payload)
        mark = AttentionMark.of(change, decision)
        return self._record(company_id, change, decision.appointment_id, mark, None)

    def _holder(self, company_id: str, change: CalcomChange) -> AppointmentState | None:
        """The appointment that holds the booking (its uid current, or replaced by calbridge):
        first the one our metadata names, then those the uid index finds. Else the one the
        metadata names (the booking is an earlier generation of it), else None."""
        named = None
        if change.metadata_booking_id and change.metadata_company in (None, company_id):
            named = self._records.state(company_id, change.metadata_booking_id)
            if named is not None and _holds(named, change.uid):
                return named
        for appointment_id in self._records.appointments_holding(company_id, change.uid):
            state = self._records.state(company_id, appointment_id)
            if state is not None and _holds(state, change.uid):
                return state
        return named

    def _reassigned(
        self, company_id: str, change: CalcomChange, decision: Reassign, payload: dict[str, object]
    ) -> WebhookOutcome:
        primary = self._resolver().resolve_booking(company_id, payload).primary
        staff_id = primary.staff_id if primary else None
        changed, previous = staff_change(decision.segments, staff_id)
        segment_keys = tuple(s.key for s in decision.segments)
        host = HostChange(
            appointment_id=decision.appointment_id,
            hold=decision.hold,
            segment_keys=segment_keys,
            calcom_host_id=primary.calcom_host_id if primary else None,
            staff_id=staff_id,
            strategy=primary.strategy if primary else None,
            confidence=primary.confidence if primary else None,
            reason=primary.reason if primary else "the reassigned booking has no host",
            calcom_created_at=change.calcom_created_at,
        )
        mark = None
        if changed:
            who = staff_id or "a Cal.com host without a staff member"
            attention = Attention(
                appointment_id=decision.appointment_id,
                hold=decision.hold,
                segment_keys=segment_keys or (decision.hold,),
                reason=f"reassigned in Cal.com to {who}",
            )
            mark = AttentionMark.of(change, attention).model_copy(
                update={"previous_staff_id": previous, "new_staff_id": staff_id}
            )
        return self._record(company_id, change, decision.appointment_id, mark, host)

    def _record(
        self,
        company_id: str,
        change: CalcomChange,
        appointment_id: str,
        mark: AttentionMark | None,
        host: HostChange | None,
    ) -> WebhookOutcome:
        written = self._records.record_change(company_id, mark, host)
        trigger = change.trigger.value
        if written == "marked" and mark is not None:
            metrics.add_metric(name="AppointmentNeedsAttention", unit=MetricUnit.Count, value=1)
            logger.warning(
                "appointment needs attention",
                company_id=company_id,
                appointment_id=mark.appointment_id,
                hold=mark.hold,
                segments=list(mark.segment_keys),
                attention_reason=mark.reason,
                trigger=mark.trigger,
            )
        else:
            logger.info(
                "Cal.com change recorded",
                company_id=company_id,
                appointment_id=appointment_id,
                outcome=written,
                trigger=trigger,
            )
        return WebhookOutcome(trigger=trigger, outcome=written, appointment_id=appointment_id)


def _holds(state: AppointmentState, uid: str) -> bool:
    return state.hold_of(uid) is not None or uid in state.replaced_uids
