"""Shared fixtures. The stack fixture runs the real local stack (moto server, handlers, HTTP front,
Cal.com stand-in) once per test session, seeded with the demo salon."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

REPO = __import__("pathlib").Path(__file__).parents[1]


@pytest.fixture(scope="session")
def stack() -> Iterator[object]:
    from local.seed import DEMO_FIXTURE, seed_demo
    from local.stack import LocalStack

    with LocalStack(
        REPO / "template.yaml", http_port=0, standin_fixture=DEMO_FIXTURE, seed=seed_demo
    ) as running:
        yield running


def reseed(stack) -> None:
    """Back to the seeded demo salon: empty tables, seed again, and drop the handlers' caches
    (the stack's functions share one host resolver and one set of cached company reads per
    process, as a warm container would)."""
    import importlib

    from local.seed import seed_demo

    stack.reset()
    seed_demo()
    importlib.import_module("calbridge.services.wiring").clear_caches()


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
