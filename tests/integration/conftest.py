"""Fixtures of the integration tests: a Cal.com stand-in of their own, or the session's stack seeded
as `python -m local invoke` seeds it."""

from __future__ import annotations

import importlib
from collections.abc import Iterator

import httpx
import pytest

from local.calcom_standin import CalcomStandIn
from tests.conftest import reseed
from tests.integration.standin_api import reset_client, running_standin


@pytest.fixture(scope="module")
def standin() -> Iterator[CalcomStandIn]:
    """A stand-in of the demo team, one per test module."""
    yield from running_standin()


@pytest.fixture
def api(standin: CalcomStandIn) -> Iterator[httpx.Client]:
    """A client of `standin`, reset to the fixture state with the clock frozen (standin_api.py)."""
    yield from reset_client(standin)


@pytest.fixture
def invoke_seeded(stack):
    """The stack as `python -m local invoke` seeds it (the samples' appointments and bookings in
    local/fixtures/invoke_samples.json); the demo salon again afterwards."""
    from local.seed import seed_invoke_samples

    stack.reset()
    importlib.import_module("calbridge.services.wiring").host_resolver().clear()
    seed_invoke_samples(stack)
    yield stack
    reseed(stack)
