"""The suite passes whatever day it runs on (issue 11, item 9).

The tests and the in-process stack read one pinned "today" (tests/conftest.py, CALBRIDGE_TEST_NOW).
This sweep runs the date-sensitive tests again in subprocesses, once per pinned clock: each day of
one week, Monday to Sunday, at times of day that move the UTC date or the salon's opening hours
(just after midnight, just before closing, late evening), in the week before Berlin's spring DST
change (so "next Monday" is in summer time, and the Sunday is the change itself), and a night in
summer time just after midnight. A failing run names its day and its failing tests.

What runs: tests/unit, tests/e2e but the fault, latency and rate-limit modules listed in
DATES_COVERED_ELSEWHERE and the calendar-free ones in CALENDAR_FREE_E2E, and the integration
tests that book or read availability (all of tests/integration but the modules listed in
CALENDAR_FREE, which never look at a date).
Each run uses two xdist workers; the whole sweep is `make test-clock` (and part of `make test`).
"""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from tests.conftest import ENVIRONMENT_AT_START, REPO

BERLIN = ZoneInfo("Europe/Berlin")

# (why this moment is tricky, the pinned clock)
CLOCKS = (
    ("Monday just after midnight, UTC still on Sunday", "2026-03-23T00:10:00+01:00"),
    ("Tuesday before opening", "2026-03-24T07:30:00+01:00"),
    ("Wednesday at noon", "2026-03-25T12:30:00+01:00"),
    ("Thursday just before closing", "2026-03-26T17:55:00+01:00"),
    ("Friday evening, the salon closed", "2026-03-27T20:00:00+01:00"),
    ("Saturday late, the night Berlin changes to summer time", "2026-03-28T23:30:00+01:00"),
    ("Sunday of the DST change, the salon closed", "2026-03-29T12:00:00+02:00"),
    ("summer time: Saturday just after midnight, UTC still on Friday", "2026-07-04T01:30:00+02:00"),
)

# Integration modules that neither book nor read availability: the team sync and its queue, the
# local stack's own machinery, the store, the HTTP front's protocol checks, the contract checker,
# host resolution, event type provisioning, call records; and the metrics flush test, which runs
# each handler once on its events/ sample to read what it prints (the tools' answers on each day
# are the e2e tests' business; it takes 1.5 minutes a run).
CALENDAR_FREE = (
    "test_team_sync.py",
    "test_team_sync_fanout.py",
    "test_local_stack.py",
    "test_store.py",
    "test_http_front.py",
    "test_retell_webhook_errors.py",
    "test_contract_check.py",
    "test_host_resolution.py",
    "test_event_types.py",
    "test_call_records.py",
    "test_metrics_flush.py",
)

# End-to-end modules about Cal.com's faults, latency, rate limit and load rather than about dates: they
# book "next Monday" through the same helpers as the booking tests the sweep runs, and take a
# minute or more each (20 callers at once, a 10.5 s latency per case, a fault matrix); run once.
DATES_COVERED_ELSEWHERE = (
    "test_calcom_faults.py",
    "test_calcom_rate_limit.py",
    "test_tool_call_budget.py",
    "test_load.py",
)
# End-to-end modules that never look at a date: companies, branches and routing over the admin API;
# the console's sign-in and company scoping (its one date, "today" per salon, is computed from the
# pinned clock in the test itself).
CALENDAR_FREE_E2E = ("test_admin_companies.py", "test_console_api.py")
RUN_TIMEOUT_S = 1200


def sweep_command() -> list[str]:
    ignored = [f"--ignore=tests/integration/{name}" for name in CALENDAR_FREE] + [
        f"--ignore=tests/e2e/{name}" for name in (*DATES_COVERED_ELSEWHERE, *CALENDAR_FREE_E2E)
    ]
    return [
        sys.executable,
        "-m",
        "pytest",
        "-p",
        "no:cacheprovider",
        "-q",
        "--no-header",
        "-n",
        "2",
        "--maxfail",
        "25",
        "-m",
        "not slow",
        "tests/unit",
        "tests/e2e",
        "tests/integration",
        *ignored,
    ]


def child_environment(now: str) -> dict[str, str]:
    """The environment this session started with (not the running stack's endpoints and tables:
    the child starts its own), with the clock to pin, without what pytest and xdist set for the
    running session (a child reading PYTEST_XDIST_WORKER would take itself for a worker)."""
    environment = {key: value for key, value in ENVIRONMENT_AT_START.items() if not key.startswith("PYTEST_")}
    environment["CALBRIDGE_TEST_NOW"] = now
    return environment


def failures(output: str) -> list[str]:
    """The `FAILED …` / `ERROR …` lines of pytest's short summary."""
    return [line for line in output.splitlines() if re.match(r"(FAILED|ERROR) tests/", line)]


@pytest.mark.slow
@pytest.mark.clock_sweep
@pytest.mark.parametrize(("why", "now"), [pytest.param(why, now, id=now) for why, now in CLOCKS])
def test_the_suite_passes_with_the_clock_at(why: str, now: str) -> None:
    day = datetime.fromisoformat(now).astimezone(BERLIN).strftime("%A %Y-%m-%d %H:%M %Z")
    try:
        run = subprocess.run(
            sweep_command(),
            cwd=REPO,
            env=child_environment(now),
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"{day} ({why}): the run did not finish within {RUN_TIMEOUT_S} s")
    if run.returncode != 0:
        failed = failures(run.stdout) or run.stdout.splitlines()[-40:] + run.stderr.splitlines()[-20:]
        listing = "\n".join(failed)
        pytest.fail(
            f"the suite fails with the clock at {day} ({why}; CALBRIDGE_TEST_NOW={now}):\n{listing}",
            pytrace=False,
        )


def test_the_sweep_covers_every_weekday_and_summer_time() -> None:
    moments = [datetime.fromisoformat(now) for _, now in CLOCKS]
    assert {moment.astimezone(BERLIN).weekday() for moment in moments} == set(range(7))
    assert any(moment.utcoffset().total_seconds() == 2 * 3600 for moment in moments)
    assert any(moment.astimezone(BERLIN).date() != moment.astimezone(UTC).date() for moment in moments)
