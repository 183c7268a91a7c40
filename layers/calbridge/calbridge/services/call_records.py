"""Call records from Retell's lifecycle webhooks (`POST /retell/events`) and from the tools.

The tenant comes from signed call data only, through services/tenancy.py (metadata, agent id,
dialled number). Events of a call no company claims are acknowledged, logged and counted, and
write nothing: Retell would redeliver a refused webhook three times, to no avail.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit, single_metric

from calbridge.adapters.retell.payloads import (
    CALL_LIFECYCLE_EVENTS,
    LifecycleCall,
    parse_call_event,
    webhook_event_name,
)
from calbridge.adapters.store.calls import CallRepository
from calbridge.adapters.store.repositories import CompanyRepository
from calbridge.domain.calls import AppointmentAction, CallAppointment, CallEvent, CallFacts
from calbridge.domain.models import normalize_phone
from calbridge.errors import UnknownCompany
from calbridge.observability import follow, logger, metrics
from calbridge.services.tenancy import CallTenancy, Tenant


def _utc(timestamp_ms: int | None) -> datetime | None:
    if timestamp_ms is None:
        return None
    # Integer arithmetic: a float division would turn .538 s into .537999.
    seconds, millis = divmod(timestamp_ms, 1000)
    return datetime.fromtimestamp(seconds, UTC) + timedelta(milliseconds=millis)


def _e164(value: str | None, field: str) -> str | None:
    """The number in E.164, or None for what is not a phone number (withheld caller ID, SIP URIs)."""
    if not value:
        return None
    try:
        return normalize_phone(value)
    except ValueError:
        logger.info("call number is not E.164; not stored", field=field)
        return None


class CallRecords:
    def __init__(
        self,
        companies: CompanyRepository,
        calls: CallRepository,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._tenancy = CallTenancy(companies)
        self._calls = calls
        self._clock = clock

    def receive(self, body: bytes | dict[str, Any]) -> bool:
        """Record a lifecycle webhook (the raw body, or its parsed JSON); True if it changed the record.

        Other Retell events, redelivered events and events of a call no company claims are
        acknowledged and change nothing. Raises InvalidRequest (bad payload) before anything is
        written.
        """
        name = webhook_event_name(body)
        if name not in CALL_LIFECYCLE_EVENTS:
            logger.debug("call webhook not recorded", event=name)
            return False
        request = parse_call_event(body)
        call = request.call
        follow(call_id=call.call_id)
        tenant = self._tenant(call)
        if tenant is None:
            return False
        company_id, branch_id = tenant.company.company_id, tenant.branch_id
        follow(company_id=company_id)
        event = CallEvent(request.event)
        recorded = self._calls.record_event(
            company_id,
            call.call_id,
            event,
            self._facts(call, branch_id),
            now=self._clock(),
            retention_days=tenant.company.call_retention_days,
        )
        if recorded:
            with single_metric(
                name="CallEventRecorded", unit=MetricUnit.Count, value=1, namespace=metrics.namespace
            ) as metric:
                metric.add_dimension(name="event", value=event.value)
            logger.info(
                "call event recorded", call_event=event.value, company_id=company_id, call_id=call.call_id
            )
        else:
            metrics.add_metric(name="CallEventDuplicate", unit=MetricUnit.Count, value=1)
            logger.info("call event redelivered; unchanged", call_event=event.value, call_id=call.call_id)
        return recorded

    def note_appointment(
        self,
        company_id: str,
        call_id: str,
        appointment_id: str,
        action: AppointmentAction | str,
        *,
        change_of: str | None = None,
    ) -> bool:
        """Record that the call booked, cancelled or rescheduled an appointment (`change_of`: the
        fingerprint of the tool call that did it).

        Works before, between or after the lifecycle events; False when a booking or cancellation
        of this appointment was noted already (a retried tool call).
        """
        appointment = CallAppointment(
            appointment_id=appointment_id,
            action=AppointmentAction(action),
            at=self._clock(),
            change_of=change_of,
        )
        noted = self._calls.note_appointment(company_id, call_id, appointment)
        if noted:
            metrics.add_metric(name="CallAppointmentNoted", unit=MetricUnit.Count, value=1)
        return noted

    def changes_not_by(self, company_id: str, call_id: str, fingerprint: str) -> int:
        """How many appointment changes of the call were made by tool calls other than `fingerprint`
        (one consistent read; 0 for a call with no record yet)."""
        recorded = self._calls.get(company_id, call_id)
        return 0 if recorded is None else recorded.changes_not_by(fingerprint)

    def _tenant(self, call: LifecycleCall) -> Tenant | None:
        """The call's tenant; None (logged and counted) when no company claims the call."""
        try:
            tenant = self._tenancy.tenant_of(call)
        except UnknownCompany:  # the metadata names a company that no longer exists
            tenant = None
        if tenant is None:
            metrics.add_metric(name="CallEventUnknownCompany", unit=MetricUnit.Count, value=1)
            logger.warning(  # ids only: the numbers are the caller's
                "call event of no company; not recorded",
                call_id=call.call_id,
                agent_id=call.agent_id,
                metadata_company_id=call.metadata.company_id,
            )
        return tenant

    @staticmethod
    def _facts(call: LifecycleCall, branch_id: str | None) -> CallFacts:
        analysis = call.call_analysis
        return CallFacts(
            branch_id=branch_id,
            agent_id=call.agent_id,
            direction=call.direction,
            from_number=_e164(call.from_number, "from_number"),
            to_number=_e164(call.to_number, "to_number"),
            started_at=_utc(call.start_timestamp),
            ended_at=_utc(call.end_timestamp),
            duration_ms=call.duration_ms,
            disconnection_reason=call.disconnection_reason,
            summary=analysis.call_summary if analysis else None,
            user_sentiment=analysis.user_sentiment if analysis else None,
            call_successful=analysis.call_successful if analysis else None,
            in_voicemail=analysis.in_voicemail if analysis else None,
        )
