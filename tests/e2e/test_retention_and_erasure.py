"""Issue 13 item 4 over HTTP (docs/adr/0028): a caller's data expires (DynamoDB TTL, its double
local/ttl.py), is exported, and is erased, for one company only, with an audit entry naming nobody."""

from __future__ import annotations

import importlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from local.events import call_webhook
from local.ttl import expire_items
from tests.e2e.test_admin_api import EVENTS, IDENTITY, snapshot
from tests.helpers import next_monday

SALON = "/admin/companies/salon-demo"
PHONE = "+4915112345678"
EMAIL = "anna.schmidt@example.org"
NAME = "Anna Schmidt"
OTHER_PHONE = "+4917098765432"
OTHER_NAME = "Bernd Keller"
TRACES = (PHONE, EMAIL, NAME, "15112345678")  # the national digits too: no other spelling survives


@pytest.fixture
def admin(fresh):
    import httpx

    with httpx.Client(base_url=fresh.http_url, headers=IDENTITY, timeout=30) as client:
        yield client


@pytest.fixture
def salon_two(fresh):
    """A second company, called by the same caller."""
    repositories = importlib.import_module("calbridge.adapters.store.repositories")
    models = importlib.import_module("calbridge.domain.models")
    repositories.CompanyRepository().save(
        models.Company(
            company_id="salon-two",
            name="Salon Two",
            timezone="Europe/Berlin",
            branches=[{"branch_id": "main", "name": "Main", "phone_numbers": ["+4940555555"]}],
        )
    )
    importlib.import_module("calbridge.services.wiring").clear_caches()
    return "salon-two"


def placed(call_id: str, phone: str, company_id: str = "salon-demo", branch_id: str = "berlin-mitte"):
    return {
        "call_id": call_id,
        "from_number": phone,
        "metadata": {"company_id": company_id, "branch_id": branch_id},
    }


def whole_call(retell, call: dict[str, Any]) -> None:
    """The call's three lifecycle webhooks, signed, as Retell sends them."""
    for event in ("call_started", "call_ended", "call_analyzed"):
        body = call_webhook(
            event, call["call_id"], from_number=call["from_number"], metadata=call["metadata"]
        )
        assert retell.post("/retell/events", body).status_code == 204


def book(retell, call: dict[str, Any], time: str, name: str, email: str | None = None) -> str:
    args = {"service": "Damenhaarschnitt", "date": next_monday(), "time": time, "customer_name": name}
    args["mitarbeiter"] = "Fabian"
    if email:
        args["customer_email"] = email
    response = retell.tool("book_appointment", args, call)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["success"] and answer["data"]["booked"], answer
    return answer["data"]["confirmation_code"]


def items_naming(stack, traces=TRACES, *, company_id: str | None = "salon-demo") -> dict[str, list[str]]:
    """Every stored item (any table) whose text holds one of `traces`, of `company_id` (None: any)."""
    found: dict[str, list[str]] = {}
    for table, items in snapshot(stack).items():
        for item in items:
            owner = json.loads(item).get("company_id", {}).get("S")
            if company_id is not None and owner not in (company_id, None):
                continue
            if any(trace in item for trace in traces):
                found.setdefault(table, []).append(item)
    return found


def appointment_items(stack, company_id: str = "salon-demo") -> list[dict[str, Any]]:
    items = stack.boto3_client("dynamodb").scan(TableName="AppointmentsTable")["Items"]
    return [i for i in items if i["company_id"]["S"] == company_id]


def call_item(stack, call_id: str, company_id: str = "salon-demo") -> dict[str, Any] | None:
    key = {"company_id": {"S": company_id}, "call_id": {"S": call_id}}
    return stack.boto3_client("dynamodb").get_item(TableName="CallsTable", Key=key).get("Item")


# ------------------------------------------------------------------ erasure and export


def test_erasure_by_phone_leaves_nothing_of_the_caller_and_nobody_elses(fresh, retell, admin, salon_two):
    anna = placed("call_erase_anna", PHONE)
    whole_call(retell, anna)
    code = book(retell, anna, "09:00", NAME, EMAIL)
    bernd = placed("call_keep_bernd", OTHER_PHONE)
    whole_call(retell, bernd)
    book(retell, bernd, "15:00", OTHER_NAME)
    elsewhere = placed("call_salon_two", PHONE, "salon-two", "main")
    whole_call(retell, elsewhere)

    assert items_naming(fresh), "the caller's data was not written"
    exported = admin.post(f"{SALON}/customer-data", json={"phone": PHONE})
    assert exported.status_code == 200, exported.text
    export = exported.json()
    assert export["identified_by"] == "phone"
    assert [a["confirmation_code"] for a in export["appointments"]] == [code]
    assert export["appointments"][0]["customer_name"] == NAME
    assert export["appointments"][0]["customer_email"] == EMAIL
    assert {c["call_id"] for c in export["calls"]} == {"call_erase_anna"}  # not salon two's call
    kinds = {item["kind"] for item in export["appointment_items"]}
    assert {"segment", "confirmation_code"} <= kinds
    assert OTHER_NAME not in json.dumps(export) and OTHER_PHONE not in json.dumps(export)
    bernd_before = [i for i in appointment_items(fresh) if OTHER_PHONE in json.dumps(i)]
    two_before = call_item(fresh, "call_salon_two", "salon-two")

    erased = admin.post(f"{SALON}/erasures", json={"phone": PHONE})
    assert erased.status_code == 200, erased.text
    counts = erased.json()["counts"]
    # The appointment is still booked in Cal.com: kept for the salon, without the caller.
    assert counts["appointments_scrubbed"] == 1 and counts["appointments_deleted"] == 0
    assert counts["calls_deleted"] == 1

    assert items_naming(fresh) == {}, "something of the caller is left"
    kept = [i for i in appointment_items(fresh) if i.get("confirmation_code", {}).get("S") == code]
    assert {i["kind"]["S"] for i in kept} == {"appointment", "confirmation_code"}
    assert call_item(fresh, "call_erase_anna") is None
    # The other caller and the other company are untouched.
    assert [i for i in appointment_items(fresh) if OTHER_PHONE in json.dumps(i)] == bernd_before
    assert call_item(fresh, "call_keep_bernd") is not None
    assert call_item(fresh, "call_salon_two", "salon-two") == two_before
    assert items_naming(fresh, (PHONE,), company_id="salon-two")

    # The audit entry names the admin and the counts, never the caller.
    audit = erased.json()["audit"]
    assert audit["changed_by"] == IDENTITY["x-calbridge-local-identity"]
    entries = (
        importlib.import_module("calbridge.adapters.store.audits")
        .AdminAuditLog()
        .entries("salon-demo", "erasure")
    )
    assert len(entries) == 1 and entries[0].new_values["calls_deleted"] == 1
    assert not any(trace in json.dumps(entries[0].view()) for trace in TRACES)

    again = admin.post(f"{SALON}/erasures", json={"phone": PHONE})
    assert again.status_code == 200
    assert set(again.json()["counts"].values()) == {0}
    assert admin.post(f"{SALON}/customer-data", json={"phone": PHONE}).json()["appointments"] == []


def test_erasure_by_email_deletes_a_cancelled_appointment_and_the_call_that_made_it(fresh, retell, admin):
    anna = placed("call_erase_by_mail", PHONE)
    whole_call(retell, anna)
    code = book(retell, anna, "09:00", NAME, EMAIL)
    cancelled = retell.tool("cancel_appointment", {"confirmation_code": code}, anna)
    assert cancelled.status_code == 200 and cancelled.json()["success"], cancelled.text

    erased = admin.post(f"{SALON}/erasures", json={"email": EMAIL.upper()})
    assert erased.status_code == 200, erased.text
    counts = erased.json()["counts"]
    assert counts["appointments_deleted"] == 1 and counts["calls_deleted"] == 1
    assert counts["appointment_items_deleted"] >= 2  # its segment(s) and its code
    assert items_naming(fresh) == {}
    assert [i for i in appointment_items(fresh) if i.get("kind", {}).get("S") != "attention"] == []


@pytest.mark.parametrize(
    ("path", "body", "status", "field"),
    [
        (f"{SALON}/erasures", {}, 400, "body"),
        (f"{SALON}/erasures", {"phone": PHONE, "email": EMAIL}, 400, "body"),
        (f"{SALON}/erasures", {"phone": "+49 123"}, 400, "phone"),
        (f"{SALON}/erasures", {"email": "not-an-address"}, 400, "email"),
        (f"{SALON}/erasures", {"phone": PHONE, "name": NAME}, 400, "name"),
        (f"{SALON}/customer-data", {"phone": "0151 12345678"}, 400, "phone"),
        ("/admin/companies/no-such-salon/erasures", {"phone": PHONE}, 404, None),
        ("/admin/companies/no-such-salon/customer-data", {"phone": PHONE}, 404, None),
    ],
)
def test_bad_requests_erase_nothing(stack, path, body, status, field):
    import httpx

    anna = placed("call_bad_request", PHONE)
    before = snapshot(stack)
    response = httpx.post(f"{stack.http_url}{path}", json=body, headers=IDENTITY, timeout=30)
    assert response.status_code == status, response.text
    if field is not None:
        assert response.json()["field"] == field
    assert snapshot(stack) == before, f"a refused request changed a table ({anna['call_id']})"


def test_an_empty_body_and_no_identity_are_refused(stack):
    import httpx

    empty = httpx.post(f"{stack.http_url}{SALON}/erasures", content=b"", headers=IDENTITY, timeout=30)
    assert empty.status_code == 400
    nobody = httpx.post(f"{stack.http_url}{SALON}/erasures", json={"phone": PHONE}, timeout=30)
    assert nobody.status_code == 403


# ------------------------------------------------------------------ retention (TTL)


def test_records_carry_the_companys_retention_and_expire_by_ttl(fresh, retell, admin):
    changed = admin.patch(
        f"{SALON}/settings", json={"call_retention_days": 30, "appointment_retention_days": 10}
    )
    assert changed.status_code == 200, changed.text
    importlib.import_module("calbridge.services.wiring").clear_caches()  # as after the cache's 30 s

    anna = placed("call_retention", PHONE)
    whole_call(retell, anna)
    code = book(retell, anna, "09:00", NAME, EMAIL)

    now = datetime.now(UTC)
    call_expiry = int(call_item(fresh, "call_retention")["expires_at"]["N"])
    assert abs(call_expiry - (now + timedelta(days=30)).timestamp()) < 120
    items = [i for i in appointment_items(fresh) if i.get("kind", {}).get("S") in ("appointment", "segment")]
    head = next(i for i in items if i["kind"]["S"] == "appointment")
    end = datetime.fromisoformat(head["ends_at"]["S"].replace("Z", "+00:00"))
    expected = int((end + timedelta(days=10)).timestamp())
    code_item = next(i for i in appointment_items(fresh) if i["appointment_id"]["S"] == f"code#{code}")
    assert {int(i["expires_at"]["N"]) for i in [*items, code_item]} == {expected}

    # The appointment (end + 10 days) goes before the call (now + 30 days); each at its moment.
    assert end + timedelta(days=10) < now + timedelta(days=30)
    dynamodb = fresh.boto3_client("dynamodb")
    expire_items(dynamodb, end + timedelta(days=10, seconds=-1))
    assert [i for i in appointment_items(fresh) if NAME in json.dumps(i)]
    expire_items(dynamodb, end + timedelta(days=10, seconds=1))
    assert [i for i in appointment_items(fresh) if NAME in json.dumps(i) or code in json.dumps(i)] == []
    assert call_item(fresh, "call_retention") is not None
    expire_items(dynamodb, now + timedelta(days=30, seconds=-60))
    assert call_item(fresh, "call_retention") is not None
    expire_items(dynamodb, now + timedelta(days=30, seconds=60))
    assert call_item(fresh, "call_retention") is None
    assert items_naming(fresh) == {}


# ------------------------------------------------------------------ the sample events


def test_the_sample_events_answer_on_the_stack(fresh):
    def invoke(name: str) -> tuple[int, dict]:
        event = json.loads((EVENTS / f"admin_{name}.json").read_text(encoding="utf-8"))
        response = fresh.invoke("AdminApiFunction", event).json()
        return response["statusCode"], json.loads(response["body"])

    status, exported = invoke("export_customer_data")
    assert status == 200 and exported["identified_by"] == "phone" and exported["calls"] == []
    status, erased = invoke("erase_customer_data")
    assert status == 200 and erased["identified_by"] == "email" and set(erased["counts"].values()) == {0}


def test_stamping_the_retention_reads_no_company_on_a_warm_path(fresh, retell):
    """The writers take the retention from the cached company the call and the booking read anyway."""
    from local.bench import dynamodb_calls

    first = placed("call_warm_first", PHONE)
    whole_call(retell, first)
    book(retell, first, "09:00", NAME, EMAIL)
    second = placed("call_warm_second", OTHER_PHONE)
    webhooks: list[str] = []
    with dynamodb_calls(webhooks):
        whole_call(retell, second)
    # One read per event: the tenancy's own (CallRecords reads the company fresh), none more.
    assert webhooks.count("CompaniesTable") == 3
    booking: list[str] = []
    with dynamodb_calls(booking) as calls:
        book(retell, second, "15:00", OTHER_NAME)
    assert calls and "CompaniesTable" not in booking
    assert call_item(fresh, "call_warm_second")["expires_at"]


def test_a_reschedule_moves_the_ttl_with_the_end(fresh, retell):
    anna = placed("call_reschedule_ttl", PHONE)
    code = book(retell, anna, "09:00", NAME, EMAIL)
    before = appointment_head(fresh)
    # As in a cold container: the swap reads the company's retention itself (its IAM judged).
    importlib.import_module("calbridge.services.wiring").clear_caches()
    moved = retell.tool(
        "reschedule_appointment",
        {"confirmation_code": code, "new_date": next_monday(), "new_time": "15:00"},
        anna,
    )
    assert moved.status_code == 200 and moved.json()["data"]["rescheduled"], moved.text

    head = appointment_head(fresh)
    end = datetime.fromisoformat(head["ends_at"]["S"].replace("Z", "+00:00"))
    assert end - datetime.fromisoformat(before["ends_at"]["S"].replace("Z", "+00:00")) == timedelta(hours=6)
    expected = int((end + timedelta(days=365)).timestamp())
    kinds = ("appointment", "segment", "confirmation_code")
    stamped = [i for i in appointment_items(fresh) if i.get("kind", {}).get("S") in kinds]
    assert len(stamped) == 3 and {int(i["expires_at"]["N"]) for i in stamped} == {expected}


def appointment_head(stack) -> dict[str, Any]:
    return next(i for i in appointment_items(stack) if i.get("kind", {}).get("S") == "appointment")
