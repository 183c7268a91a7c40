"""The end-of-run contract check (local/calcom_standin/pytest_contract.py) fails a test run whose
Cal.com traffic breaks Cal.com's contract, even when every test passed, and prints the request and
the broken rule. Each case runs pytest in a subprocess on a one-test file."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

TEST_FILE = """
import httpx
from local.calcom_standin import CalcomStandIn

FIXTURE = {fixture!r}


def test_one_booking_request():
    with CalcomStandIn(FIXTURE) as standin:
        httpx.post(standin.url + "/_standin/clock", json={{"now": "2030-03-01T08:00:00Z"}})
        response = httpx.post(
            standin.url + "/v2/bookings",
            json={{
                "start": "2030-03-04T09:00:00Z",
                "eventTypeId": 3719001,
                "attendee": {{"name": "Anna", "email": "anna@example.com", "timeZone": "Europe/Berlin"}},
                {extra}
            }},
            headers={{
                "Authorization": f"Bearer {{standin.api_key}}",
                "cal-api-version": "2024-08-13",
                "User-Agent": {user_agent!r},
            }},
        )
        assert response.status_code in (201, 400)  # the test passes either way
"""


def run(tmp_path: Path, *, extra: str, user_agent: str) -> subprocess.CompletedProcess[str]:
    source = TEST_FILE.format(
        fixture=str(REPO / "local" / "fixtures" / "salon_demo.json"), extra=extra, user_agent=user_agent
    )
    test_file = tmp_path / "test_traffic.py"
    test_file.write_text(textwrap.dedent(source), encoding="utf-8")
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         "-p", "local.calcom_standin.pytest_contract", "--rootdir", str(tmp_path), str(test_file)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )  # fmt: skip


@pytest.mark.slow
def test_a_violation_in_calbridges_traffic_fails_the_run_with_the_rule_and_the_request(tmp_path):
    result = run(tmp_path, extra='"routing": {"teamMemberIds": [1420209]},', user_agent="calbridge")

    assert result.returncode == 1, result.stdout + result.stderr
    assert "1 passed" in result.stdout
    assert "1 violation(s)" in result.stdout
    assert (
        "VIOLATION post_v2_bookings_2024-08-13: violates body.routing: required: "
        "'responseId' is a required property"
    ) in result.stdout
    assert '"routing": {"teamMemberIds": [1420209]}' in result.stdout  # the request itself


@pytest.mark.slow
def test_clean_traffic_and_other_clients_pass(tmp_path):
    clean = run(tmp_path, extra='"metadata": {"calbridge_booking_id": "bk_1"},', user_agent="calbridge")
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert (
        "1 requests calbridge sent to the Cal.com stand-in" in clean.stdout and "no violation" in clean.stdout
    )

    # A test's own client may send what Cal.com refuses (to see the stand-in refuse it).
    probing = run(tmp_path, extra='"routing": {"teamMemberIds": [1420209]},', user_agent="python-httpx")
    assert probing.returncode == 0, probing.stdout + probing.stderr
