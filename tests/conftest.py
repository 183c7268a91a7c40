"""Shared fixtures. The stack fixture runs the real local stack (moto server, handlers, HTTP front,
Cal.com stand-in) once per test session, seeded with the demo salon.

"Today" is pinned for the whole run, for the tests and the in-process stack alike: the clock
starts at CALBRIDGE_TEST_NOW (default: a Tuesday morning in Berlin's winter time) and runs on from
there, so no test depends on the real date, weekday or season.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import datetime

import pytest
import time_machine

# At the end of a run: every request calbridge sent to a Cal.com stand-in is checked against Cal.com's
# contract (ADR 0014), every AWS call a Lambda handler made against its function's policies (ADR 0020).
pytest_plugins = ["local.calcom_standin.pytest_contract", "local.pytest_iam"]

REPO = __import__("pathlib").Path(__file__).parents[1]
#: The environment before any test ran: the local stack puts its endpoints and table names into
#: os.environ, which a subprocess starting its own stack must not inherit (the clock sweep).
ENVIRONMENT_AT_START = dict(os.environ)
TEST_NOW = "2026-03-10T08:00:00+01:00"


def pytest_configure(config: pytest.Config) -> None:
    now = datetime.fromisoformat(os.environ.get("CALBRIDGE_TEST_NOW", TEST_NOW))
    if now.tzinfo is None:
        raise pytest.UsageError("CALBRIDGE_TEST_NOW needs a UTC offset, e.g. 2026-07-06T08:00:00+02:00")
    traveller = time_machine.travel(now, tick=True)
    traveller.start()
    config.stash[_CLOCK] = traveller


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The clock sweep last: it runs the suite again on other days, after this day's failures."""
    items.sort(key=lambda item: item.get_closest_marker("clock_sweep") is not None)


def pytest_unconfigure(config: pytest.Config) -> None:
    traveller = config.stash.get(_CLOCK, None)
    if traveller is not None:
        traveller.stop()


_CLOCK = pytest.StashKey[time_machine.travel]()


@pytest.fixture(scope="session")
def stack() -> Iterator[object]:
    from local.seed import DEMO_FIXTURE, seed_demo
    from local.stack import LocalStack

    with LocalStack(
        REPO / "template.yaml", http_port=0, standin_fixture=DEMO_FIXTURE, seed=seed_demo
    ) as running:
        yield running


def reseed(stack) -> None:
    """Back to the seeded demo salon (local/seed.reseed), for the tests' fixtures."""
    from local.seed import reseed as back_to_the_seed

    back_to_the_seed(stack)


@pytest.fixture
def fresh(stack):
    """The demo salon as seeded, before and after the test (the test may write anything)."""
    reseed(stack)
    yield stack
    reseed(stack)


@pytest.fixture
def retell(stack):
    from local.retell_sim import RetellSimulator

    simulator = RetellSimulator(stack.http_url)
    yield simulator
    simulator.close()
