"""Cal.com's per-key rate limit kept by all containers together (adapters/calcom/rate_limit.py,
ADR 0027): its arithmetic against the local stack's moto DynamoDB (LeasesTable), on a clock the
test moves.

Each test uses an API key of its own, so its item is its own. Two `CalcomRateLimiter`s on one
store are two containers: they share nothing but the table. calbridge is imported after the stack
started (it imports the layer afresh with its environment).
"""

from __future__ import annotations

import importlib
import random
import time
import uuid
from collections.abc import Callable

import httpx
import pytest

from local.bench import dynamodb_calls


class Clock:
    """Wall-clock seconds that move only when the test (or a limiter's sleep) says so."""

    def __init__(self) -> None:
        self.now = time.time()
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture(scope="module")
def rate_limit(stack):
    return importlib.import_module("calbridge.adapters.calcom.rate_limit")


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def api_key() -> str:
    return f"cal_test_{uuid.uuid4().hex}"


@pytest.fixture
def container(rate_limit, clock, api_key) -> Callable[..., object]:
    """A container's limiter for the test's key: its own permits, the shared table."""

    def build(limit: int = 20, burst: int = 4, batch: int = 4, wait_s: float = 5.0, store=None) -> object:
        policy = rate_limit.RatePolicy(limit=limit, burst=burst, batch=batch, wait_s=wait_s)
        return rate_limit.CalcomRateLimiter(
            store or rate_limit.RateStore(), lambda: api_key, policy, clock=clock, sleep=clock.sleep
        )

    return build


def busiest_minute(sent: list[float]) -> int:
    """The most requests in any 60 s interval, wherever it starts (Cal.com's window starts at the
    key's first request, and again at the first request after each window)."""
    ordered = sorted(sent)
    return max(sum(1 for t in ordered if start <= t < start + 60.0) for start in ordered)


def test_many_containers_never_put_more_than_the_limit_in_any_minute(container, clock):
    limit = 20
    containers = [container(limit=limit, burst=4, batch=4) for _ in range(6)]
    errors = importlib.import_module("calbridge.errors")
    sent: list[float] = []
    refused = 0
    randomly = random.Random(12)
    end = clock.now + 240.0
    while clock.now < end:
        # Callers arrive in bursts and trickles, each in whichever container serves it; a caller
        # with no time to wait takes a permit now or is refused.
        clock.now += randomly.choice([0.0, 0.0, 0.05, 0.2, 0.7, 2.0])
        try:
            randomly.choice(containers).acquire(0.0)
        except errors.CalcomPaced as paced:
            refused += 1
            assert paced.retry_after_s > 0
        else:
            sent.append(clock.now)

    assert refused > 0  # the callers asked for far more than the limit
    assert busiest_minute(sent) <= limit
    # ...and the limit is used, not starved: the steady rate is (limit - burst) per 61 s.
    assert len(sent) >= 3 * (limit - 4)


def test_a_caller_waits_for_the_next_permit_within_its_budget_and_is_refused_beyond(container, clock):
    errors = importlib.import_module("calbridge.errors")
    limiter = container(limit=10, burst=2, batch=2)
    interval = (60.0 + 1.0) / (10 - 2)
    limiter.acquire(0.0)
    limiter.acquire(0.0)  # the burst is spent

    with pytest.raises(errors.CalcomPaced) as refused:
        limiter.acquire(interval / 2)
    assert refused.value.retry_after_s == pytest.approx(interval, abs=0.01)
    assert clock.slept == []  # refused at once: the permit is due after the caller's budget
    assert isinstance(refused.value, errors.RateLimited)  # the tools treat it as Cal.com's 429

    waited = limiter.acquire(interval + 1.0)
    assert waited == pytest.approx(interval, abs=0.01)
    assert clock.slept == [pytest.approx(interval, abs=0.01)]


def test_callers_without_a_deadline_wait_the_policys_bound(container, clock):
    errors = importlib.import_module("calbridge.errors")
    limiter = container(limit=5, burst=1, batch=1, wait_s=3.0)
    limiter.acquire()
    with pytest.raises(errors.CalcomPaced):
        limiter.acquire()  # the next permit is 15 s away, the bound 3 s
    assert clock.slept == []


def test_a_second_container_sees_the_permits_the_first_took(container, clock):
    errors = importlib.import_module("calbridge.errors")
    first, second = container(limit=10, burst=4, batch=4), container(limit=10, burst=4, batch=4)
    for _ in range(4):
        first.acquire(0.0)
    with pytest.raises(errors.CalcomPaced):
        second.acquire(0.0)


def test_a_batch_serves_the_next_requests_and_lapses_after_a_second(container, clock):
    limiter = container(limit=1000, burst=100, batch=4)
    with dynamodb_calls() as calls:
        for _ in range(11):  # one container's requests in a second: batches of 1, 2, 4, 4
            limiter.acquire(0.0)
            clock.now += 0.05
    assert calls == ["UpdateItem"] * 4

    clock.now += 1.5  # the rest of the last batch (one permit) lapsed unused
    with dynamodb_calls() as calls:
        limiter.acquire(0.0)
    assert calls == ["UpdateItem"]


def test_a_busy_key_costs_one_write_and_a_full_one_a_read(container, clock):
    errors = importlib.import_module("calbridge.errors")
    first, second = container(limit=10, burst=4, batch=1), container(limit=10, burst=4, batch=1)
    first.acquire(0.0)
    with dynamodb_calls() as calls:
        second.acquire(0.0)  # its view says idle: the idle write fails, the busy one takes it
    assert calls == ["UpdateItem", "UpdateItem"]
    with dynamodb_calls() as calls:
        second.acquire(0.0)  # now it knows the key is busy
    assert calls == ["UpdateItem"]
    first.acquire(0.0)
    with dynamodb_calls() as calls, pytest.raises(errors.CalcomPaced):
        second.acquire(0.0)  # full: neither write fits, one read says when a permit is due
    assert calls == ["UpdateItem", "UpdateItem", "GetItem"]


def test_a_clock_that_jumped_back_does_not_block_the_key(container, clock):
    limiter = container(limit=10, burst=4, batch=1)
    clock.now += 3600.0
    limiter.acquire(0.0)
    clock.now -= 3600.0  # the item's tat is an hour ahead now: no container's clock can be right
    assert limiter.acquire(0.0) < 0.1
    assert clock.slept == []


def test_a_store_failure_lets_the_request_go_unpaced(rate_limit, container, caplog):
    errors = importlib.import_module("calbridge.errors")

    class Broken(rate_limit.RateStore):
        def take(self, *args, **kwargs):
            raise errors.StoreUnavailable("down")

    limiter = container(store=Broken())
    assert limiter.acquire(0.0) == 0.0
    assert any("unpaced" in record.getMessage() for record in caplog.records)


def test_the_client_sends_nothing_when_paced_and_the_breaker_does_not_count_it(
    rate_limit, container, clock, api_key
):
    errors = importlib.import_module("calbridge.errors")
    breaker = importlib.import_module("calbridge.adapters.calcom.breaker")
    pacing = importlib.import_module("calbridge.adapters.calcom.pacing")
    client_class = importlib.import_module("calbridge.adapters.calcom").CalcomClient
    sent: list[httpx.Request] = []

    def calcom(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200, json={"status": "success", "data": []})

    limiter = container(limit=5, burst=1, batch=1, wait_s=0.0)
    shared = breaker.CalcomBreaker(breaker.BreakerStore(), lambda: api_key, clock=clock)
    client = client_class(
        base_url="https://api.cal.com",
        api_key_provider=lambda: api_key,
        transport=httpx.MockTransport(calcom),
        breaker=shared,
        rate_limiter=limiter,
    )
    client.list_team_event_types(55)
    assert len(sent) == 1

    for _ in range(6):  # more than the breaker's 5 failures: none of these counts as one
        with pytest.raises(errors.CalcomPaced):
            client.list_team_event_types(55)
    # A live caller's view waits at most until its deadline less MIN_REQUEST_S: refused, unsent.
    live = client.until(pacing.Deadline(3.0, clock=clock))
    with pytest.raises(errors.CalcomPaced):
        live.list_team_event_types(55)
    assert len(sent) == 1
    assert breaker.BreakerStore().read(breaker.breaker_key(api_key)).failures == ()

    clock.now += 16.0  # a permit is due again (one per 61 / (5 - 1) = 15.25 s)
    client.list_team_event_types(55)
    assert len(sent) == 2
