"""Seed the tables with the demo company (local/fixtures/salon_demo.json).

The same file seeds the Cal.com stand-in (its `calcom` section), so both sides agree on the
team, its members and event types. The demo company's segment event types are then provisioned
through the production provisioner against the stand-in (one listing and one create per segment).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

LOG = logging.getLogger("local.seed")

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


def provision_event_types(company_id: str) -> Any:
    """Provision a company's segment event types as production does (services/wiring.py)."""
    from calbridge.services.wiring import event_type_provisioner

    return event_type_provisioner().provision(company_id)


def seed_demo(stack: Any = None) -> None:
    """The local stack's seed hook: tables, then the demo salon's segment event types.

    Provisioning runs only against the Cal.com stand-in: with a real Cal.com (`--no-standin`) the
    seed never writes to the team; run `make provision` for that on purpose.
    """
    fixture = load_fixture()
    seed_fixture(fixture)
    if stack is None:
        from local.stack import active_stack

        stack = active_stack()
    if stack is None or getattr(stack, "standin", None) is None:
        LOG.info("no Cal.com stand-in: segment event types not provisioned (run `make provision`)")
        return
    report = provision_event_types(fixture["company"]["company_id"])
    if not report.ok:
        LOG.warning("demo segment event types: %s", report.summary())
