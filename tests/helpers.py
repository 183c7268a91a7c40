"""Small helpers shared by test modules (fixtures live in conftest.py)."""

from __future__ import annotations

import importlib
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

BERLIN = ZoneInfo("Europe/Berlin")


def next_monday() -> str:
    """The next Monday in Berlin (a day the demo salon's staff work), as YYYY-MM-DD."""
    today = datetime.now(BERLIN).date()
    return (today + timedelta(days=(7 - today.weekday()) or 7)).isoformat()


def link_staff(staff_id: str, user_id: int, company_id: str = "salon-demo") -> None:
    """What the team sync does when it links a staff member to their Cal.com user: the user id on
    the staff record, and their own booking event types created (docs/adr/0013). Then the handlers'
    cached reads are dropped, as a fresh container would start."""
    store = importlib.import_module("calbridge.adapters.store.repositories").StaffRepository()
    member = store.get(company_id, staff_id)
    store.save(member.model_copy(update={"calcom_user_id": user_id}))
    wiring = importlib.import_module("calbridge.services.wiring")
    report = wiring.event_type_provisioner().provision(company_id, repair=False, create_missing=True)
    assert report.ok, report.summary()
    wiring.clear_caches()
