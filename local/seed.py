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


def reseed(stack: Any) -> None:
    """Back to the demo salon as seeded: empty tables, seed again, and drop what the in-process
    handlers cached about companies (they share one process, as a warm container would)."""
    import importlib

    wiring = importlib.import_module("calbridge.services.wiring")
    stack.reset()
    wiring.clear_caches()  # before seeding too: a Cal.com breaker left open would fail its provisioning
    seed_demo(stack)
    wiring.clear_caches()


INVOKE_SAMPLES = Path(__file__).parent / "fixtures" / "invoke_samples.json"


def seed_invoke_samples(stack: Any) -> None:
    """The demo salon, plus what the later saga steps' samples in events/ work on
    (local/fixtures/invoke_samples.json): `python -m local invoke` seeds this, nothing else does.

    Per sample: its Cal.com bookings in the stand-in (fixed uids, our metadata), made through the
    stand-in's control API; a `booked` one is then finalized by the production saga steps (plan;
    reserve_hold as a retry, which finds each booking by its metadata; finalize).
    """
    import httpx

    from calbridge.domain.booking import BookingRequest, HoldRequest, booking_metadata
    from calbridge.services.booking import ReserveHoldInput
    from calbridge.services.wiring import booking_saga

    seed_demo(stack)
    if stack is None or getattr(stack, "standin", None) is None:
        LOG.info("no Cal.com stand-in: the invoke samples are not seeded")
        return
    saga = booking_saga()
    samples = json.loads(INVOKE_SAMPLES.read_text(encoding="utf-8"))["attempts"]
    with httpx.Client(base_url=stack.calcom_url, timeout=10) as standin:
        for sample in samples:
            plan = saga.plan(BookingRequest.model_validate(sample["request"]))
            holds = [hold for hold in plan.holds if hold.key in sample["uids"]]
            bookings = [
                {
                    "uid": sample["uids"][hold.key],
                    "start": hold.start.isoformat(),
                    "end": hold.end.isoformat(),
                    "event_type_id": hold.event_type_id,
                    "host_user_id": plan.calcom_user_id,
                    "attendee": {"name": plan.customer.name, "timeZone": plan.timezone},
                    "metadata": booking_metadata(plan.company_id, plan.booking_id, hold.key),
                }
                for hold in holds
            ]
            standin.post("/_standin/bookings", json=bookings).raise_for_status()
            if not sample["booked"]:
                continue
            request = plan.model_dump(include=set(HoldRequest.model_fields) - {"hold"})
            reservations = [
                saga.reserve_hold(
                    ReserveHoldInput(request=HoldRequest(**request, hold=hold), retry=1)
                ).model_dump(mode="json")
                for hold in holds
            ]
            saga.finalize(plan, reservations)


# ------------------------------------------------------------------ the console (issue 15, ADR 0037)
# Who signs in to the console on the local stack. `make serve` prints the salon admin's sign-in.


CONSOLE_PASSWORD = "Salon-Demo-2026"  # meets the pool's policy (template.yaml ConsoleUserPool)
CONSOLE_USERS: dict[str, dict[str, str | None]] = {
    # e-mail: company (None: an operator, in the operators group)
    "admin@salon-demo.example": {"company_id": "salon-demo"},
    "operator@calbridge.example": {"company_id": None},
}


def add_console_user(
    stack: Any, email: str, company_id: str | None, password: str = CONSOLE_PASSWORD
) -> None:
    """A console user with a permanent password, as an operator's invitation and the user's first
    sign-in would leave them; again for an existing user is a no-op."""
    cognito = stack.boto3_client("cognito-idp")
    pool = stack.resources["ConsoleUserPool"]
    attributes = [{"Name": "email", "Value": email}, {"Name": "email_verified", "Value": "true"}]
    if company_id is not None:
        attributes.append({"Name": "custom:company_id", "Value": company_id})
    try:
        cognito.admin_create_user(
            UserPoolId=pool, Username=email, UserAttributes=attributes, MessageAction="SUPPRESS"
        )
    except cognito.exceptions.UsernameExistsException:
        return
    cognito.admin_set_user_password(UserPoolId=pool, Username=email, Password=password, Permanent=True)
    if company_id is None:
        cognito.admin_add_user_to_group(UserPoolId=pool, Username=email, GroupName="operators")


def seed_console(stack: Any) -> None:
    """`make serve`'s seed: the demo salon, its console users, and a first team sync, so the console
    opens on real data: the sync's run report, and Lena and Sara waiting in the review queue (their
    Cal.com names lack the umlauts: below the auto-link threshold)."""
    seed_demo(stack)
    seed_console_users_and_sync(stack)


def seed_console_users_and_sync(stack: Any) -> None:
    """The console's demo users and a team sync of the demo salon (the browser tests' start)."""
    for email, user in CONSOLE_USERS.items():
        add_console_user(stack, email, user["company_id"])
    if getattr(stack, "standin", None) is None:
        return  # a real Cal.com team is synced on purpose only (`make sync`)
    result = stack.invoke("TeamSyncWorkerFunction", {"company_id": load_fixture()["company"]["company_id"]})
    if result.function_error:
        LOG.warning("the console seed's team sync failed: %s", result.json())
