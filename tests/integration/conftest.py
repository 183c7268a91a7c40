"""Fixtures of the integration tests that talk to a Cal.com stand-in of their own."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from local.calcom_standin import CalcomStandIn
from tests.integration.standin_api import reset_client, running_standin


@pytest.fixture(scope="module")
def standin() -> Iterator[CalcomStandIn]:
    """A stand-in of the demo team, one per test module."""
    yield from running_standin()


@pytest.fixture
def api(standin: CalcomStandIn) -> Iterator[httpx.Client]:
    """A client of `standin`, reset to the fixture state with the clock frozen (standin_api.py)."""
    yield from reset_client(standin)
