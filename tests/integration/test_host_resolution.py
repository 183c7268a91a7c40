"""Host resolution on the local stack's DynamoDB: mappings, audits, races, tenancy, reviews."""

from __future__ import annotations

import importlib
import json
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import pytest

FABIAN_HOST = {
    "id": 1420209,
    "name": "Fabian Spitzer",
    "email": "fabian@askproai.de",
    "username": "fabianaskproai",
}
EMMA_HOST = {"id": 1420210, "name": "Emma Williams", "email": "emma@askproai.de", "username": "emmawilliams"}
LENA_HOST = {"id": 1420211, "name": "Lena Mueller", "email": "lena@askproai.de", "username": "lenamueller"}
# The same profile typed without the umlaut: "Muller" is another surname, so only a fuzzy match.
LENA_MULLER_HOST = {**LENA_HOST, "name": "Lena Muller"}


@pytest.fixture
def cb(fresh):
    """The calbridge modules the stack imported at start (a cold start), and a fresh resolver."""
    modules = SimpleNamespace(
        hosts=importlib.import_module("calbridge.domain.hosts"),
        models=importlib.import_module("calbridge.domain.models"),
        errors=importlib.import_module("calbridge.errors"),
        store=importlib.import_module("calbridge.adapters.store.repositories"),
        mapping_store=importlib.import_module("calbridge.adapters.store.host_mappings"),
        service=importlib.import_module("calbridge.services.host_resolution"),
    )
    modules.resolver = make_resolver(modules, cache_ttl_s=0)
    return modules


def make_resolver(cb, cache_ttl_s: float):
    return cb.service.HostResolver(
        cb.store.CompanyRepository(),
        cb.store.StaffRepository(),
        cb.mapping_store.HostMappingRepository(),
        cb.mapping_store.HostReviewRepository(),
        cb.mapping_store.AppointmentRepository(),
        cache_ttl_s=cache_ttl_s,
    )


def host(cb, data):
    return cb.hosts.HostRef.from_calcom(data)


def audits(cb, company_id, host_id):
    return cb.mapping_store.HostMappingRepository().audits(company_id, f"host#{host_id}")


def test_email_match_links_and_writes_one_auto_matched_audit(cb):
    first = cb.resolver.resolve("salon-demo", host(cb, FABIAN_HOST))
    assert (first.staff_id, first.outcome, first.strategy, first.confidence) == (
        "fabian-spitzer",
        "linked",
        "auto_email",
        95,
    )
    assert first.mapping_created
    trail = audits(cb, "salon-demo", 1420209)
    assert [a.action for a in trail] == ["auto_matched"]
    assert trail[0].new_values["staff_id"] == "fabian-spitzer" and trail[0].old_values is None

    again = cb.resolver.resolve("salon-demo", host(cb, FABIAN_HOST))
    assert (again.staff_id, again.outcome, again.strategy) == (
        "fabian-spitzer",
        "existing",
        "existing_mapping",
    )
    assert len(audits(cb, "salon-demo", 1420209)) == 1, "reading a mapping writes no audit"


def test_exact_name_links_when_emails_differ(cb):
    result = cb.resolver.resolve("salon-demo", host(cb, EMMA_HOST))
    assert (result.staff_id, result.strategy, result.confidence) == ("emma-williams", "auto_name", 75)


def test_a_name_written_without_umlauts_is_an_exact_name_link(cb):
    result = cb.resolver.resolve("salon-demo", host(cb, LENA_HOST))  # "Lena Mueller" is "Lena Müller"
    assert (result.staff_id, result.strategy, result.confidence) == ("lena-mueller", "auto_name", 75)


def test_below_threshold_is_a_review_candidate_not_a_link(cb):
    result = cb.resolver.resolve("salon-demo", host(cb, LENA_MULLER_HOST))  # fuzzy: 74
    assert result.staff_id is None and result.outcome == "review"
    assert cb.mapping_store.HostMappingRepository().get("salon-demo", 1420211) is None
    reviews = cb.mapping_store.HostReviewRepository().list("salon-demo", kind="review")
    assert [r.host.id for r in reviews] == [1420211]
    assert reviews[0].candidates[0].staff_id == "lena-mueller"
    assert reviews[0].candidates[0].confidence < 75


def test_company_threshold_lets_strong_fuzzy_matches_link(cb):
    company = cb.store.CompanyRepository().get("salon-demo")
    cb.store.CompanyRepository().save(company.model_copy(update={"host_match_threshold": 70}))
    result = cb.resolver.resolve("salon-demo", host(cb, LENA_MULLER_HOST))
    assert (result.staff_id, result.strategy) == ("lena-mueller", "auto_fuzzy")


def test_unknown_host_is_recorded_as_unmapped(cb):
    result = cb.resolver.resolve("salon-demo", host(cb, {"id": 555, "name": "Nobody Known"}))
    assert (result.staff_id, result.outcome) == (None, "unmatched")
    unmapped = cb.mapping_store.HostReviewRepository().list("salon-demo", kind="unmapped")
    assert [r.host.id for r in unmapped] == [555]
    cb.resolver.resolve("salon-demo", host(cb, {"id": 555, "name": "Nobody Known"}))
    assert cb.mapping_store.HostReviewRepository().list("salon-demo", kind="unmapped")[0].seen_count == 2


def test_concurrent_first_resolutions_create_exactly_one_mapping(cb):
    resolvers = [make_resolver(cb, cache_ttl_s=0) for _ in range(12)]
    with ThreadPoolExecutor(max_workers=12) as pool:
        results = list(pool.map(lambda r: r.resolve("salon-demo", host(cb, FABIAN_HOST)), resolvers))
    assert {r.staff_id for r in results} == {"fabian-spitzer"}
    assert sum(r.mapping_created for r in results) == 1
    assert [a.action for a in audits(cb, "salon-demo", 1420209)] == ["auto_matched"]
    assert len(cb.mapping_store.HostMappingRepository().list("salon-demo")) == 1


def test_mapping_to_an_inactive_staff_member_is_deactivated_and_resolution_goes_on(cb):
    cb.resolver.resolve("salon-demo", host(cb, FABIAN_HOST))
    staff = cb.store.StaffRepository()
    staff.save(staff.get("salon-demo", "fabian-spitzer").model_copy(update={"active": False}))

    result = cb.resolver.resolve("salon-demo", host(cb, FABIAN_HOST))
    assert result.staff_id is None  # Fabian is inactive and nobody else fits
    mapping = cb.mapping_store.HostMappingRepository().get("salon-demo", 1420209)
    assert mapping.is_active is False and mapping.version == 2
    trail = audits(cb, "salon-demo", 1420209)
    assert [a.action for a in trail] == ["auto_matched", "deleted"]
    assert "inactive" in trail[1].reason

    staff.save(staff.get("salon-demo", "fabian-spitzer").model_copy(update={"active": True}))
    relinked = cb.resolver.resolve("salon-demo", host(cb, FABIAN_HOST))
    assert relinked.staff_id == "fabian-spitzer" and relinked.mapping_created
    assert [a.action for a in audits(cb, "salon-demo", 1420209)] == [
        "auto_matched",
        "deleted",
        "auto_matched",
    ]
    assert cb.mapping_store.HostMappingRepository().get("salon-demo", 1420209).version == 3


def test_manual_override_beats_every_automatic_strategy_afterwards(cb):
    cb.resolver.resolve("salon-demo", host(cb, FABIAN_HOST))
    cb.resolver.override(
        "salon-demo", host(cb, FABIAN_HOST), "lena-mueller", "admin-alice", "Fabian's calendar is Lena's"
    )
    result = cb.resolver.resolve("salon-demo", host(cb, FABIAN_HOST))
    assert (result.staff_id, result.outcome, result.source) == ("lena-mueller", "existing", "manual")
    trail = audits(cb, "salon-demo", 1420209)
    assert [a.action for a in trail] == ["auto_matched", "manual_override"]
    assert (
        trail[1].old_values["staff_id"] == "fabian-spitzer"
        and trail[1].new_values["staff_id"] == "lena-mueller"
    )
    assert trail[1].changed_by == "admin-alice"


def test_manual_rule_by_email_links_with_priority_200(cb):
    cb.resolver.add_rule(
        "salon-demo", "email", "LENA@askproai.de", "lena-mueller", "admin-alice", "known alias"
    )
    result = cb.resolver.resolve("salon-demo", host(cb, LENA_HOST))
    assert (result.staff_id, result.strategy, result.confidence) == ("lena-mueller", "manual", 100)


def test_a_host_mapped_in_one_company_never_resolves_to_anothers_staff(cb):
    models = cb.models
    cb.store.CompanyRepository().save(
        models.Company(
            company_id="salon-two",
            name="Salon Two",
            timezone="Europe/Berlin",
            branches=[{"branch_id": "main", "name": "Main", "phone_numbers": ["+4940555555"]}],
        )
    )
    # Same e-mail in the other company: still only that company's own staff member.
    cb.store.StaffRepository().save(
        models.StaffMember(
            company_id="salon-two", staff_id="f-two", name="Fabian Zwei", email="fabian@askproai.de"
        )
    )
    demo = cb.resolver.resolve("salon-demo", host(cb, FABIAN_HOST))
    two = cb.resolver.resolve("salon-two", host(cb, FABIAN_HOST))
    assert (demo.staff_id, two.staff_id) == ("fabian-spitzer", "f-two")
    assert cb.mapping_store.HostMappingRepository().get("salon-two", 1420209).staff_id == "f-two"

    # A mapping whose staff id does not exist in this company is invalid there.
    cb.resolver.override("salon-demo", host(cb, EMMA_HOST), "emma-williams", "admin", "link")
    with pytest.raises(cb.errors.NotFound):
        cb.resolver.override(
            "salon-two", host(cb, EMMA_HOST), "emma-williams", "admin", "cross-tenant attempt"
        )


def test_unknown_company_is_refused(cb):
    with pytest.raises(cb.errors.UnknownCompany):
        cb.resolver.resolve("no-such-salon", host(cb, FABIAN_HOST))


def test_booking_without_hosts_assigns_nobody_and_warns(cb):
    resolution = cb.resolver.resolve_booking("salon-demo", {"uid": "bk1", "hosts": []})
    assert resolution.primary is None and resolution.warnings


def test_appointment_gets_staff_and_host_id(cb):
    appointments = cb.mapping_store.AppointmentRepository()
    appointments.create("salon-demo", "appt-1", service_id="41", calcom_booking_uid="bk1")
    booking = {
        "uid": "bk1",
        "hosts": [FABIAN_HOST],
        "attendees": [{"name": "Anna", "email": "anna@example.com"}],
    }
    resolution = cb.resolver.assign_appointment("salon-demo", "appt-1", booking)
    assert resolution.primary.staff_id == "fabian-spitzer"
    stored = appointments.get("salon-demo", "appt-1")
    assert (stored["staff_id"], stored["calcom_host_id"], stored["staff_source"]) == (
        "fabian-spitzer",
        1420209,
        "auto_email",
    )
    with pytest.raises(cb.errors.NotFound):
        cb.resolver.assign_appointment("salon-demo", "no-such-appointment", booking)


def test_existing_mapping_costs_one_dynamodb_call_and_none_when_cached(cb, monkeypatch):
    cb.resolver.resolve("salon-demo", host(cb, FABIAN_HOST))
    resolver = make_resolver(cb, cache_ttl_s=30)
    resolver.directory("salon-demo"), resolver.company("salon-demo")  # a warm container
    calls = []
    connection = importlib.import_module("pynamodb.connection.base").Connection
    original = connection._make_api_call
    monkeypatch.setattr(
        connection,
        "_make_api_call",
        lambda self, op, *a, **k: calls.append(op) or original(self, op, *a, **k),
    )
    assert resolver.resolve("salon-demo", host(cb, FABIAN_HOST)).outcome == "existing"
    assert calls == ["GetItem"]
    assert resolver.resolve("salon-demo", host(cb, FABIAN_HOST)).outcome == "existing"
    assert calls == ["GetItem"], "a cached mapping needs no DynamoDB call"


def table_items(stack) -> dict[str, int]:
    dynamodb = stack.boto3_client("dynamodb")
    return {
        t: dynamodb.scan(TableName=t, Select="COUNT")["Count"] for t in dynamodb.list_tables()["TableNames"]
    }


@pytest.mark.parametrize(
    ("host", "reason"),
    [
        ({}, "no id, e-mail, username or name"),
        ({"id": "abc", "name": "Fabian Spitzer"}, "non-numeric host id"),
        ({"id": "unknown", "name": "unknown"}, "no id, e-mail, username or name"),
        ({"id": True, "email": "fabian@askproai.de"}, "host id"),
    ],
)
def test_unusable_host_data_is_a_clear_result_and_writes_nothing(fresh, host, reason):
    before = table_items(fresh)
    result = fresh.invoke("HostResolutionFunction", {"company_id": "salon-demo", "host": host})
    assert result.function_error is None
    answer = result.json()
    assert (answer["staff_id"], answer["outcome"]) == (None, "invalid")
    assert reason in answer["reason"]
    assert table_items(fresh) == before


def test_unknown_id_with_an_email_resolves_without_storing_a_mapping(fresh):
    before = table_items(fresh)
    host = {"id": "unknown", "name": "Fabian Spitzer", "email": "fabian@askproai.de"}
    answer = fresh.invoke("HostResolutionFunction", {"company_id": "salon-demo", "host": host}).json()
    assert (answer["staff_id"], answer["calcom_host_id"], answer["outcome"]) == (
        "fabian-spitzer",
        None,
        "linked",
    )
    assert "not stored" in answer["reason"]
    assert table_items(fresh) == before


@pytest.mark.parametrize(
    ("event", "error", "text"),
    [
        ({"company_id": "no-such-salon", "host": {"id": 1, "name": "X"}}, "UnknownCompany", "no-such-salon"),
        ({"host": {"id": 1}}, "InvalidRequest", "company_id"),
        ({"company_id": "salon-demo"}, "InvalidRequest", "exactly one of 'booking' or 'host'"),
        ({"company_id": "salon-demo", "host": {"id": 1}, "booking": {}}, "InvalidRequest", "exactly one"),
        ({"company_id": "salon-demo", "booking": []}, "InvalidRequest", "booking"),
        (
            {"company_id": "salon-demo", "booking": {"hosts": [FABIAN_HOST]}, "appointment_id": "missing"},
            "NotFound",
            "missing",
        ),
    ],
)
def test_malformed_events_fail_with_a_named_error_and_write_nothing(fresh, event, error, text):
    before = table_items(fresh)
    result = fresh.invoke("HostResolutionFunction", event)
    assert result.function_error == "Unhandled"
    assert result.json()["errorType"] == error and text in result.json()["errorMessage"]
    assert table_items(fresh) == before


def emitted_metrics(output: str) -> dict[str, list]:
    """The EMF metric values a function printed (Powertools writes one JSON line per flush)."""
    found: dict[str, list] = {}
    for line in output.splitlines():
        if line.startswith('{"_aws"'):
            record = json.loads(line)
            for directive in record["_aws"]["CloudWatchMetrics"]:
                for metric in directive["Metrics"]:
                    values = record[metric["Name"]]
                    dims = {d: record[d] for group in directive["Dimensions"] for d in group}
                    found.setdefault(metric["Name"], []).append((values, dims))
    return found


def test_resolutions_emit_the_documented_metrics(fresh, capsys):
    capsys.readouterr()
    fresh.invoke("HostResolutionFunction", {"company_id": "salon-demo", "host": FABIAN_HOST})
    fresh.invoke("HostResolutionFunction", {"company_id": "salon-demo", "host": LENA_MULLER_HOST})
    fresh.invoke("HostResolutionFunction", {"company_id": "salon-demo", "host": FABIAN_HOST})
    found = emitted_metrics(capsys.readouterr().out)
    assert found["MappingCreated"] and found["ReviewCandidate"] and found["StaffUnassigned"]
    assert len(found["StaffAssigned"]) == 2  # the link, then the existing mapping
    confidence, dimensions = found["MatchConfidence"][0]
    assert confidence in (95, [95]) and dimensions["strategy"] == "auto_email"
