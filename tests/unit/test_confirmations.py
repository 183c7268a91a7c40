"""Confirmations, the pure parts (docs/adr/0029-confirmations.md): the ICS file (RFC 5545: CRLF,
folding at 75 octets, escaping; one VEVENT per segment, stable UIDs, SEQUENCE), the wording in
both languages, and the MIME message that carries them."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime

import pytest
from botocore.exceptions import ClientError

from calbridge.adapters.notify import Mailer, SmsSender, mime_message
from calbridge.domain.confirmation_text import (
    Confirmation,
    ConfirmationEvent,
    ConfirmedSegment,
    body,
    sms_text,
    subject,
)
from calbridge.domain.ics import Party, build_calendar, escape_text, fold
from calbridge.errors import ConfirmationNotSent
from calbridge.services.confirmations import ConfirmationJob, calendar_entries

SALON = Party(name="Salon Demo", email="termine@calbridge.example")
ANNA = Party(name="Anna Schmidt", email="anna@example.com")
STAMP = datetime(2026, 3, 10, 7, 0, tzinfo=UTC)


def composite(event: str = "booked", language: str = "de") -> Confirmation:
    return Confirmation(
        event=ConfirmationEvent(event),
        language=language,
        salon_name="Salon Demo",
        service_name="Ansatzfärbung, waschen, schneiden, föhnen",
        customer_name="Anna Schmidt",
        confirmation_code="K7M2QX",
        timezone="Europe/Berlin",
        segments=[
            ConfirmedSegment(
                key="A",
                name="Ansatzfärbung",
                start=datetime(2026, 3, 16, 9, 0, tzinfo=UTC),
                end=datetime(2026, 3, 16, 9, 30, tzinfo=UTC),
                staff_name="Fabian Spitzer",
            ),
            ConfirmedSegment(
                key="B",
                name="Auswaschen",
                start=datetime(2026, 3, 16, 10, 15, tzinfo=UTC),
                end=datetime(2026, 3, 16, 10, 30, tzinfo=UTC),
                staff_name="Emma Williams",
            ),
        ],
    )


GOLDEN = (
    "BEGIN:VCALENDAR\r\n"
    "VERSION:2.0\r\n"
    "PRODID:-//calbridge//confirmations//EN\r\n"
    "CALSCALE:GREGORIAN\r\n"
    "METHOD:REQUEST\r\n"
    "BEGIN:VEVENT\r\n"
    "UID:bk_1-A@calbridge\r\n"
    "DTSTAMP:20260310T070000Z\r\n"
    "DTSTART:20260316T090000Z\r\n"
    "DTEND:20260316T093000Z\r\n"
    "SEQUENCE:0\r\n"
    "STATUS:CONFIRMED\r\n"
    "SUMMARY:Ansatzfärbung\\, waschen\\, schneiden\\, föhnen – Ansatzfärbung (\r\n"
    " Fabian Spitzer)\r\n"
    "DESCRIPTION:Bestätigungscode: K7M2QX\r\n"
    "LOCATION:Salon Demo\r\n"
    'ORGANIZER;CN="Salon Demo":mailto:termine@calbridge.example\r\n'
    'ATTENDEE;CN="Anna Schmidt";ROLE=REQ-PARTICIPANT;PARTSTAT=ACCEPTED;RSVP=FALS\r\n'
    " E:mailto:anna@example.com\r\n"
    "TRANSP:OPAQUE\r\n"
    "END:VEVENT\r\n"
    "BEGIN:VEVENT\r\n"
    "UID:bk_1-B@calbridge\r\n"
    "DTSTAMP:20260310T070000Z\r\n"
    "DTSTART:20260316T101500Z\r\n"
    "DTEND:20260316T103000Z\r\n"
    "SEQUENCE:0\r\n"
    "STATUS:CONFIRMED\r\n"
    "SUMMARY:Ansatzfärbung\\, waschen\\, schneiden\\, föhnen – Auswaschen (Emma\r\n"
    "  Williams)\r\n"
    "DESCRIPTION:Bestätigungscode: K7M2QX\r\n"
    "LOCATION:Salon Demo\r\n"
    'ORGANIZER;CN="Salon Demo":mailto:termine@calbridge.example\r\n'
    'ATTENDEE;CN="Anna Schmidt";ROLE=REQ-PARTICIPANT;PARTSTAT=ACCEPTED;RSVP=FALS\r\n'
    " E:mailto:anna@example.com\r\n"
    "TRANSP:OPAQUE\r\n"
    "END:VEVENT\r\n"
    "END:VCALENDAR\r\n"
)


def calendar(confirmation: Confirmation, method: str = "REQUEST", sequence: int = 0) -> str:
    entries = calendar_entries("bk_1", confirmation)
    return build_calendar(method, entries, sequence=sequence, organizer=SALON, attendee=ANNA, stamp=STAMP)


def unfold(text: str) -> list[str]:
    return text.replace("\r\n ", "").split("\r\n")[:-1]


def test_composite_booking_golden_file():
    assert calendar(composite()) == GOLDEN


def test_every_line_ends_in_crlf_and_fits_75_octets():
    text = calendar(composite())
    assert text.endswith("\r\n") and "\n" not in text.replace("\r\n", "")
    for line in text.split("\r\n")[:-1]:
        assert len(line.encode("utf-8")) <= 75, line


def test_folding_never_splits_a_utf8_character_and_unfolds_to_the_line():
    line = "SUMMARY:" + "ö" * 100
    folded = fold(line)
    for part in folded.split("\r\n"):
        part.encode("utf-8").decode("utf-8")  # each physical line is whole characters
        assert len(part.encode("utf-8")) <= 75
    assert folded.replace("\r\n ", "") == line


def test_text_values_are_escaped():
    assert escape_text("a,b;c\\d\ne") == "a\\,b\\;c\\\\d\\ne"


def test_one_vevent_per_segment_with_stable_uids_and_the_code():
    lines = unfold(calendar(composite()))
    assert lines.count("BEGIN:VEVENT") == 2
    assert [line for line in lines if line.startswith("UID:")] == [
        "UID:bk_1-A@calbridge",
        "UID:bk_1-B@calbridge",
    ]
    assert all("K7M2QX" in line for line in lines if line.startswith("DESCRIPTION:"))


def test_cancel_keeps_the_uids_and_raises_the_sequence():
    lines = unfold(calendar(composite("cancelled"), method="CANCEL", sequence=2))
    assert "METHOD:CANCEL" in lines and lines.count("STATUS:CANCELLED") == 2
    assert lines.count("SEQUENCE:2") == 2
    assert [line for line in lines if line.startswith("UID:")] == [
        "UID:bk_1-A@calbridge",
        "UID:bk_1-B@calbridge",
    ]


def test_a_name_with_a_quote_stays_one_parameter():
    entries = calendar_entries("bk_1", composite())
    text = build_calendar(
        "REQUEST",
        entries,
        sequence=0,
        organizer=Party(name='Salon "Schnitt"; Mitte', email="termine@calbridge.example"),
        attendee=ANNA,
        stamp=STAMP,
    )
    assert 'ORGANIZER;CN="Salon Schnitt; Mitte":mailto:termine@calbridge.example' in unfold(text)


def test_german_mail_names_every_segment_its_staff_the_salon_and_the_code():
    confirmation = composite()
    assert subject(confirmation) == (
        "Terminbestätigung: Ansatzfärbung, waschen, schneiden, föhnen am Montag, 16. März 2026 (Code K7M2QX)"
    )
    text = body(confirmation)
    assert "Ihr Termin bei Salon Demo ist gebucht:" in text
    assert "  10:00–10:30 Uhr  Ansatzfärbung (Fabian Spitzer)" in text  # Berlin time
    assert "  11:15–11:30 Uhr  Auswaschen (Emma Williams)" in text
    assert "Ihr Bestätigungscode: K7M2QX" in text


@pytest.mark.parametrize(
    ("event", "language", "expected"),
    [
        ("booked", "de", "Salon Demo: Ihr Termin am 16.03.2026 um 10:00 Uhr ist gebucht. Code K7M2QX"),
        (
            "rescheduled",
            "de",
            "Salon Demo: Ihr Termin ist verschoben auf den 16.03.2026 um 10:00 Uhr. Code K7M2QX",
        ),
        ("cancelled", "de", "Salon Demo: Ihr Termin am 16.03.2026 um 10:00 Uhr ist storniert. Code K7M2QX"),
        ("booked", "en", "Salon Demo: your appointment on 16 Mar 2026 at 10:00 am is booked. Code K7M2QX"),
        (
            "cancelled",
            "en",
            "Salon Demo: your appointment on 16 Mar 2026 at 10:00 am is cancelled. Code K7M2QX",
        ),
    ],
)
def test_sms_has_date_time_and_code(event, language, expected):
    assert sms_text(composite(event, language)) == expected


def test_english_mail_subjects_per_event():
    assert subject(composite("rescheduled", "en")).startswith("Appointment moved: ")
    assert subject(composite("cancelled", "en")).startswith("Appointment cancelled: ")
    text = body(composite("booked", "en"))
    assert "Your appointment at Salon Demo is booked:" in text
    assert "  10:00 am–10:30 am  Ansatzfärbung (Fabian Spitzer)" in text


def test_mime_message_carries_the_text_and_the_calendar_with_its_method():
    confirmation = composite()
    raw = mime_message(
        sender=SALON.email,
        sender_name="Salon Demo",
        recipient=ANNA.email,
        recipient_name="Anna Schmidt",
        subject=subject(confirmation),
        text=body(confirmation),
        calendar=calendar(confirmation),
        calendar_method="REQUEST",
        calendar_filename="termin.ics",
    )
    assert b"\r\n" in raw and raw.isascii()
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert message["To"].addresses[0].addr_spec == "anna@example.com"
    assert message["Subject"] == subject(confirmation)
    assert "K7M2QX" in message.get_body(("plain",)).get_content()
    (attachment,) = list(message.iter_attachments())
    assert attachment.get_content_type() == "text/calendar"
    assert attachment.get_param("method") == "REQUEST" and attachment.get_filename() == "termin.ics"
    assert attachment.get_content() == calendar(confirmation)


def test_a_job_names_no_personal_data_and_keys_each_channel_apart():
    job = ConfirmationJob(company_id="salon-demo", appointment_id="bk_1", event="booked", change_id="bk_1")
    assert set(job.model_dump()) == {
        "kind",
        "company_id",
        "appointment_id",
        "event",
        "change_id",
        "calcom_booking_uids",
    }
    assert job.once_key("email") != job.once_key("sms")
    moved = job.model_copy(update={"event": ConfirmationEvent.RESCHEDULED, "change_id": "bk_2"})
    assert moved.once_key("email") != job.once_key("email")


class _Refusing:
    def send_email(self, **_):
        raise ClientError(
            {"Error": {"Code": "MessageRejected", "Message": "not verified: anna@example.com"}},
            "SendEmail",
        )


class _Recording:
    def __init__(self) -> None:
        self.calls: list[dict] = []

    def publish(self, **params):
        self.calls.append(params)
        return {"MessageId": "m-1"}


def test_a_refused_mail_is_confirmation_not_sent_without_the_address():
    with pytest.raises(ConfirmationNotSent) as refused:
        Mailer(lambda: _Refusing()).send_raw(SALON.email, b"raw")
    assert "MessageRejected" in str(refused.value) and "anna@example.com" not in str(refused.value)


def test_an_sms_is_transactional_and_carries_the_sender_id():
    client = _Recording()
    assert SmsSender("SalonDemo", lambda: client).send("+4915112345678", "text") == "m-1"
    (call,) = client.calls
    assert call["PhoneNumber"] == "+4915112345678" and call["Message"] == "text"
    attributes = call["MessageAttributes"]
    assert attributes["AWS.SNS.SMS.SMSType"]["StringValue"] == "Transactional"
    assert attributes["AWS.SNS.SMS.SenderID"]["StringValue"] == "SalonDemo"
    SmsSender(None, lambda: client).send("+4915112345678", "text")
    assert "AWS.SNS.SMS.SenderID" not in client.calls[1]["MessageAttributes"]
