"""Calls without inbound routing (Retell's dashboard test calls, web calls): a company names the Retell
agents that serve it (`retell_agent_ids`, admin settings), and a call without metadata is routed by
its agent id. Over the local stack's HTTP front: the admin API as an IAM admin, Retell signed.
"""

from __future__ import annotations

import importlib
from typing import Any

import httpx
import pytest

from local.events import call_webhook
from tests.e2e.test_admin_api import IDENTITY, snapshot

SETTINGS = "/admin/companies/{company}/settings"
DASHBOARD_AGENT = "agent_5b1e0c7e2f9a4d3c8b6a1e2f3d4c5b6a"
UNROUTED_NUMBER = "+4940999999"


@pytest.fixture
def admin(stack):
    with httpx.Client(base_url=stack.http_url, headers=IDENTITY, timeout=30) as client:
        yield client


@pytest.fixture
def store(fresh):
    """The stack's repositories (imported after it started), and a second company, salon-two."""
    repositories = importlib.import_module("calbridge.adapters.store.repositories")
    models = importlib.import_module("calbridge.domain.models")
    companies = repositories.CompanyRepository()
    companies.save(
        models.Company(
            company_id="salon-two",
            name="Salon Two",
            timezone="Europe/Berlin",
            branches=[
                {"branch_id": "nord", "name": "Nord", "phone_numbers": ["+4940555555"]},
                {"branch_id": "sued", "name": "Süd", "phone_numbers": ["+4940555556"]},
            ],
        )
    )
    calls = importlib.import_module("calbridge.adapters.store.calls").CallRepository()
    return companies, calls


def patch_agents(admin, company: str, agent_ids: Any) -> httpx.Response:
    return admin.patch(SETTINGS.format(company=company), json={"retell_agent_ids": agent_ids})


def dashboard_call_ended(agent_id: str, call_id: str = "call_dashboard_test") -> dict[str, Any]:
    """A lifecycle webhook of a dashboard test call: no metadata, a number nobody routes."""
    return call_webhook("call_ended", call_id, metadata=None, agent_id=agent_id, to_number=UNROUTED_NUMBER)


def test_set_agent_ids_route_a_dashboard_test_call(admin, retell, store):
    companies, calls = store
    answer = patch_agents(admin, "salon-two", [DASHBOARD_AGENT])
    assert answer.status_code == 200, answer.text
    assert answer.json()["changed"] == ["retell_agent_ids"]
    assert answer.json()["settings"]["retell_agent_ids"] == [DASHBOARD_AGENT]
    assert companies.company_of_agent(DASHBOARD_AGENT) == "salon-two"

    assert retell.post("/retell/events", dashboard_call_ended(DASHBOARD_AGENT)).status_code == 204
    stored = calls.get("salon-two", "call_dashboard_test")
    # Two branches: an agent serves the company, the branch stays open.
    assert stored is not None and stored.branch_id is None and stored.agent_id == DASHBOARD_AGENT
    assert calls.list("salon-demo") == []


def test_an_agent_serves_one_company(admin, store, stack):
    companies, _ = store
    before = snapshot(stack)
    answer = patch_agents(admin, "salon-two", ["agent_local_demo"])  # the demo salon's agent
    assert answer.status_code == 400
    body = answer.json()
    assert body["error"] == "invalid_request" and body["field"] == "retell_agent_ids"
    assert "another company" in body["message"] and "salon-demo" not in body["message"]
    assert snapshot(stack) == before
    assert companies.company_of_agent("agent_local_demo") == "salon-demo"


def test_a_claim_lost_to_a_race_writes_nothing(store):
    """The transaction re-checks each claim: the check before it can be outrun."""
    companies, _ = store
    errors = importlib.import_module("calbridge.errors")
    two = companies.get("salon-two")
    claiming = two.model_copy(update={"retell_agent_ids": ["agent_local_demo"]})
    with pytest.raises(errors.MappingConflict):
        companies.save_settings(claiming, ["retell_agent_ids"])
    with pytest.raises(errors.MappingConflict):
        companies.save(claiming)
    assert companies.get("salon-two").retell_agent_ids == []
    assert companies.company_of_agent("agent_local_demo") == "salon-demo"
    assert companies.route_for("+4940555555").company_id == "salon-two"  # the phone routes stay


def test_released_agent_ids_stop_routing_and_the_call_is_acknowledged(admin, retell, store, caplog):
    companies, calls = store
    assert patch_agents(admin, "salon-two", [DASHBOARD_AGENT, "agent_second"]).status_code == 200
    assert patch_agents(admin, "salon-two", ["agent_second"]).json()["changed"] == ["retell_agent_ids"]
    assert companies.company_of_agent(DASHBOARD_AGENT) is None
    assert companies.company_of_agent("agent_second") == "salon-two"

    response = retell.post("/retell/events", dashboard_call_ended(DASHBOARD_AGENT))
    assert response.status_code == 204
    assert calls.list("salon-two") == [] and calls.list("salon-demo") == []
    assert any(r.getMessage() == "call event of no company; not recorded" for r in caplog.records)

    # Another company may claim a released id.
    assert patch_agents(admin, "salon-demo", ["agent_local_demo", DASHBOARD_AGENT]).status_code == 200
    assert companies.company_of_agent(DASHBOARD_AGENT) == "salon-demo"


def test_saving_the_whole_company_keeps_its_agent_routes(store):
    companies, _ = store
    two = companies.get("salon-two").model_copy(update={"retell_agent_ids": [DASHBOARD_AGENT]})
    companies.save(two)
    assert companies.company_of_agent(DASHBOARD_AGENT) == "salon-two"
    companies.save(two.model_copy(update={"name": "Salon Zwei"}))  # routes rewritten, not lost
    assert companies.company_of_agent(DASHBOARD_AGENT) == "salon-two"
    companies.save(two.model_copy(update={"retell_agent_ids": []}))
    assert companies.company_of_agent(DASHBOARD_AGENT) is None
    assert companies.route_for("+4940555556").branch_id == "sued"


@pytest.mark.parametrize(
    "agent_ids",
    [
        pytest.param(["agent_a", "agent_a"], id="repeated"),
        pytest.param(["agent a"], id="space"),
        pytest.param(["agent#a"], id="hash"),
        pytest.param([""], id="empty"),
        pytest.param(["a" * 129], id="too long"),
        pytest.param([f"agent_{i}" for i in range(21)], id="more than 20"),
        pytest.param("agent_a", id="not a list"),
    ],
)
def test_invalid_agent_ids_are_400_and_write_nothing(admin, fresh, stack, agent_ids):
    before = snapshot(stack)
    answer = patch_agents(admin, "salon-demo", agent_ids)
    assert answer.status_code == 400, answer.text
    assert answer.json()["field"] == "retell_agent_ids"
    assert snapshot(stack) == before


def test_the_cached_look_up_sees_a_new_claim_at_once(store):
    """The tool path's repository keeps claims for its TTL, never a miss."""
    companies, _ = store
    repositories = importlib.import_module("calbridge.adapters.store.repositories")
    cached = repositories.CompanyRepository(cache_ttl_s=300)
    assert cached.company_of_agent(DASHBOARD_AGENT) is None
    companies.save(companies.get("salon-two").model_copy(update={"retell_agent_ids": [DASHBOARD_AGENT]}))
    assert cached.company_of_agent(DASHBOARD_AGENT) == "salon-two"


def test_a_dashboard_test_call_uses_the_tools(retell):
    call = {"call_id": "call_dash", "agent_id": "agent_local_demo", "call_type": "web_call"}
    answer = retell.tool("get_service_info", {"service": "Damenhaarschnitt"}, call)
    assert answer.status_code == 200 and answer.json()["success"] is True
