"""Call records: what Retell's lifecycle webhooks and our tools tell about one call (pure models).

Retell redelivers webhooks and does not keep their order (docs/reference/retell.md §1), so a record is
built from whichever events arrived, in any order: its status is the furthest event seen, never
the last one received.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, computed_field, field_validator


class CallEvent(StrEnum):
    """The lifecycle events calbridge records, in the order a call goes through them."""

    STARTED = "call_started"
    ENDED = "call_ended"
    ANALYZED = "call_analyzed"


class CallStatus(StrEnum):
    STARTED = "started"
    ENDED = "ended"
    ANALYZED = "analyzed"


_STATUS_OF = {
    CallEvent.STARTED: CallStatus.STARTED,
    CallEvent.ENDED: CallStatus.ENDED,
    CallEvent.ANALYZED: CallStatus.ANALYZED,
}
_ORDER = list(CallEvent)

# `call_analyzed` carries Retell's full, final call object: its values replace what earlier events
# stored. The other events only fill what is still missing, so a late `call_started` never
# overwrites the end of a call.
FINAL_EVENT = CallEvent.ANALYZED


def furthest_status(events: Iterable[CallEvent]) -> CallStatus | None:
    """analyzed > ended > started, whatever order the events arrived in; None before any event."""
    seen = set(events)
    for event in reversed(_ORDER):
        if event in seen:
            return _STATUS_OF[event]
    return None


class AppointmentAction(StrEnum):
    BOOKED = "booked"
    CANCELLED = "cancelled"
    RESCHEDULED = "rescheduled"


# Booking or cancelling an appointment happens once; a retried tool call must not note it twice.
# Rescheduling the same appointment twice in one call is real, so every reschedule is noted.
ONCE_PER_APPOINTMENT = frozenset({AppointmentAction.BOOKED, AppointmentAction.CANCELLED})


class CallAppointment(BaseModel):
    """An appointment booked, cancelled or rescheduled during the call."""

    model_config = ConfigDict(frozen=True)

    appointment_id: str = Field(min_length=1)
    action: AppointmentAction
    at: datetime
    # The tool call that made the change, by its fingerprint (services/tools.py); None on notes
    # written before fingerprints were kept.
    change_of: str | None = None


# Free text from Retell is stored cut to these lengths (docs/adr/0015-tenant-of-a-call.md): a
# summary is a few sentences, a label (sentiment, hang-up reason, direction) one word of an enum.
# Both keep a call record far below DynamoDB's 400 KB item limit.
SUMMARY_MAX_CHARS = 4000
LABEL_MAX_CHARS = 64


class CallFacts(BaseModel):
    """What one lifecycle event says about the call; None where the event says nothing.

    Phone numbers are E.164 (they find a caller's appointments); times are UTC.
    """

    model_config = ConfigDict(frozen=True)

    branch_id: str | None = None
    agent_id: str | None = None
    direction: str | None = Field(default=None, max_length=LABEL_MAX_CHARS)
    from_number: str | None = None
    to_number: str | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    duration_ms: int | None = None
    disconnection_reason: str | None = Field(default=None, max_length=LABEL_MAX_CHARS)
    summary: str | None = Field(default=None, max_length=SUMMARY_MAX_CHARS)
    user_sentiment: str | None = Field(default=None, max_length=LABEL_MAX_CHARS)
    call_successful: bool | None = None
    in_voicemail: bool | None = None


class RecordedCall(CallFacts):
    """One call of a company, as stored: the facts, the events seen, the appointments it touched."""

    company_id: str
    call_id: str
    events: tuple[CallEvent, ...] = ()  # in lifecycle order, whatever order they arrived in
    appointments: list[CallAppointment] = Field(default_factory=list)
    created_at: datetime
    updated_at: datetime

    @field_validator("events", mode="before")
    @classmethod
    def _lifecycle_order(cls, events: Iterable[str]) -> tuple[CallEvent, ...]:
        seen = {CallEvent(e) for e in events}
        return tuple(e for e in _ORDER if e in seen)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def status(self) -> CallStatus | None:
        return furthest_status(self.events)

    def changes_not_by(self, fingerprint: str) -> int:
        """How many changes of this call other tool calls made: what tells a retry of a tool call
        (same count as its first run) from the caller asking for it again after another change."""
        return sum(1 for a in self.appointments if a.change_of != fingerprint)
