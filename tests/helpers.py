"""Small helpers shared by test modules (fixtures live in conftest.py)."""

from __future__ import annotations

import importlib
from datetime import datetime
from zoneinfo import ZoneInfo

BERLIN = ZoneInfo("Europe/Berlin")


def next_monday() -> str:
    """A Monday at least two days ahead in Berlin (a day the demo salon's staff work, never said
    as "morgen"), as YYYY-MM-DD; the run's pinned "today" decides which (tests/conftest.py)."""
    from local.events import upcoming_monday

    return upcoming_monday(datetime.now(BERLIN).date()).isoformat()


def link_staff(
    staff_id: str, user_id: int, company_id: str = "salon-demo", *, provision: bool = True
) -> None:
    """What the team sync does when it links a staff member to their Cal.com user: the user id on
    the staff record, and (unless `provision` is false) their own booking event types created
    (docs/adr/0013). Then the handlers' cached reads are dropped, as a fresh container would start."""
    store = importlib.import_module("calbridge.adapters.store.repositories").StaffRepository()
    member = store.get(company_id, staff_id)
    store.save(member.model_copy(update={"calcom_user_id": user_id}))
    wiring = importlib.import_module("calbridge.services.wiring")
    if provision:
        report = wiring.event_type_provisioner().provision(company_id, repair=False, create_missing=True)
        assert report.ok, report.summary()
    wiring.clear_caches()
