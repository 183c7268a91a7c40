"""GET /v2/slots asked for starts only (`format=time`), as availability asks for a week of slots."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from tests.unit.test_calcom_client import FakeCalcom, client_for, ok

BERLIN = ZoneInfo("Europe/Berlin")


def test_starts_only_asks_for_format_time_and_reads_bare_starts():
    answer = {"2026-03-02": [{"start": "2026-03-02T09:00:00.000+01:00"}], "2026-03-03": []}
    fake = FakeCalcom(ok(answer))
    first = datetime(2026, 3, 2, tzinfo=BERLIN)
    slots = client_for(fake).get_slots(
        101, first, first + timedelta(days=8, seconds=-1), "Europe/Berlin", ends=False
    )
    params = fake.last.url.params
    assert params["format"] == "time"
    assert (params["start"], params["end"]) == ("2026-03-01T23:00:00Z", "2026-03-09T22:59:59Z")
    assert [(s.start, s.end) for s in slots.slots] == [(datetime(2026, 3, 2, 8, 0, tzinfo=UTC), None)]
