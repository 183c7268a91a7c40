"""The words of a confirmation (docs/adr/0029-confirmations.md): the e-mail's subject and body and
the SMS, in the company's language, as the seeds' system sent them: every segment with its times
and staff member, the salon, the confirmation code. Dates and times as the voice agent says them
(domain/phrasing.py), in the appointment's time zone.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field

from calbridge.domain.models import Language
from calbridge.domain.phrasing import spoken_date, spoken_time


class ConfirmationEvent(StrEnum):
    BOOKED = "booked"
    RESCHEDULED = "rescheduled"
    CANCELLED = "cancelled"


class ConfirmedSegment(BaseModel):
    model_config = ConfigDict(frozen=True)

    key: str
    name: str
    start: datetime
    end: datetime
    staff_name: str | None = None


class Confirmation(BaseModel):
    """Everything a confirmation says about one appointment at one event."""

    model_config = ConfigDict(frozen=True)

    event: ConfirmationEvent
    language: Language
    salon_name: str
    service_name: str
    customer_name: str
    confirmation_code: str
    timezone: str
    segments: list[ConfirmedSegment] = Field(min_length=1)

    def local(self, moment: datetime) -> datetime:
        return moment.astimezone(ZoneInfo(self.timezone))

    @property
    def start(self) -> datetime:
        return self.local(min(s.start for s in self.segments))


_SUBJECTS = {
    "de": {
        ConfirmationEvent.BOOKED: "Terminbestätigung",
        ConfirmationEvent.RESCHEDULED: "Termin verschoben",
        ConfirmationEvent.CANCELLED: "Termin storniert",
    },
    "en": {
        ConfirmationEvent.BOOKED: "Appointment confirmed",
        ConfirmationEvent.RESCHEDULED: "Appointment moved",
        ConfirmationEvent.CANCELLED: "Appointment cancelled",
    },
}

_LEADS = {
    "de": {
        ConfirmationEvent.BOOKED: "Ihr Termin bei {salon} ist gebucht:",
        ConfirmationEvent.RESCHEDULED: "Ihr Termin bei {salon} ist verschoben. Er findet jetzt so statt:",
        ConfirmationEvent.CANCELLED: "Ihr Termin bei {salon} ist storniert:",
    },
    "en": {
        ConfirmationEvent.BOOKED: "Your appointment at {salon} is booked:",
        ConfirmationEvent.RESCHEDULED: "Your appointment at {salon} has been moved. It now takes place:",
        ConfirmationEvent.CANCELLED: "Your appointment at {salon} has been cancelled:",
    },
}


def subject(confirmation: Confirmation) -> str:
    """'Terminbestätigung: Ansatzfärbung am Dienstag, 10. März 2026 (Code K7M2QX)'."""
    lang = confirmation.language
    on = "am" if lang == "de" else "on"
    day = spoken_date(confirmation.start.date(), lang)
    head = _SUBJECTS[lang][confirmation.event]
    return f"{head}: {confirmation.service_name} {on} {day} (Code {confirmation.confirmation_code})"


def time_range(start: datetime, end: datetime, lang: Language) -> str:
    """'10:00–10:30 Uhr' / '10:00 am–10:30 am' (local times)."""
    if lang == "de":
        return f"{start.hour}:{start.minute:02d}–{spoken_time(end, lang)}"
    return f"{spoken_time(start, lang)}–{spoken_time(end, lang)}"


def segment_lines(confirmation: Confirmation) -> list[str]:
    """One line per segment, under its day: '  10:00–10:30 Uhr  Farbe auftragen (Fabian Spitzer)'."""
    lang = confirmation.language
    lines: list[str] = []
    day = None
    for segment in sorted(confirmation.segments, key=lambda s: s.start):
        start, end = confirmation.local(segment.start), confirmation.local(segment.end)
        if start.date() != day:
            day = start.date()
            lines.append(spoken_date(day, lang))
        staff = f" ({segment.staff_name})" if segment.staff_name else ""
        lines.append(f"  {time_range(start, end, lang)}  {segment.name}{staff}")
    return lines


def body(confirmation: Confirmation) -> str:
    """The e-mail's plain text."""
    lang = confirmation.language
    code = confirmation.confirmation_code
    cancelled = confirmation.event == ConfirmationEvent.CANCELLED
    if lang == "de":
        greeting = f"Guten Tag {confirmation.customer_name},"
        code_line = f"Ihr Bestätigungscode: {code}"
        hint = (
            "Die Kalenderdatei im Anhang entfernt den Termin aus Ihrem Kalender."
            if cancelled
            else "Nennen Sie diesen Code, wenn Sie den Termin verschieben oder absagen möchten.\n"
            "Die Kalenderdatei im Anhang enthält alle Teile Ihres Termins."
        )
        closing = f"Ihr Team von {confirmation.salon_name}"
    else:
        greeting = f"Hello {confirmation.customer_name},"
        code_line = f"Your confirmation code: {code}"
        hint = (
            "The attached calendar file removes the appointment from your calendar."
            if cancelled
            else "Please give this code if you want to move or cancel the appointment.\n"
            "The attached calendar file holds every part of your appointment."
        )
        closing = f"Your team at {confirmation.salon_name}"
    lead = _LEADS[lang][confirmation.event].format(salon=confirmation.salon_name)
    parts = [
        greeting,
        "",
        lead,
        "",
        confirmation.service_name,
        *segment_lines(confirmation),
        "",
        code_line,
        hint,
        "",
        closing,
    ]
    return "\n".join(parts) + "\n"


_MONTH_ABBR = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def sms_text(confirmation: Confirmation) -> str:
    """One short SMS with the salon, date, time and code ('Salon: Ihr Termin am 10.03.2026 um
    10:00 Uhr ist gebucht. Code K7M2QX'); plain GSM-7 text in one or two SMS parts."""
    lang = confirmation.language
    start = confirmation.start
    at = spoken_time(start, lang)
    code = confirmation.confirmation_code
    event = confirmation.event
    if lang == "de":
        day = start.strftime("%d.%m.%Y")
        text = {
            ConfirmationEvent.BOOKED: f"Ihr Termin am {day} um {at} ist gebucht.",
            ConfirmationEvent.RESCHEDULED: f"Ihr Termin ist verschoben auf den {day} um {at}.",
            ConfirmationEvent.CANCELLED: f"Ihr Termin am {day} um {at} ist storniert.",
        }[event]
    else:
        day = f"{start.day} {_MONTH_ABBR[start.month - 1]} {start.year}"
        text = {
            ConfirmationEvent.BOOKED: f"your appointment on {day} at {at} is booked.",
            ConfirmationEvent.RESCHEDULED: f"your appointment has moved to {day} at {at}.",
            ConfirmationEvent.CANCELLED: f"your appointment on {day} at {at} is cancelled.",
        }[event]
    return f"{confirmation.salon_name}: {text} Code {code}"
