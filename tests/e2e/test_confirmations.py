"""One confirmation per appointment and event (docs/adr/0029-confirmations.md), over the HTTP
front: a signed book_appointment tool call books on the stand-in, Finalize queues one job,
NotificationsFunction sends it through moto's SES (and SNS), where the local stack captures it."""

from __future__ import annotations

import importlib
import json
import time
from email.message import EmailMessage
from pathlib import Path

import httpx
import pytest

from tests.e2e.test_admin_api import IDENTITY
from tests.helpers import next_monday

CALLER = "+4915112345678"
CALL = {
    "call_id": "call_confirmations",
    "from_number": CALLER,
    "to_number": "+4930123456789",
    "metadata": {"company_id": "salon-demo", "branch_id": "berlin-mitte"},
}
ANNA = "anna.schmidt@example.com"
SENDER = "termine@calbridge.example"
EVENTS = Path(__file__).parents[2] / "events"


def tool(retell, name: str, **args) -> dict:
    response = retell.tool(name, args, CALL)
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["success"], result
    return result["data"]


def book(retell, **args) -> dict:
    data = tool(retell, "book_appointment", customer_name="Anna Schmidt", **args)
    assert data["booked"], data
    return data


def deliver(stack) -> None:
    stack.drain_queue("NotificationsFunction")


def calendar_of(message: EmailMessage) -> tuple[str, list[str]]:
    """The ICS attachment's method parameter and its unfolded lines."""
    (attachment,) = list(message.iter_attachments())
    assert attachment.get_content_type() == "text/calendar"
    text = attachment.get_content()
    assert text.endswith("\r\n")
    return attachment.get_param("method"), text.replace("\r\n ", "").split("\r\n")[:-1]


def field(lines: list[str], name: str) -> list[str]:
    return [line.split(":", 1)[1] for line in lines if line.split(":", 1)[0].split(";")[0] == name]


def set_sms(stack, enabled: bool) -> None:
    response = httpx.patch(
        f"{stack.http_url}/admin/companies/salon-demo/settings",
        json={"sms_confirmations": enabled},
        headers=IDENTITY,
        timeout=30,
    )
    assert response.status_code == 200, response.text


def test_a_composite_booking_sends_one_mail_with_every_segment_in_one_calendar(fresh, retell):
    monday = next_monday()
    booked = book(
        retell, service="Ansatzfärbung", date=monday, time="14:00", mitarbeiter="Fabian", customer_email=ANNA
    )
    deliver(fresh)

    (mail,) = fresh.sent_mail()
    code = booked["confirmation_code"]
    assert mail["To"].addresses[0].addr_spec == ANNA
    assert mail["From"].addresses[0].addr_spec == SENDER and mail["X-Envelope-From"] == SENDER
    assert mail["Subject"].startswith("Terminbestätigung: Ansatzfärbung") and code in mail["Subject"]
    text = mail.get_body(("plain",)).get_content()
    assert f"Ihr Bestätigungscode: {code}" in text and "Salon" in text
    # every segment with its local times and the staff member, Berlin time
    for line in ("14:00–14:30 Uhr", "15:15–15:30 Uhr", "15:30–16:00 Uhr", "16:00–16:30 Uhr"):
        assert line in text, text
    assert text.count("(Fabian Spitzer)") == 4

    method, lines = calendar_of(mail)
    assert method == "REQUEST" and "METHOD:REQUEST" in lines
    assert lines.count("BEGIN:VEVENT") == 4
    uids = field(lines, "UID")
    assert len(set(uids)) == 4 and all(uid.startswith(booked["appointment_id"]) for uid in uids)
    assert set(field(lines, "SEQUENCE")) == {"0"}
    assert all(code in description for description in field(lines, "DESCRIPTION"))
    assert fresh.sent_sms() == []  # the demo salon does not send SMS


def test_a_redelivered_job_sends_nothing_new(fresh, retell):
    book(
        retell,
        service="Ansatzfärbung",
        date=next_monday(),
        time="10:00",
        mitarbeiter="Fabian",
        customer_email=ANNA,
    )
    sqs = fresh.boto3_client("sqs")
    url = sqs.get_queue_url(QueueName="NotificationsQueue")["QueueUrl"]
    (message,) = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0)["Messages"]
    job = json.loads(message["Body"])
    assert set(job) == {"kind", "company_id", "appointment_id", "event", "change_id", "calcom_booking_uids"}
    assert ANNA not in message["Body"] and CALLER not in message["Body"]  # ids only, no personal data
    deliver(fresh)
    assert len(fresh.sent_mail()) == 1

    sqs.send_message(QueueUrl=url, MessageBody=message["Body"])  # SQS delivers it again
    deliver(fresh)
    assert len(fresh.sent_mail()) == 1


def test_without_an_email_no_mail_is_sent(fresh, retell):
    book(retell, service="Ansatzfärbung", date=next_monday(), time="10:00", mitarbeiter="Fabian")
    deliver(fresh)
    assert fresh.sent_mail() == [] and fresh.sent_sms() == []


def test_with_sms_confirmations_one_sms_with_date_time_and_code(fresh, retell):
    set_sms(fresh, True)
    monday = next_monday()
    booked = book(
        retell, service="Ansatzfärbung", date=monday, time="14:00", mitarbeiter="Fabian", customer_email=ANNA
    )
    deliver(fresh)

    assert len(fresh.sent_mail()) == 1
    ((phone, text),) = fresh.sent_sms()
    day = ".".join(reversed(monday.split("-")))
    assert phone == CALLER
    code = booked["confirmation_code"]
    assert text == f"Salon Demo: Ihr Termin am {day} um 14:00 Uhr ist gebucht. Code {code}"


def test_cancel_and_reschedule_send_their_own(fresh, retell):
    monday = next_monday()
    booked = book(
        retell, service="Ansatzfärbung", date=monday, time="10:00", mitarbeiter="Fabian", customer_email=ANNA
    )
    deliver(fresh)
    (first,) = fresh.sent_mail()
    _, first_lines = calendar_of(first)

    tool(retell, "reschedule_appointment", date=monday, new_date=monday, new_time="14:00")
    deliver(fresh)
    mails = fresh.sent_mail()
    assert len(mails) == 2
    moved = mails[1]
    assert (
        moved["Subject"].startswith("Termin verschoben: ") and booked["confirmation_code"] in moved["Subject"]
    )
    assert "14:00–14:30 Uhr" in moved.get_body(("plain",)).get_content()
    method, moved_lines = calendar_of(moved)
    assert method == "REQUEST"
    assert field(moved_lines, "UID") == field(first_lines, "UID")  # the same entries, moved
    assert set(field(moved_lines, "SEQUENCE")) == {"1"}

    tool(retell, "cancel_appointment", date=monday)
    deliver(fresh)
    mails = fresh.sent_mail()
    assert len(mails) == 3
    cancelled = mails[2]
    assert cancelled["Subject"].startswith("Termin storniert: ")
    method, cancel_lines = calendar_of(cancelled)
    assert method == "CANCEL" and "METHOD:CANCEL" in cancel_lines
    assert field(cancel_lines, "UID") == field(first_lines, "UID")
    assert set(field(cancel_lines, "SEQUENCE")) == {"2"} and set(field(cancel_lines, "STATUS")) == {
        "CANCELLED"
    }


def test_the_booking_path_waits_for_no_mail(fresh, retell):
    """Finalize only queues the job: the booking answers before anything is sent, and no
    e-mail leaves until the notifications queue is delivered."""
    started = time.monotonic()
    book(
        retell,
        service="Ansatzfärbung",
        date=next_monday(),
        time="14:00",
        mitarbeiter="Fabian",
        customer_email=ANNA,
    )
    assert time.monotonic() - started < 10
    assert fresh.sent_mail() == []
    deliver(fresh)
    assert len(fresh.sent_mail()) == 1


@pytest.mark.parametrize(
    "body", ["not json", json.dumps({"kind": "confirmation", "company_id": "salon-demo"})]
)
def test_a_body_that_is_no_job_is_dropped(fresh, body):
    sqs = fresh.boto3_client("sqs")
    url = sqs.get_queue_url(QueueName="NotificationsQueue")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody=body)
    deliver(fresh)
    assert fresh.sent_mail() == []
    assert sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])[
        "Attributes"
    ] == {"ApproximateNumberOfMessages": "0"}


def test_the_sample_event_confirms_the_invoke_seeded_appointment(stack):
    """events/notifications_sqs_batch.json, as `make invoke FN=NotificationsFunction` runs it: the
    stack seeded as `python -m local invoke` seeds it, whose booked sample has an e-mail address."""
    from local.seed import seed_invoke_samples
    from tests.conftest import reseed

    stack.reset()
    importlib.import_module("calbridge.services.wiring").host_resolver().clear()
    seed_invoke_samples(stack)
    try:
        event = json.loads((EVENTS / "notifications_sqs_batch.json").read_text("utf-8"))
        result = stack.invoke("NotificationsFunction", event)
        assert result.function_error is None, result.payload
        assert result.json() == {"batchItemFailures": []}
        (mail,) = stack.sent_mail()
        assert mail["To"].addresses[0].addr_spec == "marie.schulz@example.com"
        _, lines = calendar_of(mail)
        assert lines.count("BEGIN:VEVENT") == 4
    finally:
        reseed(stack)
