"""Per-key state of a container's Cal.com breaker and rate limiter (docs/adr/0030), on the local
stack's LeasesTable: a company's own key has its own budget and breaker, and the views `for_key`
share the container's state of each key. calbridge is imported after the stack started (it
imports the layer afresh with its environment); each test's keys are its own.
"""

from __future__ import annotations

import importlib
import time
import uuid
from types import SimpleNamespace
from typing import Any

import httpx
import pytest


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def cb(stack) -> SimpleNamespace:
    return SimpleNamespace(
        breaker=importlib.import_module("calbridge.adapters.calcom.breaker"),
        rate_limit=importlib.import_module("calbridge.adapters.calcom.rate_limit"),
        client=importlib.import_module("calbridge.adapters.calcom.client"),
        errors=importlib.import_module("calbridge.errors"),
    )


@pytest.fixture
def keys() -> tuple[str, str]:
    """The platform's key and a company's own, new for every test."""
    return f"cal_test_platform_{uuid.uuid4().hex}", f"cal_live_own_{uuid.uuid4().hex}"


def test_one_keys_spent_budget_does_not_hold_back_another_key(cb, keys) -> None:
    platform, own_key = keys
    policy = cb.rate_limit.RatePolicy(limit=10, burst=2, batch=1, wait_s=0)
    limiter = cb.rate_limit.CalcomRateLimiter(
        cb.rate_limit.RateStore(), lambda: platform, policy, clock=Clock(), sleep=lambda s: None
    )
    own = limiter.for_key(lambda: own_key)
    own.acquire(0)
    own.acquire(0)
    with pytest.raises(cb.errors.CalcomPaced):
        own.acquire(0)  # the own key's burst is spent
    assert limiter.acquire(0) >= 0.0  # the platform key's is whole
    with pytest.raises(cb.errors.CalcomPaced):
        limiter.for_key(lambda: own_key).acquire(0)  # another view of the same key: the same budget


def test_one_keys_open_breaker_does_not_refuse_another_keys_calls(cb, keys) -> None:
    platform, own_key = keys
    policy = cb.breaker.BreakerPolicy(failures=2, cache_s=60)
    breaker = cb.breaker.CalcomBreaker(cb.breaker.BreakerStore(), lambda: platform, policy)
    own = breaker.for_key(lambda: own_key)

    def failing() -> dict[str, Any]:
        raise cb.errors.CalcomUnavailable("Cal.com answered 503", 503)

    for _ in range(2):
        with pytest.raises(cb.errors.CalcomUnavailable):
            own(failing)
    with pytest.raises(cb.errors.CalcomCircuitOpen):
        own(lambda: {"data": []})
    assert breaker(lambda: {"data": []}) == {"data": []}  # the platform key's calls go out
    breaker.forget()  # the container's views of every key: read again from the table
    with pytest.raises(cb.errors.CalcomCircuitOpen):
        breaker.for_key(lambda: own_key)(lambda: {"data": []})
    assert cb.breaker.BreakerStore().read(cb.breaker.breaker_key(platform)).state == "closed"


def test_a_companys_view_carries_its_key_and_a_client_without_company_keys_has_one(cb, keys) -> None:
    platform, own_key = keys
    seen: list[str] = []

    def calcom(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["Authorization"])
        return httpx.Response(200, json={"status": "success", "data": []})

    company_keys = {"salon-own": own_key}
    client = cb.client.CalcomClient(
        base_url="https://api.cal.com",
        api_key_provider=lambda: platform,
        transport=httpx.MockTransport(calcom),
        company_key_provider=lambda company_id: company_keys.get(company_id, platform),
    )
    client.for_company("salon-own").list_team_event_types(1)
    client.for_company("salon-platform").list_team_event_types(1)
    company_keys["salon-own"] = rotated = f"cal_live_rotated_{uuid.uuid4().hex}"  # its cache ran out
    client.for_company("salon-own").list_team_event_types(1)
    assert seen == [f"Bearer {own_key}", f"Bearer {platform}", f"Bearer {rotated}"]

    single = cb.client.CalcomClient(
        base_url="https://api.cal.com",
        api_key_provider=lambda: platform,
        transport=httpx.MockTransport(calcom),
    )
    assert single.for_company("salon-own") is single
