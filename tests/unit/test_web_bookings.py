"""services/web_bookings.py without AWS: what a website's booking request is checked for, and how
the attempt's outcome becomes the HTTP answer (the route over the stack: tests/e2e/test_web_bookings.py)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from calbridge.domain.models import Company, Service, StaffMember
from calbridge.errors import InvalidRequest, NotFound, UnknownService, UnknownStaff
from calbridge.services import web_bookings
from calbridge.services.booking_attempts import Attempt, Wish
from calbridge.services.web_bookings import (
    CompanyInactive,
    IdempotencyKeyReused,
    WebBookings,
    idempotency_key,
)

FIXTURE = json.loads((Path(__file__).parents[2] / "local/fixtures/salon_demo.json").read_text())
NOW = datetime(2026, 3, 10, 7, 0, tzinfo=UTC)  # Tuesday 08:00 in Berlin


@pytest.fixture(autouse=True)
def fingerprint(monkeypatch):
    """The tool calls' fingerprint lives with the tools, whose module needs the AWS settings."""
    monkeypatch.setattr(web_bookings, "_fingerprint", lambda identity: json.dumps(identity, sort_keys=True))


class Companies:
    def __init__(self, company: Company) -> None:
        self.company = company

    def get(self, company_id: str) -> Company:
        assert company_id == self.company.company_id
        return self.company


class Entities:
    def __init__(self, items: dict[tuple[str, str], Any]) -> None:
        self._items = items

    def get(self, company_id: str, entity_id: str) -> Any:
        try:
            return self._items[(company_id, entity_id)]
        except KeyError:
            raise NotFound(f"unknown {entity_id!r}") from None

    def list(self, company_id: str) -> list[Any]:
        return [v for (c, _), v in self._items.items() if c == company_id]


class Attempts:
    def __init__(self, result: Attempt | Exception) -> None:
        self.result = result
        self.wishes: list[Wish] = []

    def attempt(self, wish: Wish) -> Attempt:
        self.wishes.append(wish)
        if isinstance(self.result, Exception):
            raise self.result
        return self.result


class Once:
    """OnceOnly's contract in memory: a final answer is kept per key and replayed."""

    def __init__(self) -> None:
        self.kept: dict[str, dict[str, Any]] = {}

    def run(self, key: dict[str, Any], action: Any) -> dict[str, Any]:
        name = json.dumps(key, sort_keys=True)
        if name in self.kept:
            return self.kept[name]
        answer, final = action()
        if final:
            self.kept[name] = answer
        return answer


def service_for(company_id: str, service_id: str = "177") -> Service:
    found = next(s for s in FIXTURE["services"] if s["service_id"] == "177")
    return Service.model_validate({**found, "company_id": company_id, "service_id": service_id})


def bookings(attempt: Attempt | Exception, *, company: dict | None = None) -> tuple[WebBookings, Attempts]:
    salon = Company.model_validate({**FIXTURE["company"], **(company or {})})
    services = Entities(
        {
            ("salon-demo", "177"): service_for("salon-demo"),
            ("salon-demo", "old"): service_for("salon-demo", "old").model_copy(update={"active": False}),
            ("salon-two", "900"): service_for("salon-two", "900"),
        }
    )
    staff = Entities(
        {
            ("salon-demo", m["staff_id"]): StaffMember.model_validate({**m, "company_id": "salon-demo"})
            for m in FIXTURE["staff"]
        }
    )
    attempts = Attempts(attempt)
    web = WebBookings(
        Companies(salon), staff, services, attempts, records=None, once=Once(), clock=lambda: NOW
    )  # type: ignore[arg-type]
    return web, attempts


def body(**changes: Any) -> bytes:
    wish = {
        "service_id": "177",
        "start": "2026-03-16T14:00:00+01:00",
        "customer": {"name": "Anna Schmidt", "phone": "0151 1234 5678"},
    }
    return json.dumps({**wish, **changes}).encode()


# What BookingOutcome (the saga's module, which needs the AWS settings) says of a running workflow.
RUNNING = Attempt(outcome=SimpleNamespace(running=True, booked=False, booking_id="bk_" + "1" * 32))


def test_the_wish_is_the_phone_bookings_in_the_salons_zone_without_a_call():
    web, attempts = bookings(RUNNING)
    answer = web.book("salon-demo", body(start="2026-03-16T13:00:00Z"), None)
    assert (answer.status_code, answer.body) == (
        202,
        {"status": "running", "appointment_id": "bk_" + "1" * 32},
    )
    (wish,) = attempts.wishes
    assert (wish.day.isoformat(), wish.at.isoformat(), wish.call_id) == ("2026-03-16", "14:00:00", None)
    assert wish.customer.phone == "+4915112345678" and wish.service.composite
    assert wish.change_of and wish.deadline is not None and wish.deadline.remaining() > 15


@pytest.mark.parametrize(
    ("changes", "error", "field"),
    [
        ({"start": "2026-03-10T07:30:00+01:00"}, InvalidRequest, "start"),
        ({"start": "2026-06-16T14:00:00+02:00"}, InvalidRequest, "start"),  # beyond 60 days
        ({"customer": {"name": "Anna"}}, InvalidRequest, "customer"),
        ({"customer": {"name": "Anna", "phone": "12"}}, InvalidRequest, "customer.phone"),
        ({"service_id": "900"}, UnknownService, None),  # another company's
        ({"service_id": "old"}, UnknownService, None),  # no longer offered
        ({"staff_id": "emma-williams"}, UnknownStaff, None),  # does not perform it
        ({"staff_id": "nobody"}, UnknownStaff, None),
        ({"branch_id": "hamburg"}, NotFound, None),
    ],
)
def test_a_refused_request_never_reaches_the_saga(changes, error, field):
    web, attempts = bookings(RUNNING)
    with pytest.raises(error) as refused:
        web.book("salon-demo", body(**changes), None)
    assert getattr(refused.value, "field", None) == field
    assert attempts.wishes == []


def test_a_deactivated_company_takes_no_booking():
    web, attempts = bookings(RUNNING, company={"active": False})
    with pytest.raises(CompanyInactive):
        web.book("salon-demo", body(), None)
    assert attempts.wishes == []


def test_an_idempotency_key_replays_the_first_answer_and_refuses_another_body():
    web, attempts = bookings(RUNNING)
    first = web.book("salon-demo", body(), "order-1")
    assert web.book("salon-demo", body(), "order-1") == first
    assert len(attempts.wishes) == 1
    with pytest.raises(IdempotencyKeyReused):
        web.book("salon-demo", body(start="2026-03-16T15:00:00+01:00"), "order-1")
    assert len(attempts.wishes) == 1


@pytest.mark.parametrize("raw", ["", "   ", "x" * 129, "a\nb"])
def test_an_idempotency_key_is_one_to_128_printable_characters(raw):
    with pytest.raises(InvalidRequest) as refused:
        idempotency_key(raw)
    assert refused.value.field == "Idempotency-Key"
    assert idempotency_key(None) is None and idempotency_key(" order-1 ") == "order-1"
