"""A company's own Cal.com key over the admin API (issue 13 item 2, docs/adr/0030): set, rotated and
removed through the local stack's HTTP front; the stand-in knows which key every request carried
(its request log names it by hash), accepts only the keys it was given (POST /_standin/api-keys)
and refuses a revoked one (401), as Cal.com does with a deleted key.

The key never appears in an answer, an audit entry or a log line; another company keeps the platform
key; one key's open breaker does not stop the other key's calls.
"""

from __future__ import annotations

import hashlib
import importlib
import json
from datetime import date, timedelta

import httpx
import pytest

from tests.e2e.test_admin_api import EVENTS, IDENTITY, SALON
from tests.e2e.test_calcom_breaker import faults, requests_to_calcom
from tests.e2e.test_cancel_reschedule_tools import tool
from tests.helpers import next_monday

KEY_A = "cal_live_salondemo0000000000000000000a"
KEY_B = "cal_live_salondemo0000000000000000000b"
CREDENTIAL = f"{SALON}/calcom-credential"
CHECK = {"service": "Föhnen", "time": "10:00", "mitarbeiter": "Fabian"}
TEAM = 39203  # the demo salon's Cal.com team (local/fixtures/salon_demo.json)
SECOND = "salon-zwei"


def key_hash(api_key: str) -> str:
    """As the stand-in's request log names a key."""
    return hashlib.sha256(api_key.encode()).hexdigest()[:32]


@pytest.fixture
def admin(fresh):
    with httpx.Client(base_url=fresh.http_url, headers=IDENTITY, timeout=30) as client:
        yield client


def register(stack, api_key: str) -> None:
    """A key of the team's owner that Cal.com (the stand-in) accepts from now on."""
    httpx.post(f"{stack.calcom_url}/_standin/api-keys", json={"api_key": api_key}).raise_for_status()


def revoke(stack, api_key: str) -> None:
    httpx.request(
        "DELETE", f"{stack.calcom_url}/_standin/api-keys", json={"api_key": api_key}
    ).raise_for_status()


def keys_used(stack) -> set[str]:
    return {entry.get("api_key_hash") for entry in requests_to_calcom(stack)}


def forget_requests(stack) -> None:
    httpx.delete(f"{stack.calcom_url}/_standin/requests").raise_for_status()


def checked(retell, day: str) -> dict:
    """A check of a day in its own week: availability asks Cal.com (no cached slots)."""
    answer = tool(retell, "check_availability", date=day, **CHECK)
    assert answer["success"], answer
    return answer


def weeks_later(day: str, weeks: int) -> str:
    return (date.fromisoformat(day) + timedelta(weeks=weeks)).isoformat()


def platform_key(stack) -> str:
    return stack.standin.api_key


def secret_exists(stack, name: str) -> bool:
    secrets = stack.boto3_client("secretsmanager")
    try:
        secrets.describe_secret(SecretId=name)
    except secrets.exceptions.ResourceNotFoundException:
        return False
    return True


def company_key_secret(company_id: str) -> str:
    return importlib.import_module("calbridge.services.wiring").company_key_secret(company_id)


def audit_entries(company_id: str) -> list[dict]:
    log = importlib.import_module("calbridge.adapters.store.audits").AdminAuditLog()
    return [entry.view() for entry in log.entries(company_id, "calcom-credential")]


def test_a_company_key_is_set_rotated_and_removed_and_never_shown_or_logged(
    admin, fresh, retell, caplog, capsys
):
    stack = fresh
    register(stack, KEY_A)
    register(stack, KEY_B)
    monday = next_monday()
    assert admin.get(CREDENTIAL).json() == {"company_id": "salon-demo", "calcom_credential": "platform"}

    forget_requests(stack)
    checked(retell, monday)
    assert keys_used(stack) == {key_hash(platform_key(stack))}

    # Its own key: tried against the team first, then every call of the company carries it.
    forget_requests(stack)
    response = admin.put(CREDENTIAL, json={"api_key": KEY_A, "reason": "the salon's own Cal.com account"})
    assert response.status_code == 200, response.text
    assert response.json() == {
        "company_id": "salon-demo",
        "calcom_credential": "own",
        "action": "set",
        "verified": True,
    }
    assert keys_used(stack) == {key_hash(KEY_A)}  # the one check of the key
    assert secret_exists(stack, company_key_secret("salon-demo"))
    forget_requests(stack)
    checked(retell, weeks_later(monday, 2))
    assert keys_used(stack) == {key_hash(KEY_A)}

    # Rotated, and the old key deleted in Cal.com: the next call uses the new one and succeeds.
    response = admin.put(CREDENTIAL, json={"api_key": KEY_B})
    assert response.status_code == 200 and response.json()["action"] == "rotated", response.text
    revoke(stack, KEY_A)
    forget_requests(stack)
    checked(retell, weeks_later(monday, 4))
    assert keys_used(stack) == {key_hash(KEY_B)}
    assert admin.get(CREDENTIAL).json()["calcom_credential"] == "own"

    # Removed: back to the platform key, the secret gone.
    response = admin.request("DELETE", CREDENTIAL, json={"reason": "the salon left its own account"})
    assert response.status_code == 200, response.text
    assert response.json() == {
        "company_id": "salon-demo",
        "calcom_credential": "platform",
        "action": "removed",
    }
    assert not secret_exists(stack, company_key_secret("salon-demo"))
    forget_requests(stack)
    checked(retell, weeks_later(monday, 6))
    assert keys_used(stack) == {key_hash(platform_key(stack))}

    # Audited with the admin and whose key, never the key.
    entries = audit_entries("salon-demo")
    assert [e["action"] for e in entries] == ["removed", "rotated", "set"]
    assert {e["changed_by"] for e in entries} == {IDENTITY["x-calbridge-local-identity"]}
    assert entries[-1]["reason"] == "the salon's own Cal.com account"
    written = json.dumps(entries)
    printed = capsys.readouterr()
    for key in (KEY_A, KEY_B):
        assert key not in written
        assert key not in caplog.text
        assert key not in printed.out and key not in printed.err
    assert any(r.getMessage() == "company Cal.com key stored" for r in caplog.records)


def test_a_key_cal_com_refuses_or_a_malformed_one_is_never_stored(admin, fresh):
    stack = fresh
    stored_before = secret_exists(stack, company_key_secret("salon-demo"))  # secrets outlive a reseed
    unknown = "cal_live_nobodyknowsthiskey00000000"
    response = admin.put(CREDENTIAL, json={"api_key": unknown})
    assert response.status_code == 400, response.text
    assert response.json() == {
        "error": "calcom_key_refused",
        "message": "Cal.com refused this key",
        "field": "api_key",
    }
    assert unknown not in response.text

    for body in ({"api_key": "sk_live_1234567890abcdef"}, {"api_key": ""}, {"key": KEY_A}, [KEY_A]):
        response = admin.put(CREDENTIAL, json=body)
        assert response.status_code == 400, (body, response.text)
        assert KEY_A not in response.text and "sk_live_1234567890abcdef" not in response.text

    assert admin.get(CREDENTIAL).json()["calcom_credential"] == "platform"
    assert secret_exists(stack, company_key_secret("salon-demo")) == stored_before
    assert audit_entries("salon-demo") == []
    assert admin.put("/admin/companies/nobody/calcom-credential", json={"api_key": KEY_A}).status_code == 404


def test_one_keys_open_breaker_does_not_stop_a_company_on_the_platform_key(admin, fresh, retell):
    stack = fresh
    wiring = importlib.import_module("calbridge.services.wiring")
    errors = importlib.import_module("calbridge.errors")
    register(stack, KEY_A)
    assert admin.put(CREDENTIAL, json={"api_key": KEY_A}).status_code == 200
    companies = wiring.config_reads()[0]
    demo = companies.get("salon-demo")
    branch = demo.branches[0].model_copy(update={"branch_id": "zwei", "phone_numbers": ["+4930123456780"]})
    second = demo.model_copy(
        update={
            "company_id": SECOND,
            "name": "Salon Zwei",
            "branches": [branch],
            "retell_agent_ids": [],
            "calcom_credential": "platform",
        }
    )
    importlib.import_module("calbridge.adapters.store.repositories").CompanyRepository().save(second)
    companies.clear_cache()

    # Cal.com fails the salon's checks: five failures open its key's breaker.
    monday = next_monday()
    faults(stack, [{"endpoint": "GET /v2/slots", "fault": "5xx", "status": 503}])
    try:
        for _ in range(5):
            answer = tool(retell, "check_availability", date=monday, **CHECK)
            assert answer["success"] is False, answer
    finally:
        faults(stack, None)

    forget_requests(stack)
    client = wiring.calcom_client()
    with pytest.raises(errors.CalcomCircuitOpen):
        client.for_company("salon-demo").list_team_memberships(TEAM)
    assert requests_to_calcom(stack) == []  # refused without asking Cal.com

    # The other company's calls go out on the platform key.
    assert client.for_company(SECOND).list_team_memberships(TEAM)
    assert keys_used(stack) == {key_hash(platform_key(stack))}
    assert admin.request("DELETE", CREDENTIAL).status_code == 200  # the secret goes too


def test_the_sample_events_answer_on_the_stack(fresh):
    def invoke(name: str) -> tuple[int, dict]:
        event = json.loads((EVENTS / f"admin_{name}.json").read_text(encoding="utf-8"))
        response = fresh.invoke("AdminApiFunction", event).json()
        return response["statusCode"], json.loads(response["body"])

    platform = {"company_id": "salon-demo", "calcom_credential": "platform"}
    assert invoke("get_calcom_credential") == (200, platform)
    assert invoke("set_calcom_credential") == (
        200,
        {"company_id": "salon-demo", "calcom_credential": "own", "action": "set", "verified": True},
    )
    assert invoke("remove_calcom_credential") == (200, {**platform, "action": "removed"})
    assert [e["action"] for e in audit_entries("salon-demo")] == ["removed", "set"]
