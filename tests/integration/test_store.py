"""Repositories against moto's DynamoDB (the local stack's tables, created from template.yaml)."""

from __future__ import annotations

import importlib

import pytest

from calbridge.domain.models import Company, Service, StaffMember


@pytest.fixture
def store(fresh):
    """The repositories module the stack imported (fresh per stack start, like a cold start)."""
    return importlib.import_module("calbridge.adapters.store.repositories")


@pytest.fixture
def errors(stack):
    return importlib.import_module("calbridge.errors")


def company(company_id: str, *numbers: str) -> Company:
    return Company(
        company_id=company_id,
        name=f"Salon {company_id}",
        timezone="Europe/Berlin",
        branches=[{"branch_id": "main", "name": "Main", "phone_numbers": list(numbers)}],
    )


def test_company_and_its_routes_are_written_together(store):
    repo = store.CompanyRepository()
    repo.save(company("salon-two", "+4940111111", "+4940222222"))
    assert repo.get("salon-two").name == "Salon salon-two"
    assert repo.route_for("+49 40 111111").company_id == "salon-two"

    repo.save(company("salon-two", "+4940222222"))  # a number the company gave up is unrouted
    assert repo.route_for("+4940111111") is None
    assert repo.route_for("+4940222222").branch_id == "main"


def test_opening_hours_round_trip_and_can_be_cleared(store):
    """The seed wrote the demo salon's opening hours through the Company model; they come back whole."""
    repo = store.CompanyRepository()
    demo = repo.get("salon-demo")
    assert demo.opening_hours is not None
    assert [(o.isoformat("minutes"), c.isoformat("minutes")) for o, c in demo.opening_hours.intervals(0)] == [
        ("08:00", "18:00")
    ]
    assert demo.opening_hours.intervals(6) == []  # Sunday closed
    repo.save(demo.model_copy(update={"opening_hours": None}))
    assert repo.get("salon-demo").opening_hours is None


def test_a_number_of_another_company_fails_the_whole_write(store, errors):
    repo = store.CompanyRepository()
    with pytest.raises(errors.PhoneNumberTaken):
        repo.save(company("salon-three", "+4940333333", "+4930123456789"))  # the demo salon's number
    assert repo.route_for("+4930123456789").company_id == "salon-demo"
    assert repo.route_for("+4940333333") is None
    with pytest.raises(errors.UnknownCompany):
        repo.get("salon-three")


def test_garbage_numbers_route_nowhere(store):
    assert store.CompanyRepository().route_for("not a number") is None


def test_staff_and_services_never_cross_tenants(store, errors):
    staff, services = store.StaffRepository(), store.ServiceRepository()
    staff.save(StaffMember(company_id="salon-two", staff_id="fabian-spitzer", name="Fabian Other"))
    services.save(Service(company_id="salon-two", service_id="41", name="Other cut", duration=30))

    assert [m.name for m in staff.list("salon-two")] == ["Fabian Other"]
    assert staff.get("salon-demo", "fabian-spitzer").name == "Fabian Spitzer"
    assert services.get("salon-two", "41").name == "Other cut"
    assert services.get("salon-demo", "41").name == "Damenhaarschnitt"
    with pytest.raises(errors.NotFound):
        services.get("salon-two", "177")


def test_inactive_entities_are_listed_only_on_request(store):
    staff = store.StaffRepository()
    staff.save(StaffMember(company_id="salon-demo", staff_id="gone", name="Ex Staff", active=False))
    assert "gone" not in {m.staff_id for m in staff.list("salon-demo")}
    assert "gone" in {m.staff_id for m in staff.list("salon-demo", active_only=False)}


def test_round_trip_keeps_segments_and_policy(store):
    service = store.ServiceRepository().get("salon-demo", "177")
    assert service.composite and service.pause_policy == "free"
    assert [(s.key, s.duration, s.gap_after) for s in service.segments] == [
        ("A", 30, 45),
        ("B", 15, 0),
        ("C", 30, 0),
        ("D", 30, 0),
    ]
