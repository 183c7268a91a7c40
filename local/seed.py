"""Seed the tables with the demo company (local/fixtures/salon_demo.json).

The same file seeds the Cal.com stand-in (its `calcom` section), so both sides agree on the
team, its members and event types.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

DEMO_FIXTURE = Path(__file__).parent / "fixtures" / "salon_demo.json"


def load_fixture(path: Path = DEMO_FIXTURE) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def seed_fixture(fixture: dict[str, Any]) -> None:
    """Write company, staff and services through the production repositories (validated models)."""
    # Imported late: the store reads table names from the environment the stack has just set.
    from calbridge.adapters.store.repositories import CompanyRepository, ServiceRepository, StaffRepository
    from calbridge.domain.models import Company, Service, StaffMember

    company = Company.model_validate(fixture["company"])
    CompanyRepository().save(company)
    staff_repo, service_repo = StaffRepository(), ServiceRepository()
    for member in fixture["staff"]:
        staff_repo.save(StaffMember.model_validate({"company_id": company.company_id, **member}))
    for service in fixture["services"]:
        service_repo.save(Service.model_validate({"company_id": company.company_id, **service}))


def seed_demo(stack: object | None = None) -> None:
    """The local stack's seed hook."""
    seed_fixture(load_fixture())
