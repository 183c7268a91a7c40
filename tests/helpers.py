"""Small helpers shared by test modules (fixtures live in conftest.py)."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

BERLIN = ZoneInfo("Europe/Berlin")


def next_monday() -> str:
    """The next Monday in Berlin (a day the demo salon's staff work), as YYYY-MM-DD."""
    today = datetime.now(BERLIN).date()
    return (today + timedelta(days=(7 - today.weekday()) or 7)).isoformat()
