"""What happened at a salon, for the admin API: a local day's appointments and calls, paged, and one
of each (docs/adr/0031-reading-appointments-and-calls.md).

Lists mask the caller's phone number and leave out e-mail addresses and call summaries; one
appointment or call shows them (the salon calls a customer back from it). Filters the store
cannot apply (an appointment's branch comes from the call that booked it; a staff member may
work one segment of it; a call's outcome is derived) are applied here, page by page: a page holds
`limit` matches unless the day runs out, and `next_cursor` is there when the day has more items
to look at (the next page may then hold fewer matches, or none).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from calbridge.adapters.store.calls import CallRepository
from calbridge.adapters.store.repositories import CompanyRepository
from calbridge.adapters.store.salon_records import APPOINTMENT_POSITION, CALL_POSITION, SalonRecords
from calbridge.domain.calls import RecordedCall
from calbridge.domain.salon_records import (
    AppointmentListing,
    CallListing,
    RecordedAppointment,
    call_outcome,
    decode_cursor,
    encode_cursor,
    local_day_bounds,
    page_of,
)
from calbridge.errors import NotFound
from calbridge.observability import mask_phone


class SalonRecordsService:
    def __init__(self, companies: CompanyRepository, records: SalonRecords, calls: CallRepository) -> None:
        self._companies = companies
        self._records = records
        self._calls = calls

    def appointments(self, company_id: str, listing: AppointmentListing) -> dict[str, Any]:
        """The appointments starting on the company's local day, earliest first."""
        company = self._companies.get(company_id)  # UnknownCompany: 404
        after = decode_cursor(listing.cursor, company_id, listing.key(), APPOINTMENT_POSITION)
        start, end = local_day_bounds(listing.day, company.timezone)
        items = self._records.appointments_of_day(
            company_id, start, end, listing.statuses, after=after, page_size=listing.limit + 1
        )

        def keep(chunk: list[RecordedAppointment]) -> list[dict[str, Any] | None]:
            completed = self._completed(company_id, chunk)
            return [_listed_appointment(a) if _matches(a, listing) else None for a in completed]

        found, position = page_of(items, listing.limit, keep)
        return {
            "company_id": company_id,
            "date": listing.day.isoformat(),
            "timezone": company.timezone,
            "appointments": found,
            "next_cursor": encode_cursor(company_id, listing.key(), position) if position else None,
        }

    def appointment(self, company_id: str, appointment_id: str) -> dict[str, Any]:
        self._companies.get(company_id)
        found = self._records.appointment(company_id, appointment_id)
        branch = self._branches(company_id, [found]).get(found.call_id or "")
        return {"appointment": found.model_copy(update={"branch_id": branch}).model_dump(mode="json")}

    def calls(self, company_id: str, listing: CallListing) -> dict[str, Any]:
        """The call records first written on the company's local day, newest first."""
        company = self._companies.get(company_id)
        after = decode_cursor(listing.cursor, company_id, listing.key(), CALL_POSITION)
        start, end = local_day_bounds(listing.day, company.timezone)
        items = self._records.calls_of_day(company_id, start, end, after=after, page_size=listing.limit + 1)

        def keep(chunk: list[RecordedCall]) -> list[dict[str, Any] | None]:
            wanted = listing.outcome
            return [_listed_call(c) if wanted is None or call_outcome(c) is wanted else None for c in chunk]

        found, position = page_of(items, listing.limit, keep)
        return {
            "company_id": company_id,
            "date": listing.day.isoformat(),
            "timezone": company.timezone,
            "calls": found,
            "next_cursor": encode_cursor(company_id, listing.key(), position) if position else None,
        }

    def call(self, company_id: str, call_id: str) -> dict[str, Any]:
        self._companies.get(company_id)
        found = self._calls.get(company_id, call_id)
        if found is None:
            raise NotFound(f"no call {call_id!r}")
        return {"call": _detailed_call(found)}

    def _completed(self, company_id: str, chunk: Sequence[RecordedAppointment]) -> list[RecordedAppointment]:
        """The chunk's appointments with their segments and branch: two reads for the whole chunk."""
        segments = self._records.segments_of(company_id, chunk)
        branches = self._branches(company_id, chunk)
        return [
            a.model_copy(
                update={
                    "segments": tuple(sorted(segments.get(a.appointment_id, ()), key=lambda s: s.start)),
                    "branch_id": branches.get(a.call_id or ""),
                }
            )
            for a in chunk
        ]

    def _branches(self, company_id: str, appointments: Sequence[RecordedAppointment]) -> dict[str, str]:
        """The branch of each source call (call id -> branch id): the branch the caller dialled."""
        calls = self._records.calls(company_id, [a.call_id for a in appointments if a.call_id])
        return {call_id: call.branch_id for call_id, call in calls.items() if call.branch_id}


def _matches(appointment: RecordedAppointment, listing: AppointmentListing) -> bool:
    if listing.branch_id is not None and appointment.branch_id != listing.branch_id:
        return False
    return listing.staff_id is None or appointment.works_for(listing.staff_id)


def _listed_appointment(appointment: RecordedAppointment) -> dict[str, Any]:
    """As a day's list shows it: the phone masked, no e-mail (a list is read, copied and kept in
    bulk; one appointment's page has the contact details)."""
    shown = appointment.model_dump(mode="json", exclude={"customer_phone", "customer_email"})
    shown["customer_phone"] = mask_phone(appointment.customer_phone) if appointment.customer_phone else None
    return shown


def _listed_call(call: RecordedCall) -> dict[str, Any]:
    """As a day's list shows it: the caller's number masked and no summary (it may name them)."""
    return {
        "call_id": call.call_id,
        "outcome": call_outcome(call).value,
        "status": call.status.value if call.status else None,
        "branch_id": call.branch_id,
        "direction": call.direction,
        "from_number": mask_phone(call.from_number) if call.from_number else None,
        "to_number": call.to_number,
        "started_at": _iso(call.started_at),
        "ended_at": _iso(call.ended_at),
        "duration_seconds": round(call.duration_ms / 1000) if call.duration_ms is not None else None,
        "created_at": _iso(call.created_at),
        "appointments": [a.model_dump(mode="json", exclude={"change_of"}) for a in call.appointments],
    }


def _detailed_call(call: RecordedCall) -> dict[str, Any]:
    """One call with what its record holds (tool-call fingerprints are internal)."""
    return {
        **_listed_call(call),
        "from_number": call.from_number,
        "agent_id": call.agent_id,
        "disconnection_reason": call.disconnection_reason,
        "summary": call.summary,
        "user_sentiment": call.user_sentiment,
        "call_successful": call.call_successful,
        "in_voicemail": call.in_voicemail,
        "events": [e.value for e in call.events],
        "updated_at": _iso(call.updated_at),
    }


def _iso(moment: Any) -> str | None:
    return moment.isoformat() if moment is not None else None
