"""list_staff, staff names as callers say them, and idempotent tool calls over the HTTP front."""

from __future__ import annotations

import importlib
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.helpers import link_staff, next_monday

CALL = {
    "call_id": "call_staff_idempotency",
    "from_number": "+4915112345678",
    "to_number": "+4930123456789",
    "metadata": {"company_id": "salon-demo", "branch_id": "berlin-mitte"},
}


def tool(retell, name: str, args, call: dict | None = None) -> dict:
    response = retell.tool(name, args, call or CALL)
    assert response.status_code == 200, response.text
    return response.json()


def calcom_requests(stack, method: str, path: str) -> list[dict]:
    return httpx.get(f"{stack.calcom_url}/_standin/requests", params={"method": method, "path": path}).json()


def appointments(stack) -> list[dict]:
    items = stack.boto3_client("dynamodb").scan(TableName="AppointmentsTable")["Items"]
    return [i for i in items if i.get("kind", {}).get("S") == "appointment"]


def add_staff(name: str, staff_id: str, *, services: tuple[str, ...] = ()) -> None:
    """Another team member (no Cal.com user needed to be named), optionally performing services."""
    repositories = importlib.import_module("calbridge.adapters.store.repositories")
    models = importlib.import_module("calbridge.domain.models")
    repositories.StaffRepository().save(
        models.StaffMember(company_id="salon-demo", staff_id=staff_id, name=name)
    )
    for service_id in services:
        service = repositories.ServiceRepository().get("salon-demo", service_id)
        staff_ids = [*service.staff_ids, staff_id]
        repositories.ServiceRepository().save(service.model_copy(update={"staff_ids": staff_ids}))
    forget_cached_reads()


def forget_cached_reads() -> None:
    """Written behind the webhook's back: its container would see the change only after its
    cache TTL (wiring.config_reads), so drop the caches, as a fresh container would start."""
    importlib.import_module("calbridge.services.wiring").clear_caches()


# ------------------------------------------------------------------ list_staff


@pytest.fixture
def whole_team(fresh):
    """Every staff member linked to their Cal.com user with booking event types: all can be booked
    (the seed links only Fabian; the agent never offers staff it cannot book)."""
    for staff_id, user_id in (
        ("emma-williams", 1420210),
        ("lena-mueller", 1420211),
        ("sara-oezdemir", 1420212),
    ):
        link_staff(staff_id, user_id)
    return fresh


def test_list_staff_names_the_bookable_team(whole_team, retell):
    result = tool(retell, "list_staff", {})
    assert result["success"] is True
    assert (
        result["message"] == "Bei uns arbeiten Emma Williams, Fabian Spitzer, Lena Müller und Sara Özdemir."
    )
    staff = {s["staff_id"]: s for s in result["data"]["staff"]}
    assert set(staff) == {"fabian-spitzer", "emma-williams", "lena-mueller", "sara-oezdemir"}
    assert "Kinderhaarschnitt" in staff["sara-oezdemir"]["services"]


def test_list_staff_for_a_service_and_without_inactive_members(fresh, retell):
    repositories = importlib.import_module("calbridge.adapters.store.repositories")
    lena = repositories.StaffRepository().get("salon-demo", "lena-mueller")
    repositories.StaffRepository().save(lena.model_copy(update={"active": False}))

    result = tool(retell, "list_staff", {"service": "Ansatzfärbung"})
    assert result["success"] and result["data"]["service_id"] == "177"
    assert result["message"] == "Ansatzfärbung, waschen, schneiden, föhnen machen bei uns Fabian Spitzer."
    assert "Lena" not in str(result["data"])


def test_an_english_speaking_salon_gets_english_answers(whole_team, retell):
    companies = importlib.import_module("calbridge.adapters.store.repositories").CompanyRepository()
    companies.save(companies.get("salon-demo").model_copy(update={"language": "en"}))
    team = tool(retell, "list_staff", {"service": "Kinderhaarschnitt"})
    assert team["message"] == "Kinderhaarschnitt is done by Emma Williams and Sara Özdemir."
    nobody = tool(retell, "cancel_appointment", {"date": "next Monday"})
    assert nobody["message"] == (
        "I couldn't find a matching appointment under your phone number. Do you have your confirmation code?"
    )


def test_list_staff_for_an_unknown_service_is_a_speakable_no(fresh, retell):
    result = tool(retell, "list_staff", {"service": "Massage"})
    assert result["success"] is False and result["data"]["error"] == "unknown_service"


# ------------------------------------------------------------------ staff names as said


@pytest.mark.parametrize(
    ("said", "staff_id"),
    [
        ("Fabien", "fabian-spitzer"),
        ("fabian spitzer", "fabian-spitzer"),
        ("Lena Mueller", "lena-mueller"),
        ("Frau Muller", "lena-mueller"),
    ],
)
def test_staff_typos_and_umlaut_spellings_are_understood(fresh, retell, said, staff_id):
    link_staff("lena-mueller", 1420211)  # the demo leaves Lena's Cal.com host to review
    args = {"service": "Föhnen", "date": next_monday(), "time": "10:00", "mitarbeiter": said}
    result = tool(retell, "check_availability", args)
    assert result["success"] and result["data"]["staff_id"] == staff_id, result


def test_sara_oezdemir_spelled_without_umlaut(fresh, retell):
    link_staff("sara-oezdemir", 1420212)
    result = tool(
        retell, "check_availability", {"service": "Föhnen", "date": next_monday(), "mitarbeiter": "Ozdemir"}
    )
    assert result["success"], result
    assert {s["staff_id"] for s in result["data"]["starts"]} == {"sara-oezdemir"}


def test_two_staff_members_matching_equally_are_a_question(fresh, retell):
    add_staff("Lena Schmidt", "lena-schmidt", services=("44",))
    args = {"service": "Föhnen", "date": next_monday(), "time": "10:00", "mitarbeiter": "Lena"}
    result = tool(retell, "check_availability", args)
    assert result["success"] is False and result["data"]["error"] == "ambiguous_staff"
    assert result["message"] == "Meinen Sie Lena Müller oder Lena Schmidt?"

    # Only one of them performs the service: no need to ask.
    link_staff("lena-mueller", 1420211)
    damen = tool(retell, "check_availability", {**args, "service": "Damenhaarschnitt", "time": "09:00"})
    assert damen["success"] and damen["data"]["staff_id"] == "lena-mueller", damen


# ------------------------------------------------------------------ idempotent tool calls


def test_a_replayed_booking_has_one_effect_and_the_first_answer(fresh, retell):
    args = {
        "service": "Föhnen",
        "date": next_monday(),
        "time": "10:00",
        "mitarbeiter": "Fabian",
        "customer_name": "Anna Schmidt",
    }
    first = retell.tool("book_appointment", args, CALL)
    # The same call and arguments, as a retry (or the LLM) may send them: spacing, case, key order.
    replay_args = {
        **{k: args[k] for k in reversed(args)},
        "customer_name": " anna  SCHMIDT ",
        "service": "föhnen",
    }
    replay = retell.tool("book_appointment", replay_args, CALL)
    assert first.status_code == replay.status_code == 200
    assert first.json()["success"] and replay.content == first.content
    assert len(appointments(fresh)) == 1
    assert len(calcom_requests(fresh, "POST", "/v2/bookings")) == 1

    # Another call with the same words is another booking attempt (the slot is taken by now).
    other = tool(retell, "book_appointment", args, {**CALL, "call_id": "call_someone_else"})
    assert other["success"] is False and other["data"]["error"] == "slot_unavailable"


def test_a_replayed_cancel_has_one_effect(fresh, retell):
    booked = tool(
        retell,
        "book_appointment",
        {"service": "Föhnen", "date": next_monday(), "time": "10:00", "customer_name": "Anna"},
    )
    cancel = {"confirmation_code": booked["data"]["confirmation_code"]}
    first = retell.tool("cancel_appointment", cancel, CALL)
    replay = retell.tool("cancel_appointment", cancel, CALL)
    assert first.json()["success"] and replay.content == first.content
    assert len(calcom_requests(fresh, "POST", "/v2/bookings/*/cancel")) == 1


def test_concurrent_duplicates_book_once_and_share_the_answer(fresh, retell):
    args = {"service": "Föhnen", "date": next_monday(), "time": "11:00", "customer_name": "Anna"}
    with ThreadPoolExecutor(max_workers=2) as pool:
        answers = list(pool.map(lambda _: retell.tool("book_appointment", args, CALL), range(2)))
    assert [a.status_code for a in answers] == [200, 200]
    assert answers[0].content == answers[1].content and answers[0].json()["success"]
    assert len(appointments(fresh)) == 1


def test_read_only_tools_are_answered_fresh(fresh, retell):
    args = {"service": "Föhnen", "date": next_monday(), "time": "10:00", "mitarbeiter": "Fabian"}
    assert tool(retell, "check_availability", args)["data"]["available"]
    tool(retell, "book_appointment", {**args, "customer_name": "Anna"})
    assert tool(retell, "check_availability", args)["data"]["available"] is False


def test_argument_mistakes_are_not_remembered(fresh, retell):
    args = {"service": "Föhnen", "date": next_monday(), "time": "10:00"}
    missing = tool(retell, "book_appointment", args)  # no customer_name: asked for it
    assert missing["data"]["error"] == "invalid_argument" and missing["data"]["argument"] == "customer_name"
    assert missing["data"]["problem"].startswith("args.customer_name: ")
    fixed = tool(retell, "book_appointment", {**args, "customer_name": "Anna"})
    assert fixed["success"], fixed


def test_a_tenant_placed_in_args_is_ignored(fresh, retell):
    args = {"service": "Föhnen", "date": next_monday(), "time": "10:00", "customer_name": "Anna"}
    result = tool(retell, "book_appointment", {**args, "company_id": "other-salon", "tenant_id": "x"})
    assert result["success"], result
    assert [a["company_id"]["S"] for a in appointments(fresh)] == ["salon-demo"]


# ------------------------------------------------------------------ protocol


def test_args_as_a_json_string_are_accepted(whole_team, retell):
    result = tool(retell, "list_staff", '{"service": "Kinderhaarschnitt"}')
    assert (
        result["success"]
        and result["message"] == "Kinderhaarschnitt machen bei uns Emma Williams und Sara Özdemir."
    )


@pytest.mark.parametrize(
    ("name", "args", "field"),
    [
        ("delete_everything", {}, "name"),
        ("cancel_appointment", "[1, 2]", "args"),
    ],
)
def test_unknown_tools_and_args_that_are_no_object_are_400_naming_the_field(fresh, retell, name, args, field):
    response = retell.tool(name, args, CALL)
    assert response.status_code == 400 and response.json()["field"] == field
    assert appointments(fresh) == []


@pytest.mark.parametrize(
    ("name", "args", "argument"),
    [
        ("cancel_appointment", {"confirmation_code": 123456}, "confirmation_code"),
        ("reschedule_appointment", {"new_date": "2030-01-01", "new_time": 14}, "new_time"),
        ("list_staff", {"service": ["Föhnen"]}, "service"),
    ],
)
def test_a_wrong_argument_is_asked_back_naming_it(fresh, retell, name, args, argument):
    result = tool(retell, name, args)
    assert result["success"] is False and result["data"]["error"] == "invalid_argument"
    assert result["data"]["argument"] == argument and result["message"].endswith("?")
    assert appointments(fresh) == []
