"""Booking event types on the local stack: the provisioner Lambda and the admin route against the
Cal.com stand-in over HTTP (its control API injects faults and shows every request it served).

Demo salon (local/fixtures/salon_demo.json): simple services 41, 43, 44, composite services 177
(4 segments), 178 (4) and 42 (3, pause policy blocked: plus a gap event type for each of its 2
gaps). Only Fabian (Cal.com user 1420209) has a known Cal.com user, so the seed provisioned his
15 event types (one per hold of each service he performs: 41, 44, 177, 178, 42); Emma, Lena and
Sara (listed for some services) are warnings until they are linked. Every test starts from the
seeded salon (`fresh`); `blank` takes the event types away.
"""

from __future__ import annotations

import copy
import importlib
import json
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from tests.helpers import link_staff

ROOT = Path(__file__).parents[2]
FIXTURE = json.loads((ROOT / "local" / "fixtures" / "salon_demo.json").read_text(encoding="utf-8"))
SERVICES = {s["service_id"]: s for s in FIXTURE["services"]}
IDENTITY = {"x-calbridge-local-identity": "arn:aws:iam::123456789012:user/admin"}
SALON = "/admin/companies/salon-demo"
TEAM, FABIAN, EMMA = 39203, 1420209, 1420210
EVENT_TYPES = f"/v2/teams/{TEAM}/event-types"
FABIANS_HOLDS = {"41": ["A"], "44": ["A"], "177": list("ABCD"), "178": list("ABCD"),
                 "42": ["A", "B", "C", "gap-A", "gap-B"]}  # fmt: skip
QUIET = {"disableEmailsToAttendees": True, "disableEmailsToHosts": True}


def slug(service_id: str, key: str, user: int = FABIAN) -> str:
    return f"cb-{service_id}-{key.lower()}-u{user}"


def entry_key(service_id: str, key: str, user: int = FABIAN) -> str:
    return f"{service_id}#{key}#{user}"


SLUGS = {slug(service_id, key) for service_id, keys in FABIANS_HOLDS.items() for key in keys}


# ------------------------------------------------------------------ fixtures and helpers


@pytest.fixture
def admin(fresh):
    with httpx.Client(base_url=fresh.http_url, headers=IDENTITY, timeout=30) as client:
        yield client


@pytest.fixture
def calcom(fresh):
    """The stand-in: its Cal.com API (with the team admin's key) and its control API."""
    headers = {"Authorization": f"Bearer {fresh.standin.api_key}", "cal-api-version": "2024-06-14"}
    with httpx.Client(base_url=fresh.calcom_url, headers=headers, timeout=10) as client:
        yield client


@pytest.fixture
def blank(fresh, calcom):
    """The seeded salon before any provisioning: no booking event types, an empty event map."""
    calcom.post("/_standin/reset").raise_for_status()
    dynamodb, table = fresh.boto3_client("dynamodb"), fresh.resources["EventMapTable"]
    for item in dynamodb.scan(TableName=table)["Items"]:
        dynamodb.delete_item(TableName=table, Key={k: item[k] for k in ("company_id", "map_key")})
    assert ours(calcom) == {}
    return fresh


def provision(stack, **event) -> dict:
    result = stack.invoke("EventTypeProvisionerFunction", {"company_id": "salon-demo", **event})
    assert result.function_error is None, result.payload
    return result.json()


def ours(calcom) -> dict[str, dict]:
    """The team's calbridge-made event types by slug."""
    listed = calcom.get(EVENT_TYPES).raise_for_status().json()["data"]
    return {et["slug"]: et for et in listed if et["slug"].startswith("cb-")}


def requests(calcom, method: str | None = None) -> list[dict]:
    log = calcom.get("/_standin/requests").raise_for_status().json()
    return [r for r in log if method is None or r["method"] == method]


def writes(calcom) -> list[tuple[str, str]]:
    """Every write the stand-in served since its request log was last cleared."""
    return [(r["method"], r["path"]) for r in requests(calcom) if r["method"] in ("POST", "PATCH", "DELETE")]


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


def test_first_provisioning_creates_one_hidden_one_host_event_type_per_hold_and_staff_member(blank, calcom):
    report = provision(blank)

    assert report["ok"] and report["errors"] == [] and report["failed"] == []
    assert report["services"] == ["177", "178", "41", "42", "43", "44"]
    assert sorted(keys(report["created"])) == sorted(
        f"{service_id}#{key}" for service_id, hold_keys in FABIANS_HOLDS.items() for key in hold_keys
    )
    assert {r["staff_id"] for r in report["created"]} == {"fabian-spitzer"}
    for who in ("emma-williams", "lena-mueller", "sara-oezdemir"):
        assert any(who in w and "not bookable until linked" in w for w in report["warnings"]), who
    assert any(w.startswith("service 43: nobody can be booked") for w in report["warnings"])
    assert any("emailSettings" in w for w in report["warnings"])  # not an organization's team

    created = ours(calcom)
    assert set(created) == SLUGS
    entries = event_map(blank)
    for service_id, hold_keys in FABIANS_HOLDS.items():
        for key in hold_keys:
            et = created[slug(service_id, key)]
            assert et["hidden"] is True and et["schedulingType"] == "collective"
            assert [h["userId"] for h in et["hosts"]] == [FABIAN]
            assert et["minimumBookingNotice"] == 120  # the company's notice, set explicitly
            entry = entries[entry_key(service_id, key)]
            assert (entry["event_type_id"], entry["sync_status"], entry["staff_id"]) == (
                et["id"],
                "synced",
                "fabian-spitzer",
            )
            assert (entry["slug"], entry["title"], entry["length"], entry["minimum_notice"]) == (
                et["slug"],
                et["title"],
                et["lengthInMinutes"],
                120,
            )
    colour = SERVICES["177"]
    assert created[slug("177", "A")]["title"] == f"{colour['name']} - Ansatzfärbung (Fabian Spitzer)"
    assert created[slug("177", "A")]["lengthInMinutes"] == colour["segments"][0]["duration"]
    assert created[slug("41", "A")]["title"] == "Damenhaarschnitt (Fabian Spitzer)"
    assert created[slug("41", "A")]["lengthInMinutes"] == SERVICES["41"]["duration"]
    assert created[slug("42", "B")]["lengthInMinutes"] == 60

    segments_42 = {s["key"]: s for s in SERVICES["42"]["segments"]}
    for key in ("A", "B"):  # the gaps of service 42 (blocked): A -> 10 min, B -> 15 min
        et = created[slug("42", f"gap-{key}")]
        assert et["title"] == f"Herrenhaarschnitt - Pause nach {segments_42[key]['name']} (Fabian Spitzer)"
        assert et["lengthInMinutes"] == segments_42[key]["gap_after"]
    # A composite's later holds start where the ones before end, off Cal.com's grid of their own
    # length: they offer a start every 5 minutes (a blocked service's first hold too). A first hold
    # and a simple service keep Cal.com's default, the event length.
    assert {created[s]["slotInterval"] for s in SLUGS if s.startswith("cb-42-")} == {5}
    later = {slug(service_id, key) for service_id in ("177", "178") for key in "BCD"}
    assert {created[s]["slotInterval"] for s in later} == {5}
    firsts = {slug(service_id, "A") for service_id in ("41", "44", "177", "178")}
    assert {created[s]["slotInterval"] for s in firsts} == {None}

    # E-mails: only an appointment's first hold may mail; the others ask Cal.com for none.
    bodies = {r["body"]["slug"]: r["body"] for r in requests(calcom, "POST")}
    assert "emailSettings" not in bodies[slug("177", "A")]
    assert {bodies[slug("177", k)]["emailSettings"] == QUIET for k in "BCD"} == {True}
    assert "emailSettings" not in bodies[slug("41", "A")]


def test_the_demo_seed_provisions_through_the_provisioner(fresh, calcom):
    assert set(ours(calcom)) == SLUGS
    entries = event_map(fresh)
    assert len(entries) == 15 and {e["sync_status"] for e in entries.values()} == {"synced"}


def test_a_second_run_changes_nothing(fresh, calcom):
    before = event_map(fresh)
    calcom.delete("/_standin/requests").raise_for_status()

    report = provision(fresh)

    assert len(report["unchanged"]) == 15
    assert report["created"] == report["updated"] == report["repaired"] == report["failed"] == []
    assert writes(calcom) == []  # no POST, PATCH or DELETE reached Cal.com
    assert event_map(fresh) == before  # not even updated_at was rewritten


def test_a_staff_member_linked_later_gets_their_own_event_types(fresh, calcom):
    link_staff("emma-williams", EMMA, provision=False)  # the test provisions
    calcom.delete("/_standin/requests").raise_for_status()

    report = provision(fresh)

    assert sorted(keys(report["created"])) == ["41#A", "43#A", "44#A"]  # what Emma performs
    assert {r["staff_id"] for r in report["created"]} == {"emma-williams"}
    assert len(report["unchanged"]) == 15 and writes(calcom) == [("POST", EVENT_TYPES)] * 3
    emmas = ours(calcom)[slug("43", "A", EMMA)]
    assert [h["userId"] for h in emmas["hosts"]] == [EMMA] and emmas[
        "title"
    ] == "Kinderhaarschnitt (Emma Williams)"
    assert event_map(fresh, "43")[entry_key("43", "A", EMMA)]["event_type_id"] == emmas["id"]


def test_a_changed_segment_duration_patches_every_staff_members_event_type(fresh, admin, calcom):
    link_staff("lena-mueller", 1420211)  # and her event types of 177 and the others
    calcom.delete("/_standin/requests").raise_for_status()
    segments = copy.deepcopy(SERVICES["177"]["segments"])
    segments[2]["duration"] = 40  # C: 30 -> 40 minutes

    response = admin.put(f"{SALON}/services/177", json=service_body("177", duration=160, segments=segments))

    assert response.status_code == 200, response.text
    report = response.json()["event_types"]
    assert sorted((r["segment_key"], r["staff_id"]) for r in report["updated"]) == [
        ("C", "fabian-spitzer"),
        ("C", "lena-mueller"),
    ]
    assert {tuple(r["changes"]) for r in report["updated"]} == {("length 30 -> 40",)}
    assert report["repaired"] == [] and len(report["unchanged"]) == 6
    fabians = ours(calcom)[slug("177", "C")]
    assert fabians["lengthInMinutes"] == 40
    patches = requests(calcom, "PATCH")
    assert len(patches) == 2 and all(
        p["body"] == {"lengthInMinutes": 40, "emailSettings": QUIET} for p in patches
    )
    entry = event_map(fresh, "177")[entry_key("177", "C")]
    assert (entry["length"], entry["sync_status"], entry["event_type_id"]) == (40, "synced", fabians["id"])
    assert entry["detail"] == "updated: length 30 -> 40"


def test_drift_made_in_calcom_is_seen_by_a_check_and_repaired_by_the_next_run(fresh, calcom):
    event_type = ours(calcom)[slug("178", "B")]
    calcom.patch(
        f"{EVENT_TYPES}/{event_type['id']}",
        json={"lengthInMinutes": 25, "hidden": False, "hosts": [{"userId": EMMA}], "minimumBookingNotice": 0},
    ).raise_for_status()
    calcom.delete("/_standin/requests").raise_for_status()

    check = provision(fresh, service_id="178", repair=False)
    assert keys(check["drifted"]) == ["178#B"]
    assert check["drifted"][0]["changes"] == [
        "length 25 -> 15",
        "hidden False -> True",
        "minimum notice 0 -> 120 min",
        f"hosts [{EMMA}] -> [{FABIAN}]",
    ]
    assert writes(calcom) == []
    assert event_map(fresh, "178")[entry_key("178", "B")]["sync_status"] == "drifted"

    repaired = provision(fresh)
    assert keys(repaired["repaired"]) == ["178#B"] and repaired["updated"] == []
    assert len(repaired["unchanged"]) == 14
    event_type = ours(calcom)[slug("178", "B")]
    assert (event_type["lengthInMinutes"], event_type["hidden"], event_type["minimumBookingNotice"]) == (
        15,
        True,
        120,
    )
    assert [h["userId"] for h in event_type["hosts"]] == [FABIAN]
    assert event_map(fresh, "178")[entry_key("178", "B")]["sync_status"] == "synced"


def test_a_calcom_503_fails_that_event_type_only_and_a_rerun_fixes_it(blank, calcom):
    calcom.post(
        "/_standin/faults",
        json=[{"endpoint": f"POST {EVENT_TYPES}", "fault": "5xx", "status": 503, "nth": 2}],
    ).raise_for_status()

    report = provision(blank)

    assert keys(report["failed"]) == ["177#B"]  # the second create of the run
    assert report["failed"][0]["detail"].startswith("Cal.com: ")
    assert len(report["created"]) == 14 and not report["ok"]
    assert slug("177", "B") not in ours(calcom)
    entry = event_map(blank, "177")[entry_key("177", "B")]
    assert entry["sync_status"] == "failed" and entry["event_type_id"] is None
    assert entry["detail"] == report["failed"][0]["detail"]

    rerun = provision(blank)

    assert keys(rerun["created"]) == ["177#B"] and len(rerun["unchanged"]) == 14 and rerun["ok"]
    assert set(ours(calcom)) == SLUGS
    assert event_map(blank, "177")[entry_key("177", "B")]["sync_status"] == "synced"


def test_concurrent_runs_create_every_event_type_once(blank, calcom):
    provisioner = importlib.import_module("calbridge.services.wiring").event_type_provisioner()
    with ThreadPoolExecutor(max_workers=2) as pool:
        reports = list(pool.map(lambda _: provisioner.provision("salon-demo"), range(2)))

    assert all(r.ok for r in reports), [r.summary() for r in reports]
    assert sum(len(r.created) for r in reports) == 15  # each event type was created by one run
    assert sorted(ours(calcom)) == sorted(SLUGS)
    assert {e["sync_status"] for e in event_map(blank).values()} == {"synced"}


@pytest.mark.parametrize(
    ("staff_ids", "named"),
    [(["emma-williams", "sara-oezdemir"], "emma-williams, sara-oezdemir"), ([], "nobody is listed")],
)
def test_a_service_nobody_can_host_creates_nothing_and_says_why(fresh, admin, calcom, staff_ids, named):
    calcom.delete("/_standin/requests").raise_for_status()
    body = service_body("177", name="Balayage", staff_ids=staff_ids)

    response = admin.put(f"{SALON}/services/180", json=body)

    assert response.status_code == 201, response.text
    report = response.json()["event_types"]
    assert report["created"] == report["failed"] == []
    [warning] = [w for w in report["warnings"] if w.startswith("service 180: nobody can be booked")]
    assert named in warning and "calcom_user_id" in warning
    assert writes(calcom) == []
    assert event_map(fresh, "180") == {}


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
        "company salon-noteam has no Cal.com team (calcom_team_id is not set): booking event types "
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
    kept = ours(calcom)[slug("42", "C")]
    assert kept["hidden"] is True  # kept in Cal.com: bookings made on it stay valid
    entry = event_map(fresh, "42")[entry_key("42", "C")]
    assert entry["sync_status"] == "removed" and entry["event_type_id"] == kept["id"]
    assert "kept, hidden" in entry["detail"]

    back = admin.put(f"{SALON}/services/42", json=service_body("42"))  # C comes back: reused by slug

    assert keys(back.json()["event_types"]["unchanged"]) == ["42#A", "42#B", "42#C", "42#gap-A", "42#gap-B"]
    assert event_map(fresh, "42")[entry_key("42", "C")]["sync_status"] == "synced"
    assert ours(calcom)[slug("42", "C")]["id"] == kept["id"]


def test_the_shared_event_types_of_before_are_retired_once(fresh, calcom):
    """An event map from before ADR 0013 (one round-robin event type per segment, all its staff as
    hosts): provisioning retires those entries, keeps their event types (bookings made on them
    stay cancellable) and books on the one-host event types from then on; a second run is a no-op."""
    legacy = calcom.post(
        EVENT_TYPES,
        json={"title": "Ansatzfärbung - Ansatzfärbung", "slug": "cb-177-a", "lengthInMinutes": 30,
              "schedulingType": "roundRobin", "hidden": True,
              "hosts": [{"userId": FABIAN}, {"userId": EMMA}]},
    ).raise_for_status().json()["data"]  # fmt: skip
    models = importlib.import_module("calbridge.domain.event_types")
    repository = importlib.import_module("calbridge.adapters.store.event_map").EventMapRepository()
    repository.save_many(
        [
            models.EventMapEntry(
                company_id="salon-demo", service_id="177", segment_key="A", event_type_id=legacy["id"],
                slug="cb-177-a", title=legacy["title"], length=30, sync_status="synced",
                updated_at=datetime(2026, 1, 1, tzinfo=UTC),
            )
        ]
    )  # fmt: skip
    calcom.delete("/_standin/requests").raise_for_status()

    report = provision(fresh)

    [retired] = report["removed"]
    assert (retired["segment_key"], retired["host_user_id"], retired["event_type_id"]) == (
        "A",
        None,
        legacy["id"],
    )
    assert "replaced by one event type per staff member (ADR 0013)" in retired["detail"]
    assert event_map(fresh, "177")["177#A"]["sync_status"] == "removed"
    assert writes(calcom) == []  # kept in Cal.com, untouched
    assert ours(calcom)["cb-177-a"]["id"] == legacy["id"]
    assert provision(fresh)["removed"] == []


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
    created = ours(calcom)
    assert (
        created[slug("179", "A")]["title"]
        == "Strähnen, waschen, schneiden, föhnen - Strähnen (Fabian Spitzer)"
    )
    assert [h["userId"] for h in created[slug("179", "A")]["hosts"]] == [FABIAN]
    assert [e["sync_status"] for e in answer["service"]["event_types"]] == ["synced"] * 4

    listed = {s["service_id"]: s for s in admin.get(f"{SALON}/services").json()["services"]}
    assert listed["179"]["name"] == body["name"]
    assert [e["segment_key"] for e in listed["179"]["event_types"]] == list("ABCD")
    assert listed["177"]["event_types"][0]["event_type_id"] == ours(calcom)[slug("177", "A")]["id"]
    assert [(e["segment_key"], e["staff_id"]) for e in listed["41"]["event_types"]] == [
        ("A", "fabian-spitzer")
    ]

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
    """177 becomes blocked: its gap gets an event type, its first segment a 5-minute slot interval
    too; back to free: the gap entry is retired (the event type kept), nothing else is written."""
    calcom.delete("/_standin/requests").raise_for_status()

    blocked = admin.put(f"{SALON}/services/177", json=service_body("177", pause_policy="blocked"))

    assert blocked.status_code == 200, blocked.text
    report = blocked.json()["event_types"]
    assert keys(report["created"]) == ["177#gap-A"]
    assert keys(report["updated"]) == ["177#A"]  # B, C and D step by 5 minutes already
    assert report["updated"][0]["changes"] == ["slot interval None -> 5"]
    gap = ours(calcom)[slug("177", "gap-A")]
    assert (
        gap["title"]
        == "Ansatzfärbung, waschen, schneiden, föhnen - Pause nach Ansatzfärbung (Fabian Spitzer)"
    )
    assert (gap["lengthInMinutes"], gap["slotInterval"], gap["hidden"]) == (45, 5, True)
    assert event_map(fresh, "177")[entry_key("177", "gap-A")]["event_type_id"] == gap["id"]

    calcom.delete("/_standin/requests").raise_for_status()
    free = admin.put(f"{SALON}/services/177", json=service_body("177"))

    assert free.status_code == 200, free.text
    report = free.json()["event_types"]
    assert keys(report["removed"]) == ["177#gap-A"] and len(report["unchanged"]) == 4
    assert "left service 177" in report["removed"][0]["detail"]
    assert writes(calcom) == []  # the slot interval is left as it is; the gap's event type is kept
    assert event_map(fresh, "177")[entry_key("177", "gap-A")]["sync_status"] == "removed"
    assert ours(calcom)[slug("177", "gap-A")]["id"] == gap["id"]
