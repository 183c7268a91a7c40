"""`make smoke-calcom` (local/smoke_calcom.py): without credentials it explains itself and calls
nothing; with them it runs its whole flow, here against the stand-in as the "real" Cal.com through
the same code path (a subprocess, as make runs it, on the test run's pinned clock)."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import httpx
import pytest

from local import smoke_calcom
from local.calcom_standin import CalcomStandIn
from local.calcom_standin.contract import check_traffic

REPO = Path(__file__).resolve().parents[2]
FIXTURE = REPO / "local" / "fixtures" / "salon_demo.json"


def test_without_credentials_it_says_what_it_needs_and_calls_nothing(monkeypatch):
    def no_stack(*args, **kwargs):
        raise AssertionError("the smoke test started the stack without credentials")

    monkeypatch.setattr("local.stack.LocalStack", no_stack)
    said: list[str] = []

    assert smoke_calcom.run({"CALCOM_TEAM_ID": "1"}, said.append) == 0

    text = "\n".join(said)
    for name in ("CALCOM_API_KEY", "CALCOM_TEAM_ID", "CALCOM_STAFF_USER_ID", "CALCOM_BASE_URL"):
        assert name in text
    assert "Nothing was called." in text


@pytest.mark.slow
def test_the_whole_flow_against_the_stand_in(tmp_path):
    with CalcomStandIn(FIXTURE) as standin:
        now = datetime.now().astimezone().isoformat()  # the run's pinned clock, for the subprocess too
        script = (
            "import runpy, sys, time_machine, datetime\n"
            f"time_machine.travel(datetime.datetime.fromisoformat({now!r}), tick=True).start()\n"
            "sys.exit(runpy.run_module('local.smoke_calcom', run_name='__main__'))\n"
        )
        env = {
            **os.environ,
            "CALCOM_BASE_URL": standin.url,
            "CALCOM_API_KEY": standin.api_key,
            "CALCOM_TEAM_ID": "39203",
            "CALCOM_STAFF_USER_ID": "1420209",
            "CALCOM_SMOKE_ATTENDEE_EMAIL": "smoke@example.com",
            "TMPDIR": str(tmp_path),
        }
        result = subprocess.run(
            [sys.executable, "-c", script], cwd=REPO, env=env, capture_output=True, text=True, timeout=300
        )
        output = result.stdout + result.stderr

        assert result.returncode == 0, output
        for step in ("1. A throwaway company", "2. Provision", "3. The staff member's slots", "4. Book",
                     "5. Every booking's host", "6. Cancel", "7. Clean up", "Smoke test passed"):  # fmt: skip
            assert step in output, output
        assert output.count("ok   ") >= 10 and "FAIL" not in output
        assert output.count("deleted event type") == 3

        bookings = httpx.get(f"{standin.url}/_standin/bookings").json()
        assert len(bookings) == 3 and {b["status"] for b in bookings} == {"cancelled"}
        assert {b["hostUserIds"][0] for b in bookings} == {1420209}
        listed = httpx.get(
            f"{standin.url}/v2/teams/39203/event-types",
            headers={"Authorization": f"Bearer {standin.api_key}", "cal-api-version": "2024-06-14"},
        ).json()["data"]
        assert not [et for et in listed if et["slug"].startswith("cb-smoke")]  # cleaned up
        log = [
            e for e in httpx.get(f"{standin.url}/_standin/requests").json() if e["user_agent"] == "calbridge"
        ]
        report = check_traffic(log)
        assert report.ok and report.checked >= 15, report.violations
