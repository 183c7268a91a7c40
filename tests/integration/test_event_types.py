"""Segment event types on the local stack: the provisioner Lambda and the admin route against the
Cal.com stand-in over HTTP (its control API injects faults and shows every request it served).

Demo salon (local/fixtures/salon_demo.json): composite services 177 (4 segments), 178 (4) and 42
(3, pause policy blocked: plus a gap event type for each of its 2 gaps); only Fabian (Cal.com user
1420209) has a known Cal.com user, so he is every segment's host, and Lena / Sara (listed for some
services) are warnings. Every test starts from the seeded salon (`fresh`), whose seed already
provisioned the 13 event types (11 segments, 2 gaps); `blank` takes them away.
"""

from __future__ import annotations

import copy
import importlib
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).parents[2]
FIXTURE = json.loads((ROOT / "local" / "fixtures" / "salon_demo.json").read_text(encoding="utf-8"))
SERVICES = {s["service_id"]: s for s in FIXTURE["services"]}
IDENTITY = {"x-calbridge-local-identity": "arn:aws:iam::123456789012:user/admin"}
SALON = "/admin/companies/salon-demo"
TEAM, FABIAN = 39203, 1420209
EVENT_TYPES = f"/v2/teams/{TEAM}/event-types"
SEGMENT_SLUGS = {
    f"cb-{service}-{key.lower()}"
    for service, keys in (("177", "ABCD"), ("178", "ABCD"), ("42", "ABC"))
    for key in keys
}
GAP_SLUGS = {"cb-42-gap-a", "cb-42-gap-b"}
SLUGS = SEGMENT_SLUGS | GAP_SLUGS


# ------------------------------------------------------------------ fixtures and helpers


@pytest.fixture
def admin(fresh):
    with httpx.Client(base_url=fresh.http_url, headers=IDENTITY, timeout=30) as client:
        yield client


@pytest.fixture
def calcom(fresh):
    """The stand-in: its Cal.com API (with the team admin's key) and its control API."""
    headers = {"Authorization": f"Bearer {fresh.standin.api_key}"}
    with httpx.Client(base_url=fresh.calcom_url, headers=headers, timeout=10) as client:
        yield client


@pytest.fixture
def blank(fresh, calcom):
    """The seeded salon before any provisioning: no segment event types, an empty event map."""
    calcom.post("/_standin/reset").raise_for_status()
    dynamodb, table = fresh.boto3_client("dynamodb"), fresh.resources["EventMapTable"]
    for item in dynamodb.scan(TableName=table)["Items"]:
        dynamodb.delete_item(TableName=table, Key={k: item[k] for k in ("company_id", "map_key")})
    assert segment_types(calcom) == {}
    return fresh


def provision(stack, **event) -> dict:
    result = stack.invoke("EventTypeProvisionerFunction", {"company_id": "salon-demo", **event})
    assert result.function_error is None, result.payload
    return result.json()


def segment_types(calcom) -> dict[str, dict]:
    """The team's calbridge-made event types by slug."""
    listed = calcom.get(EVENT_TYPES).raise_for_status().json()["data"]
    return {et["slug"]: et for et in listed if et["slug"].startswith("cb-")}


def writes(calcom) -> list[tuple[str, str]]:
    """Every write the stand-in served since its request log was last cleared."""
    log = calcom.get("/_standin/requests").raise_for_status().json()
    return [(r["method"], r["path"]) for r in log if r["method"] in ("POST", "PATCH", "DELETE")]


def event_map(stack, service_id: str | None = None) -> dict[str, dict]:
    repository = importlib.import_module("calbridge.adapters.store.event_map").EventMapRepository()
    return {e.key: e.model_dump(mode="json") for e in repository.list("salon-demo", service_id)}


def keys(results: list[dict]) -> list[str]:
    return [f"{r['service_id']}#{r['segment_key']}" for r in results]


def service_body(of: str, **changes) -> dict:
    """The fixture's service `of` as an admin sends it (the URL names it), with changes."""
    body = copy.deepcopy(SERVICES[of])
    body.pop("service_id")
    body.update(changes)
    return body


# ------------------------------------------------------------------ provisioning


def test_first_provisioning_creates_a_hidden_event_type_per_segment(blank, calcom):
    report = provision(blank)

    assert report["ok"] and report["errors"] == [] and report["failed"] == []
    assert report["services"] == ["177", "178", "42"]
    assert sorted(keys(report["created"])) == sorted(
        [f"177#{k}" for k in "ABCD"]
        + [f"178#{k}" for k in "ABCD"]
        + [f"42#{k}" for k in ("A", "B", "C", "gap-A", "gap-B")]
    )
    assert {s["service_id"] for s in report["skipped"]} == {"41", "43", "44"}  # not composite
    assert any("lena-mueller" in w for w in report["warnings"])
    assert any("sara-oezdemir" in w for w in report["warnings"])

    created = segment_types(calcom)
    assert set(created) == SLUGS
    entries = event_map(blank)
    for service_id in ("177", "178", "42"):
        service = SERVICES[service_id]
        for segment in service["segments"]:
            et = created[f"cb-{service_id}-{segment['key'].lower()}"]
            assert et["title"] == f"{service['name']} - {segment['name']}"
            assert et["lengthInMinutes"] == segment["duration"]
            assert et["hidden"] is True
            assert et["schedulingType"] == "roundRobin"
            assert [h["userId"] for h in et["hosts"]] == [FABIAN]
            entry = entries[f"{service_id}#{segment['key']}"]
            assert entry["event_type_id"] == et["id"]
            assert entry["sync_status"] == "synced"
            assert (entry["slug"], entry["title"], entry["length"]) == (
                et["slug"],
                et["title"],
                segment["duration"],
            )
            assert entry["host_user_ids"] == [FABIAN]
    assert created["cb-177-a"]["title"] == "Ansatzfärbung, waschen, schneiden, föhnen - Ansatzfärbung"
    assert created["cb-42-b"]["lengthInMinutes"] == 60

    segments_42 = {s["key"]: s for s in SERVICES["42"]["segments"]}
    for key in ("A", "B"):  # the gaps of service 42 (blocked): A -> 10 min, B -> 15 min
        et = created[f"cb-42-gap-{key.lower()}"]
        assert et["title"] == f"Herrenhaarschnitt - Pause nach {segments_42[key]['name']}"
        assert et["lengthInMinutes"] == segments_42[key]["gap_after"]
        assert (et["hidden"], et["schedulingType"]) == (True, "roundRobin")
        assert [h["userId"] for h in et["hosts"]] == [FABIAN]
        entry = entries[f"42#gap-{key}"]
        assert (entry["event_type_id"], entry["length"], entry["sync_status"]) == (
            et["id"],
            segments_42[key]["gap_after"],
            "synced",
        )
    assert created["cb-42-gap-a"]["title"] == "Herrenhaarschnitt - Pause nach Beratung und Waschen"
    # A blocked service's holds follow each other without a hole: every one of its event types
    # offers a start every 5 minutes; other services keep Cal.com's default (the event length).
    assert {created[slug]["slotInterval"] for slug in SLUGS if slug.startswith("cb-42-")} == {5}
    assert {created[slug]["slotInterval"] for slug in SLUGS if not slug.startswith("cb-42-")} == {None}


def test_the_demo_seed_provisions_through_the_provisioner(fresh, calcom):
    assert set(segment_types(calcom)) == SLUGS
    entries = event_map(fresh)
    assert len(entries) == 13 and {e["sync_status"] for e in entries.values()} == {"synced"}


def test_a_second_run_changes_nothing(fresh, calcom):
    before = event_map(fresh)
    calcom.delete("/_standin/requests").raise_for_status()

    report = provision(fresh)

    assert len(report["unchanged"]) == 13
    assert report["created"] == report["updated"] == report["failed"] == []
    assert writes(calcom) == []  # no POST, PATCH or DELETE reached Cal.com
    assert event_map(fresh) == before  # not even updated_at was rewritten


def test_a_changed_segment_duration_patches_its_event_type(fresh, admin, calcom):
    calcom.delete("/_standin/requests").raise_for_status()
    segments = copy.deepcopy(SERVICES["177"]["segments"])
    segments[2]["duration"] = 40  # C: 30 -> 40 minutes

    response = admin.put(f"{SALON}/services/177", json=service_body("177", duration=160, segments=segments))

    assert response.status_code == 200, response.text
    report = response.json()["event_types"]
    assert keys(report["updated"]) == ["177#C"]
    assert report["updated"][0]["changes"] == ["length 30 -> 40"]
    assert len(report["unchanged"]) == 3
    event_type = segment_types(calcom)["cb-177-c"]
    assert event_type["lengthInMinutes"] == 40
    assert writes(calcom) == [("PATCH", f"{EVENT_TYPES}/{event_type['id']}")]
    patch = next(r for r in calcom.get("/_standin/requests").json() if r["method"] == "PATCH")
    assert patch["body"] == {"lengthInMinutes": 40}
    entry = event_map(fresh, "177")["177#C"]
    assert (entry["length"], entry["sync_status"], entry["event_type_id"]) == (40, "synced", event_type["id"])
    assert entry["detail"] == "updated: length 30 -> 40"


def test_drift_made_in_calcom_is_seen_by_a_check_and_repaired_by_the_next_run(fresh, calcom):
    event_type = segment_types(calcom)["cb-178-b"]
    calcom.patch(
        f"{EVENT_TYPES}/{event_type['id']}",
        json={"lengthInMinutes": 25, "hidden": False, "hosts": [{"userId": 1420210}]},
    ).raise_for_status()
    calcom.delete("/_standin/requests").raise_for_status()

    check = provision(fresh, service_id="178", repair=False)
    assert keys(check["drifted"]) == ["178#B"]
    assert check["drifted"][0]["changes"] == [
        "length 25 -> 15",
        "hidden False -> True",
        f"hosts [1420210] -> [{FABIAN}]",
    ]
    assert writes(calcom) == []
    assert event_map(fresh, "178")["178#B"]["sync_status"] == "drifted"

    repaired = provision(fresh)
    assert keys(repaired["updated"]) == ["178#B"]
    assert len(repaired["unchanged"]) == 12
    event_type = segment_types(calcom)["cb-178-b"]
    assert (event_type["lengthInMinutes"], event_type["hidden"]) == (15, True)
    assert [h["userId"] for h in event_type["hosts"]] == [FABIAN]
    assert event_map(fresh, "178")["178#B"]["sync_status"] == "synced"


def test_a_calcom_503_fails_that_segment_only_and_a_rerun_fixes_it(blank, calcom):
    calcom.post(
        "/_standin/faults",
        json=[{"endpoint": f"POST {EVENT_TYPES}", "fault": "5xx", "status": 503, "nth": 2}],
    ).raise_for_status()

    report = provision(blank)

    assert keys(report["failed"]) == ["177#B"]  # the second create of the run
    assert report["failed"][0]["detail"].startswith("Cal.com: ")
    assert len(report["created"]) == 12 and not report["ok"]
    assert "cb-177-b" not in segment_types(calcom)
    entry = event_map(blank, "177")["177#B"]
    assert entry["sync_status"] == "failed" and entry["event_type_id"] is None
    assert entry["detail"] == report["failed"][0]["detail"]

    rerun = provision(blank)

    assert keys(rerun["created"]) == ["177#B"] and len(rerun["unchanged"]) == 12 and rerun["ok"]
    assert set(segment_types(calcom)) == SLUGS
    assert event_map(blank, "177")["177#B"]["sync_status"] == "synced"


def test_concurrent_runs_create_every_event_type_once(blank, calcom):
    provisioner = importlib.import_module("calbridge.services.wiring").event_type_provisioner()
    with ThreadPoolExecutor(max_workers=2) as pool:
        reports = list(pool.map(lambda _: provisioner.provision("salon-demo"), range(2)))

    assert all(r.ok for r in reports), [r.summary() for r in reports]
    assert sum(len(r.created) for r in reports) == 13  # each event type was created by one run
    listed = calcom.get(EVENT_TYPES).json()["data"]
    assert sorted(et["slug"] for et in listed if et["slug"].startswith("cb-")) == sorted(SLUGS)
    assert {e["sync_status"] for e in event_map(blank).values()} == {"synced"}


@pytest.mark.parametrize(
    ("staff_ids", "named"),
    [(["emma-williams", "sara-oezdemir"], "emma-williams, sara-oezdemir"), ([], "nobody is listed")],
)
def test_a_service_without_known_hosts_fails_clearly_and_creates_nothing(
    fresh, admin, calcom, staff_ids, named
):
    calcom.delete("/_standin/requests").raise_for_status()
    body = service_body("177", name="Balayage", staff_ids=staff_ids)

    response = admin.put(f"{SALON}/services/180", json=body)

    assert response.status_code == 201, response.text
    report = response.json()["event_types"]
    assert keys(report["failed"]) == [f"180#{k}" for k in "ABCD"] and not report["ok"]
    detail = report["failed"][0]["detail"]
    assert detail.startswith("no host: none of the staff who perform service 180") and named in detail
    assert "calcom_user_id" in detail
    assert writes(calcom) == []
    assert not any(slug.startswith("cb-180-") for slug in segment_types(calcom))
    entries = event_map(fresh, "180")
    assert {e["sync_status"] for e in entries.values()} == {"failed"}
    assert {e["detail"] for e in entries.values()} == {detail}


def test_a_company_without_a_team_id_gets_one_clear_error(fresh, calcom):
    models = importlib.import_module("calbridge.domain.models")
    store = importlib.import_module("calbridge.adapters.store.repositories")
    company = models.Company(
        company_id="salon-noteam",
        name="Salon ohne Team",
        timezone="Europe/Berlin",
        branches=[models.Branch(branch_id="main", name="Hauptsalon")],
    )
    store.CompanyRepository().save(company)
    store.ServiceRepository().save(
        models.Service.model_validate({**SERVICES["42"], "company_id": "salon-noteam"})
    )
    calcom.delete("/_standin/requests").raise_for_status()

    result = fresh.invoke("EventTypeProvisionerFunction", {"company_id": "salon-noteam"})

    report = result.json()
    assert result.function_error is None and not report["ok"]
    assert report["errors"] == [
        "company salon-noteam has no Cal.com team (calcom_team_id is not set): segment event types "
        "live in the team, so nothing was provisioned"
    ]
    assert report["created"] == report["failed"] == []
    assert calcom.get("/_standin/requests").json() == []  # Cal.com was not asked
    assert (
        importlib.import_module("calbridge.adapters.store.event_map")
        .EventMapRepository()
        .list("salon-noteam")
        == []
    )


def test_an_unknown_company_or_service_is_a_named_error(fresh):
    unknown_company = fresh.invoke("EventTypeProvisionerFunction", {"company_id": "no-such-salon"})
    assert unknown_company.json()["errorType"] == "UnknownCompany"
    unknown_service = fresh.invoke(
        "EventTypeProvisionerFunction", {"company_id": "salon-demo", "service_id": "9"}
    )
    assert unknown_service.json()["errorType"] == "NotFound"


def test_a_removed_segment_is_marked_and_its_event_type_kept(fresh, admin, calcom):
    segments = copy.deepcopy(SERVICES["42"]["segments"][:2])
    segments[1]["gap_after"] = 0  # A 45 + 10 + B 60

    response = admin.put(f"{SALON}/services/42", json=service_body("42", duration=115, segments=segments))

    assert response.status_code == 200, response.text
    report = response.json()["event_types"]
    assert keys(report["removed"]) == ["42#C", "42#gap-B"] and len(report["unchanged"]) == 3
    kept = segment_types(calcom)["cb-42-c"]
    assert kept["hidden"] is True  # kept in Cal.com: bookings made on it stay valid
    entry = event_map(fresh, "42")["42#C"]
    assert entry["sync_status"] == "removed" and entry["event_type_id"] == kept["id"]
    assert "kept, hidden" in entry["detail"]

    back = admin.put(f"{SALON}/services/42", json=service_body("42"))  # C comes back: reused by slug

    assert keys(back.json()["event_types"]["unchanged"]) == ["42#A", "42#B", "42#C", "42#gap-A", "42#gap-B"]
    assert event_map(fresh, "42")["42#C"]["sync_status"] == "synced"
    assert segment_types(calcom)["cb-42-c"]["id"] == kept["id"]


# ------------------------------------------------------------------ the admin routes


def test_put_saves_a_new_composite_service_and_provisions_it(fresh, admin, calcom):
    event = json.loads((ROOT / "events" / "admin_put_service.json").read_text(encoding="utf-8"))
    body = json.loads(event["body"])

    response = admin.put(f"{SALON}/services/179", json=body)

    assert response.status_code == 201, response.text
    answer = response.json()
    assert answer["service"]["service_id"] == "179" and answer["service"]["composite"] is True
    assert keys(answer["event_types"]["created"]) == [f"179#{k}" for k in "ABCD"]
    assert any("emma-williams" in w for w in answer["event_types"]["warnings"])
    created = segment_types(calcom)
    assert created["cb-179-a"]["title"] == "Strähnen, waschen, schneiden, föhnen - Strähnen"
    assert [h["userId"] for h in created["cb-179-a"]["hosts"]] == [FABIAN]
    assert [e["sync_status"] for e in answer["service"]["event_types"]] == ["synced"] * 4

    listed = {s["service_id"]: s for s in admin.get(f"{SALON}/services").json()["services"]}
    assert listed["179"]["name"] == body["name"]
    assert [e["segment_key"] for e in listed["179"]["event_types"]] == list("ABCD")
    assert listed["177"]["event_types"][0]["event_type_id"] == segment_types(calcom)["cb-177-a"]["id"]
    assert listed["41"]["event_types"] == []  # not composite

    again = admin.put(f"{SALON}/services/179", json=body)
    assert again.status_code == 200
    assert len(again.json()["event_types"]["unchanged"]) == 4


def snapshot(stack) -> dict[str, list]:
    dynamodb = stack.boto3_client("dynamodb")
    return {
        name: sorted(json.dumps(item, sort_keys=True) for item in dynamodb.scan(TableName=name)["Items"])
        for name in dynamodb.list_tables()["TableNames"]
    }


@pytest.mark.parametrize(
    ("service_id", "body", "field", "message"),
    [
        (
            "41",
            {"name": "Damenhaarschnitt", "duration": 45, "composite": True, "segments": []},
            "segments",
            "service 41: a composite service needs at least one segment",
        ),
        (
            "177",
            service_body("177", duration=100),
            "duration",
            "does not match its segments and gaps",
        ),
        ("177", service_body("177", service_id="178"), "service_id", "the URL names it ('177')"),
        ("177", service_body("177", staff_ids=["nobody"]), "staff_ids[0]", "unknown staff member 'nobody'"),
        ("177", service_body("177", colour="red"), "colour", "colour: Extra inputs are not permitted"),
        ("177", [1, 2], "body", "the body is a service"),
    ],
)
def test_put_refuses_an_invalid_service_and_writes_nothing(
    fresh, admin, calcom, service_id, body, field, message
):
    before = snapshot(fresh)
    calcom.delete("/_standin/requests").raise_for_status()

    response = admin.put(f"{SALON}/services/{service_id}", json=body)

    assert response.status_code == 400, response.text
    answer = response.json()
    assert answer["error"] == "invalid_request" and answer["field"] == field
    assert message in answer["message"]
    assert snapshot(fresh) == before
    assert calcom.get("/_standin/requests").json() == []


def test_service_routes_need_an_iam_identity_and_a_known_company(fresh, admin):
    body = service_body("177")
    assert httpx.put(f"{fresh.http_url}{SALON}/services/177", json=body).status_code == 403
    assert httpx.get(f"{fresh.http_url}{SALON}/services").status_code == 403
    unknown = admin.put("/admin/companies/no-such-salon/services/177", json=body)
    assert (unknown.status_code, unknown.json()["error"]) == (404, "unknown_company")
    assert admin.get("/admin/companies/no-such-salon/services").status_code == 404


def test_the_sample_events_answer_on_the_stack(fresh):
    events = ROOT / "events"
    put = fresh.invoke("AdminApiFunction", json.loads((events / "admin_put_service.json").read_text("utf-8")))
    assert put.json()["statusCode"] == 201
    listed = fresh.invoke(
        "AdminApiFunction", json.loads((events / "admin_list_services.json").read_text("utf-8"))
    )
    services = json.loads(listed.json()["body"])["services"]
    assert len(next(s for s in services if s["service_id"] == "179")["event_types"]) == 4

    report = provision(fresh, **json.loads((events / "event_type_provisioner.json").read_text("utf-8")))
    assert report["services"] == ["177"] and len(report["unchanged"]) == 4 and report["ok"]


def test_gap_event_types_follow_the_pause_policy(fresh, admin, calcom):
    """177 becomes blocked: its gap gets an event type, its segments a 5-minute slot interval;
    back to free: the gap entry is retired (the event type kept), nothing else is written."""
    calcom.delete("/_standin/requests").raise_for_status()

    blocked = admin.put(f"{SALON}/services/177", json=service_body("177", pause_policy="blocked"))

    assert blocked.status_code == 200, blocked.text
    report = blocked.json()["event_types"]
    assert keys(report["created"]) == ["177#gap-A"]
    assert keys(report["updated"]) == [f"177#{k}" for k in "ABCD"]
    assert {tuple(r["changes"]) for r in report["updated"]} == {("slot interval None -> 5",)}
    gap = segment_types(calcom)["cb-177-gap-a"]
    assert gap["title"] == "Ansatzfärbung, waschen, schneiden, föhnen - Pause nach Ansatzfärbung"
    assert (gap["lengthInMinutes"], gap["slotInterval"], gap["hidden"]) == (45, 5, True)
    assert event_map(fresh, "177")["177#gap-A"]["event_type_id"] == gap["id"]

    calcom.delete("/_standin/requests").raise_for_status()
    free = admin.put(f"{SALON}/services/177", json=service_body("177"))

    assert free.status_code == 200, free.text
    report = free.json()["event_types"]
    assert keys(report["removed"]) == ["177#gap-A"] and len(report["unchanged"]) == 4
    assert "pause policy free" in report["removed"][0]["detail"]
    assert writes(calcom) == []  # the slot interval is left as it is; the gap's event type is kept
    assert event_map(fresh, "177")["177#gap-A"]["sync_status"] == "removed"
    assert segment_types(calcom)["cb-177-gap-a"]["id"] == gap["id"]
