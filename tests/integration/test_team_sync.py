"""The per-company team sync on the local stack: moto's DynamoDB and the Cal.com stand-in over HTTP
(its control API changes the team, injects faults and shows every request it served).

Demo salon (local/fixtures/salon_demo.json): Cal.com team 39203 with Fabian (1420209, same e-mail
as his staff record, and his calcom_user_id is seeded), Emma (1420210, other e-mail, same name),
Lena "Muller" and Sara "Ozdemir" (umlauts dropped: fuzzy names, review candidates); team event types 3719001-3
(services 41, 43, 44) plus the 15 `cb-` booking event types the seed provisioned for Fabian, the
only staff member with a Cal.com user then (one per hold of each service he performs).
"""

from __future__ import annotations

import importlib
import time
from types import SimpleNamespace

import httpx
import pytest

SALON, TEAM = "salon-demo", 39203
FABIAN, EMMA, LENA, SARA = 1420209, 1420210, 1420211, 1420212
EVENT_TYPES = f"/v2/teams/{TEAM}/event-types"
TABLES = (
    "TeamMembersTable",
    "HostMappingsTable",
    "MappingAuditsTable",
    "HostReviewsTable",
    "StaffTable",
    "ServicesTable",
    "EventMapTable",
)
WRITES = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}


@pytest.fixture
def cb(fresh):
    """The calbridge modules the stack imported, and a team sync with a fresh Cal.com pacer."""
    wiring = importlib.import_module("calbridge.services.wiring")
    wiring.team_sync.cache_clear()
    modules = SimpleNamespace(
        wiring=wiring,
        errors=importlib.import_module("calbridge.errors"),
        models=importlib.import_module("calbridge.domain.models"),
        store=importlib.import_module("calbridge.adapters.store.repositories"),
        mappings=importlib.import_module("calbridge.adapters.store.host_mappings").HostMappingRepository(),
        reviews=importlib.import_module("calbridge.adapters.store.host_mappings").HostReviewRepository(),
        team=importlib.import_module("calbridge.adapters.store.team").TeamRepository(),
        event_map=importlib.import_module("calbridge.adapters.store.event_map").EventMapRepository(),
        stack=fresh,
    )
    yield modules
    wiring.team_sync.cache_clear()


@pytest.fixture
def calcom(fresh):
    """The stand-in: its Cal.com API (with the team admin's key) and its control API."""
    headers = {"Authorization": f"Bearer {fresh.standin.api_key}"}
    with httpx.Client(base_url=fresh.calcom_url, headers=headers, timeout=10) as client:
        yield client


def sync(cb, **kwargs):
    return cb.wiring.team_sync().sync_company(SALON, **kwargs)


def staff(cb) -> dict:
    return {m.staff_id: m for m in cb.store.StaffRepository().list(SALON, active_only=False)}


def services(cb) -> dict:
    return {s.service_id: s for s in cb.store.ServiceRepository().list(SALON, active_only=False)}


def mapping(cb, host_id):
    return cb.mappings.get(SALON, host_id)


def audits(cb, host_id) -> list:
    return sorted(cb.mappings.audits(SALON, f"host#{host_id}"), key=lambda a: a.changed_at)


def counts(cb) -> dict[str, int]:
    dynamodb = cb.stack.boto3_client("dynamodb")
    return {lid: dynamodb.scan(TableName=cb.stack.resources[lid], Select="COUNT")["Count"] for lid in TABLES}


def calcom_writes(calcom) -> list[tuple[str, str]]:
    log = calcom.get("/_standin/requests").raise_for_status().json()
    return [(r["method"], r["path"]) for r in log if r["method"] in ("POST", "PATCH", "DELETE")]


def event_types(calcom) -> dict[str, dict]:
    return {et["slug"]: et for et in calcom.get(EVENT_TYPES).raise_for_status().json()["data"]}


def new_event_type(calcom, slug: str, title: str, length: int, hosts: list[int]) -> dict:
    body = {
        "title": title,
        "slug": slug,
        "lengthInMinutes": length,
        "schedulingType": "roundRobin",
        "hosts": [{"userId": user_id} for user_id in hosts],
    }
    return calcom.post(EVENT_TYPES, json=body).raise_for_status().json()["data"]


def skipped(report) -> dict[str, str]:
    return {f"{s.kind}:{s.ref}": s.reason for s in report.skipped}


@pytest.fixture
def dynamodb_operations(monkeypatch):
    """Every DynamoDB operation calbridge sends while the test runs (PynamoDB's one entry point),
    but the permits every Cal.com request takes from the key's shared rate limit (ADR 0027)."""
    connection = importlib.import_module("pynamodb.connection.base").Connection
    original = connection._make_api_call
    operations: list[str] = []

    def counting(self, operation, *args, **kwargs):
        key = (args[0] if args else kwargs.get("operation_kwargs") or {}).get("Key") or {}
        if not key.get("lease_key", {}).get("S", "").startswith("ratelimit#"):
            operations.append(operation)
        return original(self, operation, *args, **kwargs)

    monkeypatch.setattr(connection, "_make_api_call", counting)
    return operations


# ------------------------------------------------------------------ first and second run


def test_first_sync_records_members_links_staff_and_imports_team_event_types(cb, calcom):
    beard = new_event_type(calcom, "bartpflege", "Bartpflege", 20, [FABIAN, EMMA])
    calcom.patch(f"{EVENT_TYPES}/3719003", json={"title": "Föhnen und Styling"}).raise_for_status()
    calcom.delete("/_standin/requests").raise_for_status()

    report = sync(cb)

    assert report.status == "ok", report
    assert (report.members_synced, report.members_new, report.members_changed) == (4, 4, 0)
    assert (report.mappings_created, report.review_candidates) == (2, 2)
    assert report.staff_linked == 1  # Emma; Fabian's calcom_user_id was seeded already
    assert (report.event_types_imported, report.services_created, report.services_updated) == (4, 1, 1)
    assert report.drift_found == 0 and report.drift == []
    # Booking event types: Emma's (services 41, 43, 44: linked now) and the new service's (Fabian,
    # Emma) created; Fabian's of the renamed service 44 retitled (calbridge's own change, not drift).
    assert report.event_types_provisioned == 6
    assert report.calcom_calls == 2 + 6  # one page of memberships, one listing of event types
    assert report.skipped == [] and report.errors == [] and report.not_done == []
    now = event_types(calcom)
    assert sorted(calcom_writes(calcom)) == [
        ("PATCH", f"{EVENT_TYPES}/{now[f'cb-44-a-u{FABIAN}']['id']}"),
        *[("POST", EVENT_TYPES)] * 5,
    ]
    assert now[f"cb-44-a-u{FABIAN}"]["title"] == "Föhnen und Styling (Fabian Spitzer)"
    assert now[f"cb-calcom-{beard['id']}-a-u{EMMA}"]["hosts"][0]["userId"] == EMMA

    team = cb.team.load(SALON)
    assert sorted(team.members) == [FABIAN, EMMA, LENA, SARA]
    fabian = team.members[FABIAN]
    assert (fabian.email, fabian.name, fabian.username, fabian.role, fabian.accepted, fabian.is_active) == (
        "fabian@askproai.de",
        "Fabian Spitzer",
        "fabianaskproai",
        "OWNER",
        True,
        True,
    )

    # Staff linked by e-mail (Fabian) and by name (Emma), each with its audit; Lena and Sara
    # (fuzzy names) wait for an admin.
    linked = {host: mapping(cb, host) for host in (FABIAN, EMMA)}
    assert (linked[FABIAN].staff_id, linked[FABIAN].source) == ("fabian-spitzer", "auto_email")
    assert (linked[EMMA].staff_id, linked[EMMA].source) == ("emma-williams", "auto_name")
    for host in (FABIAN, EMMA):
        trail = audits(cb, host)
        assert [(a.action, a.changed_by) for a in trail] == [("auto_matched", "calbridge:team-sync")]
    assert mapping(cb, LENA) is None and mapping(cb, SARA) is None
    assert {r.host_key for r in cb.reviews.list(SALON)} == {f"host#{LENA}", f"host#{SARA}"}
    people = staff(cb)
    assert (people["emma-williams"].calcom_user_id, people["emma-williams"].calcom_username) == (
        EMMA,
        "emmawilliams",
    )
    assert people["fabian-spitzer"].calcom_user_id == FABIAN
    assert people["lena-mueller"].calcom_user_id is None

    # Team event types -> services: found by event type id (41, 43, 44; 44 renamed), the new one
    # created with the hosts' staff; the cb- segment event types are not services.
    catalog = services(cb)
    assert catalog["44"].name == "Föhnen und Styling" and catalog["41"].name == "Damenhaarschnitt"
    created = catalog[f"calcom-{beard['id']}"]
    assert (created.name, created.duration, created.calcom_event_type_id, created.active) == (
        "Bartpflege",
        20,
        beard["id"],
        True,
    )
    assert created.staff_ids == ["emma-williams", "fabian-spitzer"]
    segment_ids = {et["id"] for slug, et in event_types(calcom).items() if slug.startswith("cb-")}
    assert len(segment_ids) == 15 + 5
    assert not segment_ids & {s.calcom_event_type_id for s in catalog.values()}
    assert len(catalog) == 7  # the fixture's six services and the new one
    assert sorted(team.event_types) == [3719001, 3719002, 3719003, beard["id"]]
    hosts = team.event_types[beard["id"]].hosts
    assert [(h.user_id, h.name, h.email) for h in hosts] == [
        (FABIAN, "Fabian Spitzer", "fabian@askproai.de"),
        (EMMA, "Emma Williams", "emma@askproai.de"),
    ]
    assert team.event_types[3719003].service_id == "44"


def test_a_second_sync_writes_nothing(cb, calcom, dynamodb_operations):
    new_event_type(calcom, "bartpflege", "Bartpflege", 20, [FABIAN, EMMA])
    first = sync(cb)
    assert first.status == "ok" and first.mappings_created == 2
    before = counts(cb)
    calcom.delete("/_standin/requests").raise_for_status()
    dynamodb_operations.clear()

    second = sync(cb)

    assert second.status == "ok", second
    assert (second.members_synced, second.event_types_imported) == (4, 4)
    for counter in (
        "members_new",
        "members_changed",
        "members_deactivated",
        "staff_linked",
        "staff_unlinked",
        "mappings_created",
        "mappings_updated",
        "mappings_deactivated",
        "services_created",
        "services_updated",
        "services_deactivated",
        "drift_found",
    ):
        assert getattr(second, counter) == 0, counter
    assert second.review_candidates == 2  # still waiting for an admin, not recorded again
    assert counts(cb) == before
    assert WRITES.isdisjoint(dynamodb_operations), dynamodb_operations
    assert calcom_writes(calcom) == []


# ------------------------------------------------------------------ members change in Cal.com


def test_a_member_gone_from_calcom_is_deactivated_with_their_mapping(cb, calcom):
    assert sync(cb).mappings_created == 2
    calcom.delete(f"/_standin/members/{EMMA}").raise_for_status()

    report = sync(cb)

    assert report.status == "ok", report
    assert (report.members_synced, report.members_deactivated, report.mappings_deactivated) == (3, 1, 1)
    assert report.staff_unlinked == 1
    emma = cb.team.load(SALON).members[EMMA]
    assert (emma.is_active, emma.deactivated_at is not None) == (False, True)  # kept, not deleted
    gone = mapping(cb, EMMA)
    assert (gone.staff_id, gone.is_active) == ("emma-williams", False)
    trail = audits(cb, EMMA)
    assert [a.action for a in trail] == ["auto_matched", "deleted"]
    assert trail[-1].changed_by == "calbridge:team-sync"
    assert f"{EMMA} is no longer a member of team {TEAM}" in trail[-1].reason
    assert staff(cb)["emma-williams"].calcom_user_id is None
    assert mapping(cb, FABIAN).is_active

    again = sync(cb)
    assert (again.members_deactivated, again.mappings_deactivated, again.staff_unlinked) == (0, 0, 0)
    assert len(audits(cb, EMMA)) == 2


def test_a_member_who_comes_back_is_linked_again(cb, calcom):
    sync(cb)
    member = calcom.delete(f"/_standin/members/{EMMA}")
    member.raise_for_status()
    sync(cb)
    calcom.post(
        "/_standin/members",
        json={
            "user_id": EMMA,
            "email": "emma@askproai.de",
            "name": "Emma Williams",
            "username": "emmawilliams",
        },
    ).raise_for_status()

    report = sync(cb)

    assert (report.members_changed, report.mappings_created, report.staff_linked) == (1, 1, 1)
    back = mapping(cb, EMMA)
    assert (back.is_active, back.staff_id, back.version) == (True, "emma-williams", 3)
    assert [a.action for a in audits(cb, EMMA)] == ["auto_matched", "deleted", "auto_matched"]
    assert cb.team.load(SALON).members[EMMA].is_active
    assert staff(cb)["emma-williams"].calcom_user_id == EMMA


def test_a_changed_email_in_calcom_refreshes_the_member_and_mapping_with_an_audit(cb, calcom):
    sync(cb)
    calcom.patch(
        f"/_standin/members/{FABIAN}", json={"email": "Fabian.Spitzer@askproai.de"}
    ).raise_for_status()

    report = sync(cb)

    assert (report.members_changed, report.mappings_updated, report.mappings_created) == (1, 1, 0)
    assert cb.team.load(SALON).members[FABIAN].email == "fabian.spitzer@askproai.de"
    refreshed = mapping(cb, FABIAN)
    assert (refreshed.staff_id, refreshed.calcom_email, refreshed.version) == (
        "fabian-spitzer",
        "fabian.spitzer@askproai.de",
        2,
    )
    trail = audits(cb, FABIAN)
    assert [a.action for a in trail] == ["auto_matched", "updated"]
    assert trail[-1].old_values["calcom_email"] == "fabian@askproai.de"
    assert trail[-1].new_values["calcom_email"] == "fabian.spitzer@askproai.de"
    assert trail[-1].reason == "Cal.com changed the host's e-mail"
    assert staff(cb)["fabian-spitzer"].calcom_user_id == FABIAN
    assert sync(cb).mappings_updated == 0


def test_a_new_member_links_to_staff_by_name_alone(cb, calcom):
    sync(cb)
    cb.store.StaffRepository().save(
        cb.models.StaffMember(
            company_id=SALON, staff_id="jonas-becker", name="Jonas Becker", email="jonas@salon-demo.de"
        )
    )
    calcom.post(
        "/_standin/members",
        json={"user_id": 1420300, "email": "jb@askproai.de", "name": "jonas  becker", "username": "jonasb"},
    ).raise_for_status()

    report = sync(cb)

    assert (report.members_new, report.mappings_created, report.staff_linked) == (1, 1, 1)
    linked = mapping(cb, 1420300)
    assert (linked.staff_id, linked.source, linked.confidence) == ("jonas-becker", "auto_name", 75)
    jonas = staff(cb)["jonas-becker"]
    assert (jonas.calcom_user_id, jonas.calcom_username) == (1420300, "jonasb")


# ------------------------------------------------------------------ segment event type drift


def test_drift_is_recorded_without_the_setting_and_repaired_with_it(cb, calcom):
    assert sync(cb).event_types_provisioned == 3  # Emma linked: her event types; now all is in step
    segments = event_types(calcom)
    a, b = segments[f"cb-177-a-u{FABIAN}"], segments[f"cb-177-b-u{FABIAN}"]
    calcom.patch(f"{EVENT_TYPES}/{a['id']}", json={"lengthInMinutes": 45, "hidden": False}).raise_for_status()
    hosts = [{"userId": FABIAN}, {"userId": EMMA}]
    calcom.patch(f"{EVENT_TYPES}/{b['id']}", json={"hosts": hosts}).raise_for_status()
    calcom.delete("/_standin/requests").raise_for_status()

    report = sync(cb)

    assert report.status == "ok", report
    assert (report.drift_found, report.drift_repaired, report.event_types_provisioned) == (2, 0, 0)
    assert report.drift == [
        "177#A (fabian-spitzer): drifted length 45 -> 30; hidden False -> True",
        f"177#B (fabian-spitzer): drifted hosts [{FABIAN}, {EMMA}] -> [{FABIAN}]",
    ]
    entries = {e.key: e for e in cb.event_map.list(SALON, "177")}
    a_key, b_key = f"177#A#{FABIAN}", f"177#B#{FABIAN}"
    assert (entries[a_key].sync_status, entries[b_key].sync_status) == ("drifted", "drifted")
    assert "length 45 -> 30" in entries[a_key].detail
    assert entries[a_key].length == 30  # what calbridge wrote, not what Cal.com has now
    assert entries[f"177#C#{FABIAN}"].sync_status == "synced"
    assert calcom_writes(calcom) == []  # recorded only
    assert event_types(calcom)[f"cb-177-a-u{FABIAN}"]["lengthInMinutes"] == 45
    assert sync(cb).drift_found == 2  # still drift: not taken for a change of ours

    company = cb.store.CompanyRepository().get(SALON)
    cb.store.CompanyRepository().save(company.model_copy(update={"sync_repair_drift": True}))
    calcom.delete("/_standin/requests").raise_for_status()

    repaired = sync(cb)

    assert (repaired.drift_found, repaired.drift_repaired) == (2, 2)
    assert repaired.drift[0].startswith("177#A (fabian-spitzer): repaired length 45 -> 30")
    now = event_types(calcom)
    assert (now[f"cb-177-a-u{FABIAN}"]["lengthInMinutes"], now[f"cb-177-a-u{FABIAN}"]["hidden"]) == (30, True)
    assert [h["userId"] for h in now[f"cb-177-b-u{FABIAN}"]["hosts"]] == [FABIAN]
    assert calcom_writes(calcom) == [
        ("PATCH", f"{EVENT_TYPES}/{a['id']}"),
        ("PATCH", f"{EVENT_TYPES}/{b['id']}"),
    ]
    entries = {e.key: e for e in cb.event_map.list(SALON, "177")}
    assert {entries[k].sync_status for k in (a_key, b_key)} == {"synced"}
    assert sync(cb).drift_found == 0


# ------------------------------------------------------------------ rate limit and deadline


@pytest.mark.parametrize(
    "throttle",
    [
        pytest.param(
            ("faults", [{"endpoint": f"GET {EVENT_TYPES}", "fault": "429", "reset_s": 1, "times": 1}]),
            id="429 fault",
        ),
        pytest.param(
            # Cal.com blocks a key for 60 s once it is over the limit; 1 s here, to keep the test short.
            ("rate-limit", {"enabled": True, "limit": 1, "window_s": 1, "block_s": 1}),
            id="limit 1 per second",
        ),
    ],
)
def test_cal_com_rate_limit_hit_mid_sync_is_waited_out(cb, calcom, throttle):
    path, body = throttle
    calcom.post(f"/_standin/{path}", json=body).raise_for_status()
    started = time.monotonic()

    report = sync(cb)

    assert report.status == "ok", report
    assert report.throttled >= 1
    assert report.calcom_calls == 2 + report.event_types_provisioned + report.throttled
    assert time.monotonic() - started >= 0.5
    assert (report.members_new, report.mappings_created, report.event_types_imported) == (4, 2, 3)


def test_a_deadline_reached_while_throttled_is_partial_and_writes_nothing(cb, calcom, dynamodb_operations):
    calcom.post(
        "/_standin/faults", json=[{"endpoint": f"GET {EVENT_TYPES}", "fault": "429", "reset_s": 30}]
    ).raise_for_status()
    before = counts(cb)
    dynamodb_operations.clear()

    report = sync(cb, deadline_s=2)

    assert report.status == "partial"
    assert report.not_done == ["members", "staff links", "team event types", "booking event types"]
    assert "Cal.com's rate limit" in report.errors[0] and "deadline" in report.errors[0]
    assert report.calcom_calls == 2 and report.throttled == 1
    assert counts(cb) == before
    # the only write: Cal.com's circuit breaker counting the 429 (ADR 0022)
    assert [op for op in dynamodb_operations if op in WRITES] == ["UpdateItem"]


def test_cal_com_unavailable_for_the_whole_run_raises_for_a_retry(cb, calcom):
    calcom.post(
        "/_standin/faults",
        json=[{"endpoint": f"GET /v2/teams/{TEAM}/memberships", "fault": "5xx", "status": 503}],
    ).raise_for_status()
    before = counts(cb)

    with pytest.raises(cb.errors.CalcomUnavailable):
        sync(cb)

    assert counts(cb) == before
    fired = calcom.get("/_standin/faults").json()[0]["fired"]
    assert fired == 3  # the first attempt and two retries of the GET


def test_event_types_unreadable_after_the_members_is_partial(cb, calcom):
    calcom.post(
        "/_standin/faults", json=[{"endpoint": f"GET {EVENT_TYPES}", "fault": "5xx", "status": 502}]
    ).raise_for_status()

    report = sync(cb)

    assert report.status == "partial"
    assert report.not_done == ["team event types", "booking event types"]
    assert report.members_new == 4 and report.mappings_created == 2
    assert report.errors and "event types" in report.errors[0]


# ------------------------------------------------------------------ bad input


def test_bad_input_is_skipped_with_reasons_and_nothing_half_written(cb, calcom):
    calcom.post(
        "/_standin/members",
        json={"user_id": 1420301, "email": "", "name": "Ohne Mail", "username": "ohnemail"},
    ).raise_for_status()
    listing = calcom.get(f"/v2/teams/{TEAM}/memberships").raise_for_status().json()["data"]
    fabian = next(m for m in listing if m["userId"] == FABIAN)
    calcom.post(
        "/_standin/memberships/extra",
        json=[
            {**fabian, "id": 9999},  # the same user listed twice
            {
                **fabian,
                "id": 9998,
                "userId": 1420302,
                "user": {**fabian["user"], "email": "EMMA@askproai.de"},
            },
            {
                **fabian,
                "id": 9997,
                "userId": 1420303,
                "accepted": False,
                "user": {"email": "neu@askproai.de", "name": "Neu Eingeladen", "username": "neu"},
            },
        ],
    ).raise_for_status()
    hostless = new_event_type(calcom, "ohne-gastgeber", "Ohne Gastgeber", 30, [])
    company = cb.store.CompanyRepository().get(SALON)
    assert company.calcom_team_id == TEAM

    report = sync(cb)

    assert report.status == "ok", report
    reasons = skipped(report)
    assert reasons["member:Cal.com user 1420301"] == "no e-mail address in Cal.com: not synced"
    assert "listed twice by Cal.com" in reasons[f"member:Cal.com user {FABIAN}"]
    assert reasons["member:Cal.com user 1420302"] == (
        f"same e-mail address as Cal.com user {EMMA}: only that user is synced"
    )
    assert reasons[f"event_type:event type {hostless['id']}"] == "no hosts: nobody can be booked on it"
    assert len(report.skipped) == 4
    assert report.members_synced == 5  # the four, and the pending invitation (recorded, not linked)
    team = cb.team.load(SALON)
    assert sorted(team.members) == [FABIAN, EMMA, LENA, SARA, 1420303]
    assert team.members[1420303].accepted is False and mapping(cb, 1420303) is None
    assert mapping(cb, 1420301) is None and mapping(cb, 1420302) is None
    assert hostless["id"] not in team.event_types
    assert not any(s.calcom_event_type_id == hostless["id"] for s in services(cb).values())


def test_a_company_without_a_team_id_is_skipped(cb, calcom):
    company = cb.store.CompanyRepository().get(SALON)
    cb.store.CompanyRepository().save(company.model_copy(update={"calcom_team_id": None}))
    calcom.delete("/_standin/requests").raise_for_status()
    before = counts(cb)

    report = sync(cb)

    assert report.status == "skipped"
    assert skipped(report) == {
        f"company:{SALON}": "no Cal.com team (calcom_team_id is not set): nothing to sync"
    }
    assert report.calcom_calls == 0 and calcom.get("/_standin/requests").json() == []
    assert counts(cb) == before


def test_an_unknown_company_is_skipped(cb):
    report = cb.wiring.team_sync().sync_company("no-such-company")
    assert report.status == "skipped" and skipped(report) == {"company:no-such-company": "unknown company"}


def test_an_event_type_deleted_in_calcom_deactivates_its_mapping_and_service(cb, calcom):
    beard = new_event_type(calcom, "bartpflege", "Bartpflege", 20, [FABIAN])
    assert sync(cb).services_created == 1
    calcom.delete(f"{EVENT_TYPES}/{beard['id']}").raise_for_status()

    report = sync(cb)

    assert (report.event_types_removed, report.services_deactivated, report.event_types_imported) == (1, 1, 3)
    assert services(cb)[f"calcom-{beard['id']}"].active is False
    assert cb.team.load(SALON).event_types[beard["id"]].is_active is False
    assert sync(cb).services_deactivated == 0


def test_a_team_cal_com_refuses_fails_the_run_without_writing(cb, calcom):
    company = cb.store.CompanyRepository().get(SALON)
    cb.store.CompanyRepository().save(company.model_copy(update={"calcom_team_id": 4242}))
    before = counts(cb)

    report = sync(cb)

    assert report.status == "failed"
    assert report.errors[0].startswith("Cal.com refused the team's memberships:")
    assert "4242" in report.errors[0]
    assert report.not_done == ["members", "staff links", "team event types", "booking event types"]
    assert report.calcom_calls == 1 and counts(cb) == before


def test_staff_links_keep_an_admins_edit_made_during_the_sync(cb):
    """The sync writes only the Cal.com fields: what an admin changed meanwhile stays, and a staff
    member deleted meanwhile is not brought back."""
    repo = cb.store.StaffRepository()
    read_by_sync = staff(cb)["emma-williams"]
    repo.save(read_by_sync.model_copy(update={"name": "Emma Williams-Klein", "email": "emma@salon.example"}))
    gone = read_by_sync.model_copy(update={"staff_id": "deleted-meanwhile"})

    skipped = repo.set_calcom_links(
        [read_by_sync.model_copy(update={"calcom_user_id": 1420210, "calcom_username": "emmaw"}), gone]
    )

    assert skipped == ["deleted-meanwhile"]
    emma = staff(cb)["emma-williams"]
    assert (emma.name, emma.email) == ("Emma Williams-Klein", "emma@salon.example")
    assert (emma.calcom_user_id, emma.calcom_username) == (1420210, "emmaw")
    assert "deleted-meanwhile" not in staff(cb)

    repo.set_calcom_links([emma.model_copy(update={"calcom_user_id": None, "calcom_username": None})])
    emma = staff(cb)["emma-williams"]
    assert (emma.calcom_user_id, emma.calcom_username) == (None, None)
    assert emma.name == "Emma Williams-Klein"
