"""Bookings from a salon's own website (issue 13 item 6, docs/web-bookings.md) over the local stack's
HTTP front, signed as an IAM principal of the company: the phone booking's saga behind an
authenticated JSON route."""

from __future__ import annotations

import importlib
import json
from datetime import date, datetime, time
from pathlib import Path

import httpx
import pytest

from local.events import redate_web_booking
from tests.e2e.test_admin_api import IDENTITY, snapshot
from tests.e2e.test_calcom_faults import appointments, faults, ours_active, requests_to
from tests.helpers import BERLIN, next_monday

BOOKINGS = "/api/companies/salon-demo/bookings"
EVENTS = Path(__file__).parents[2] / "events"


def berlin(day: str, hour: int) -> str:
    """`hour`:00 on `day` in Berlin, with that day's offset (+01:00 in winter, +02:00 in summer)."""
    return datetime.combine(date.fromisoformat(day), time(hour), BERLIN).isoformat()


def wish(monday: str, **changes) -> dict:
    body = {
        "service_id": "177",
        "start": berlin(monday, 14),
        "staff_id": "fabian-spitzer",
        "customer": {"name": "Anna Schmidt", "email": "anna@example.com", "phone": "0151 1234 5678"},
    }
    return {**body, **changes}


@pytest.fixture
def web(stack):
    with httpx.Client(base_url=stack.http_url, headers=IDENTITY, timeout=40) as client:
        yield client


def test_a_composite_service_is_booked_with_its_segments_and_a_code(fresh, web):
    response = web.post(BOOKINGS, json=wish(next_monday()))
    assert response.status_code == 201, response.text
    booked = response.json()
    assert booked["status"] == "booked" and booked["composite"] is True and booked["composite_uid"]
    assert len(booked["confirmation_code"]) == 6
    assert [s["key"] for s in booked["segments"]] == ["A", "B", "C", "D"]
    assert booked["segments"][0]["start"] == booked["start"] == berlin(next_monday(), 14)
    assert booked["staff"] == {"staff_id": "fabian-spitzer", "name": "Fabian Spitzer"}
    assert booked["service"]["service_id"] == "177"
    # Cal.com holds one booking per hold; the appointment is stored with the phone read as German.
    assert sorted(b["metadata"]["calbridge_hold"] for b in ours_active(fresh)[booked["appointment_id"]]) == [
        "A",
        "B",
        "C",
        "D",
    ]
    (stored,) = appointments(fresh)
    assert stored["customer_phone"]["S"] == "+4915112345678" and "call_id" not in stored
    # One confirmation, as a phone booking queues it (ADR 0029): no call is needed for it.
    fresh.drain_queue("NotificationsQueue")
    (mail,) = fresh.sent_mail()
    assert mail["To"].addresses[0].addr_spec == "anna@example.com"
    assert booked["confirmation_code"] in mail["Subject"]

    read = web.get(f"{BOOKINGS}/{booked['appointment_id']}")
    assert read.status_code == 200, read.text
    shown = read.json()
    assert shown["status"] == "booked" and shown["confirmation_code"] == booked["confirmation_code"]
    assert [s["key"] for s in shown["segments"]] == ["A", "B", "C", "D"]
    assert shown["start"] == booked["start"] and "customer_email" not in shown


def test_another_companys_service_is_unknown_and_nothing_is_booked(fresh, web):
    models = importlib.import_module("calbridge.domain.models")
    repositories = importlib.import_module("calbridge.adapters.store.repositories")
    repositories.CompanyRepository().save(
        models.Company(
            company_id="salon-two",
            name="Salon Two",
            timezone="Europe/Berlin",
            branches=[{"branch_id": "nord", "name": "Nord", "phone_numbers": ["+4940555555"]}],
        )
    )
    repositories.ServiceRepository().save(
        models.Service(
            company_id="salon-two",
            service_id="900",
            name="Schnitt",
            duration=30,
            staff_ids=["fabian-spitzer"],
        )
    )
    before = snapshot(fresh)
    response = web.post(BOOKINGS, json=wish(next_monday(), service_id="900"))
    assert response.status_code == 404 and response.json()["error"] == "unknown_service", response.text
    assert snapshot(fresh) == before and not ours_active(fresh)


def test_the_same_idempotency_key_books_once(fresh, web):
    body = wish(next_monday())
    headers = {"Idempotency-Key": "order-4711"}
    first = web.post(BOOKINGS, json=body, headers=headers)
    again = web.post(BOOKINGS, json=body, headers=headers)
    assert first.status_code == again.status_code == 201, (first.text, again.text)
    assert again.json() == first.json()
    assert len(appointments(fresh)) == 1 and len(ours_active(fresh)) == 1
    other = web.post(BOOKINGS, json={**body, "start": berlin(next_monday(), 16)}, headers=headers)
    assert other.status_code == 422 and other.json()["error"] == "idempotency_key_reused", other.text
    assert len(appointments(fresh)) == 1


def test_a_taken_time_answers_409_with_alternatives(fresh, web):
    monday = next_monday()
    assert web.post(BOOKINGS, json=wish(monday)).status_code == 201
    second = {"name": "Ben Braun", "email": "ben@example.com"}
    response = web.post(BOOKINGS, json=wish(monday, customer=second))
    assert response.status_code == 409, response.text
    answer = response.json()
    assert answer["error"] == "slot_unavailable" and answer["alternatives"]
    assert all(a.startswith(monday) or a > monday for a in answer["alternatives"])
    # The second attempt is recorded as failed (the saga's record of it); one appointment is booked.
    assert [a["status"]["S"] for a in appointments(fresh)].count("booked") == 1


def test_a_request_without_an_iam_identity_is_refused(fresh, stack):
    before = snapshot(fresh)
    response = httpx.post(f"{stack.http_url}{BOOKINGS}", json=wish(next_monday()), timeout=30)
    assert response.status_code == 403  # API Gateway's IAM authorizer, as the local front plays it
    # The handler itself refuses an event without an IAM identity (a route left without AWS_IAM).
    event = json.loads((EVENTS / "web_booking_create.json").read_text(encoding="utf-8"))
    del event["requestContext"]["authorizer"]
    answer = stack.invoke("WebBookingFunction", event).json()
    assert answer["statusCode"] == 403 and json.loads(answer["body"])["error"] == "forbidden"
    assert snapshot(fresh) == before


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"start": "2026-03-16T14:00:00"}, "start"),  # no offset
        ({"start": "2020-01-06T14:00:00+01:00"}, "start"),  # in the past
        ({"start": "2031-01-06T14:00:00+01:00"}, "start"),  # beyond the booking window
        ({"customer": {"name": "Anna"}}, "customer"),  # no way to reach her
        ({"customer": {"name": "Anna", "phone": "12"}}, "customer.phone"),
        ({"service_id": None}, "service_id"),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_bad_input_is_400_naming_the_field_and_writes_nothing(fresh, web, changes, field):
    before = snapshot(fresh)
    response = web.post(BOOKINGS, json=wish(next_monday(), **changes))
    assert response.status_code == 400, response.text
    assert response.json()["field"] == field
    assert snapshot(fresh) == before


def test_bad_json_an_unknown_staff_member_and_a_big_body_write_nothing(fresh, web):
    before = snapshot(fresh)
    assert web.post(BOOKINGS, content=b"{nope").status_code == 400
    unknown = web.post(BOOKINGS, json=wish(next_monday(), staff_id="emma-williams"))
    assert unknown.status_code == 404 and unknown.json()["error"] == "unknown_staff"
    assert web.post(BOOKINGS, content=b"x" * (65 * 1024)).status_code == 413
    key = web.post(BOOKINGS, json=wish(next_monday()), headers={"Idempotency-Key": "k" * 129})
    assert key.status_code == 400 and key.json()["field"] == "Idempotency-Key"
    assert web.get(f"{BOOKINGS}/bk_00000000000000000000000000000000").status_code == 404
    assert snapshot(fresh) == before


def test_a_deactivated_company_takes_no_bookings(fresh, web):
    admin = httpx.Client(base_url=fresh.http_url, headers=IDENTITY, timeout=30)
    assert admin.post("/admin/companies/salon-demo/deactivate", json={"reason": "closed"}).status_code == 200
    response = web.post(BOOKINGS, json=wish(next_monday()))
    assert response.status_code == 409 and response.json()["error"] == "company_inactive", response.text
    assert not appointments(fresh)


def test_calcom_down_is_503_with_retry_after_and_nothing_half_booked(fresh, web):
    faults(fresh, {"endpoint": "POST /v2/bookings", "fault": "5xx", "status": 503, "times": 50})
    response = web.post(BOOKINGS, json=wish(next_monday()))
    assert response.status_code == 503, response.text
    assert response.json()["error"] == "calendar_unavailable" and int(response.headers["Retry-After"]) >= 1
    fresh.drain_queue("CompensationQueue")
    assert requests_to(fresh, "POST", "/v2/bookings")  # it was tried
    assert not ours_active(fresh)
    assert all(a["status"]["S"] != "booked" for a in appointments(fresh))


def test_sample_events_answer_on_the_stack(stack):
    """events/web_booking_{create,get}.json on what `make invoke` seeds (local/seed.py)."""
    from local.seed import seed_invoke_samples
    from tests.conftest import reseed

    reseed(stack)
    seed_invoke_samples(stack)

    def invoke(name: str) -> tuple[int, dict]:
        event = json.loads((EVENTS / f"web_booking_{name}.json").read_text(encoding="utf-8"))
        if name == "create":  # as `make invoke` sends it: on the upcoming Monday
            event = redate_web_booking(event)
        response = stack.invoke("WebBookingFunction", event).json()
        return response["statusCode"], json.loads(response["body"])

    status, shown = invoke("get")
    assert status == 200 and shown["confirmation_code"] and len(shown["segments"]) == 4, shown
    status, booked = invoke("create")
    assert status == 201 and len(booked["segments"]) == 4, booked
    assert booked["start"][:10] == next_monday(), booked
    reseed(stack)
