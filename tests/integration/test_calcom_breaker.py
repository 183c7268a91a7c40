"""Cal.com's circuit breaker (adapters/calcom/breaker.py, ADR 0022): its state machine against the
local stack's moto DynamoDB (LeasesTable, created from template.yaml), on a clock the test moves.

Each test uses an API key of its own, so its breaker item is its own. Two `CalcomBreaker`s on one
store are two containers: they share nothing but the table. calbridge is imported after the stack
started (it imports the layer afresh with its environment), hence `errors` as a fixture.
"""

from __future__ import annotations

import importlib
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest

ANSWER = {"status": "success", "data": {}}


class _Errors:
    """calbridge.errors as the stack imported it: it imports the layer afresh when it starts."""

    def __getattr__(self, name: str) -> type[Exception]:
        return getattr(importlib.import_module("calbridge.errors"), name)


errors = _Errors()


class Clock:
    """Wall-clock seconds that move only when the test says so."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture(scope="module")
def breaker_module(stack):
    return importlib.import_module("calbridge.adapters.calcom.breaker")


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def api_key() -> str:
    return f"cal_test_{uuid.uuid4().hex}"


@pytest.fixture
def container(breaker_module, clock, api_key) -> Callable[..., Any]:
    """A new container's breaker: the seeds' numbers, the test's clock and API key."""

    def build(store=None, **policy: float):
        return breaker_module.CalcomBreaker(
            store or breaker_module.BreakerStore(),
            lambda: api_key,
            breaker_module.BreakerPolicy(**policy),
            clock=clock,
        )

    return build


class Exchange:
    """A Cal.com exchange that answers or raises what it is told, and counts its calls."""

    def __init__(self, error: Exception | None = None) -> None:
        self.error = error
        self.calls = 0

    def __call__(self) -> dict[str, Any]:
        self.calls += 1
        if self.error is not None:
            raise self.error
        return ANSWER


def unavailable() -> Exception:
    return errors.CalcomUnavailable("Service Unavailable", 503)


def fail(breaker, clock: Clock, times: int, every_s: float = 1.0, error: Exception | None = None) -> None:
    for _ in range(times):
        with pytest.raises((errors.CalcomUnavailable, errors.RateLimited)):
            breaker(Exchange(error or unavailable()))
        clock.advance(every_s)


def shared_state(breaker_module, api_key: str):
    return breaker_module.BreakerStore().read(breaker_module.breaker_key(api_key))


# ------------------------------------------------------------------ closed -> open


def test_five_failures_within_60_s_open_it_and_the_next_call_sends_nothing(
    container, clock, breaker_module, api_key
):
    breaker = container()
    fail(breaker, clock, 5, every_s=12)  # the 5th at +48 s

    exchange = Exchange()
    with pytest.raises(errors.CalcomCircuitOpen) as refused:
        breaker(exchange)

    assert exchange.calls == 0
    assert 0 < refused.value.retry_after_s <= 30
    state = shared_state(breaker_module, api_key)
    assert state.state == "open" and state.open_until == pytest.approx(clock.now - 12 + 30)
    assert state.failures == ()


def test_four_failures_and_61_s_later_a_fifth_leave_it_closed(container, clock):
    breaker = container()
    fail(breaker, clock, 4)
    clock.advance(61)
    fail(breaker, clock, 1)

    exchange = Exchange()
    assert breaker(exchange) == ANSWER
    assert exchange.calls == 1


def test_the_window_slides_five_failures_within_any_60_s_open_it(container, clock):
    breaker = container()
    for gap in (0, 50, 5, 3):  # failures at 0, 50, 55, 58
        clock.advance(gap)
        fail(breaker, clock, 1, every_s=0)
    clock.advance(7)
    fail(breaker, clock, 1, every_s=0)  # 65: four within [5, 65]
    assert breaker(Exchange()) == ANSWER
    clock.advance(5)
    fail(breaker, clock, 1, every_s=0)  # 70: 50, 55, 58, 65, 70

    with pytest.raises(errors.CalcomCircuitOpen):
        breaker(Exchange())


@pytest.mark.parametrize(
    ("name", "message", "status"),
    [
        ("SlotUnavailable", "User either already has booking at this time or is not available", 400),
        ("CalcomRejected", "Forbidden", 403),
        ("CalcomContractError", "attendee property is wrong", 400),
    ],
    ids=["slot taken", "4xx", "contract error"],
)
def test_answers_about_our_request_never_count(container, clock, name, message, status):
    error = getattr(errors, name)(message, status)
    breaker = container()
    for _ in range(8):
        with pytest.raises(type(error)):
            breaker(Exchange(error))
        clock.advance(1)

    assert breaker(Exchange()) == ANSWER


def test_rate_limits_count_and_keep_it_open_until_cal_coms_reset(container, clock, breaker_module, api_key):
    breaker = container()
    fail(breaker, clock, 5, error=errors.RateLimited("Too Many Requests", retry_after_s=55))

    state = shared_state(breaker_module, api_key)
    assert state.state == "open" and state.open_until == pytest.approx(clock.now - 1 + 55)
    clock.advance(35)  # past the 30 s cool-down, not past Cal.com's reset
    with pytest.raises(errors.CalcomCircuitOpen):
        breaker(Exchange())


def test_a_success_writes_nothing_and_the_state_is_read_once_per_cache_period(container, clock, monkeypatch):
    connection = importlib.import_module("pynamodb.connection.base").Connection
    original = connection._make_api_call
    operations: list[str] = []

    def counting(self, operation, *args, **kwargs):
        operations.append(operation)
        return original(self, operation, *args, **kwargs)

    monkeypatch.setattr(connection, "_make_api_call", counting)
    breaker = container()
    for _ in range(10):
        breaker(Exchange())
        clock.advance(0.4)  # 10 calls within 4 s: one read
    clock.advance(1.5)
    breaker(Exchange())

    assert operations == ["GetItem", "GetItem"]


def test_callers_that_find_the_view_stale_together_share_one_read(container, clock, monkeypatch):
    """A booking's four holds call Cal.com at once: one GetItem for the container, not four."""
    connection = importlib.import_module("pynamodb.connection.base").Connection
    original = connection._make_api_call
    operations: list[str] = []
    started = threading.Barrier(4)

    def counting(self, operation, *args, **kwargs):
        operations.append(operation)
        time.sleep(0.05)  # a read the others arrive during
        return original(self, operation, *args, **kwargs)

    monkeypatch.setattr(connection, "_make_api_call", counting)
    breaker = container()

    def hold() -> None:
        started.wait()
        breaker(Exchange())

    threads = [threading.Thread(target=hold) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)

    assert operations == ["GetItem"]


# ------------------------------------------------------------------ shared by containers


def test_another_container_sees_the_open_state(container, clock):
    first, second = container(), container()
    assert second(Exchange()) == ANSWER  # its view: closed, for 5 s
    fail(first, clock, 5, every_s=0.5)

    clock.advance(3)  # past the second container's 5 s view
    exchange = Exchange()
    with pytest.raises(errors.CalcomCircuitOpen):
        second(exchange)
    with pytest.raises(errors.CalcomCircuitOpen):
        container()(exchange)  # a cold container reads it at once
    assert exchange.calls == 0


def test_failures_of_several_containers_add_up_and_one_of_them_opens_it(container, clock, caplog):
    containers = [container() for _ in range(5)]
    for breaker in containers:
        fail(breaker, clock, 1)
    clock.advance(5)  # past every container's view

    for breaker in containers:
        with pytest.raises(errors.CalcomCircuitOpen):
            breaker(Exchange())
    assert sum("Cal.com breaker opened" in r.getMessage() for r in caplog.records) == 1


def test_the_item_is_keyed_by_a_hash_of_the_api_key(container, clock, breaker_module, api_key, stack):
    fail(container(), clock, 1)

    items = breaker_module.BreakerRecord.query(breaker_module.BREAKER_PARTITION)
    keys = [item.lease_key for item in items]
    assert breaker_module.breaker_key(api_key) in keys
    assert not any(api_key in key for key in keys)


# ------------------------------------------------------------------ half-open: one probe


def opened(container, clock) -> None:
    fail(container(), clock, 5, every_s=0)
    clock.advance(30)


def test_after_30_s_exactly_one_of_two_concurrent_callers_probes(container, clock, breaker_module, api_key):
    opened(container, clock)
    first, second = container(), container()
    barrier = threading.Barrier(2)
    finished = [threading.Event(), threading.Event()]
    calls = [0, 0]
    outcomes: list[object] = [None, None]

    def call(index: int, breaker) -> None:
        def exchange() -> dict[str, Any]:
            calls[index] += 1
            finished[1 - index].wait(5)  # the probe is out until the other caller has tried
            return ANSWER

        barrier.wait()
        try:
            outcomes[index] = breaker(exchange)
        except errors.CalcomCircuitOpen as exc:
            outcomes[index] = exc
        finished[index].set()

    threads = [threading.Thread(target=call, args=(i, b)) for i, b in enumerate((first, second))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)

    assert sorted(calls) == [0, 1]
    assert sorted(type(o).__name__ for o in outcomes) == ["CalcomCircuitOpen", "dict"]
    assert shared_state(breaker_module, api_key).state == "closed"


def test_while_the_probe_is_out_every_other_call_is_refused(container, clock):
    opened(container, clock)
    prober, other = container(), container()
    probing, release = threading.Event(), threading.Event()

    def slow_probe() -> dict[str, Any]:
        probing.set()
        release.wait(10)
        return ANSWER

    thread = threading.Thread(target=prober, args=(slow_probe,))
    thread.start()
    assert probing.wait(10)
    exchange = Exchange()
    with pytest.raises(errors.CalcomCircuitOpen):
        other(exchange)
    with pytest.raises(errors.CalcomCircuitOpen):
        prober(exchange)  # the prober's own container too
    release.set()
    thread.join(10)

    assert exchange.calls == 0
    assert prober(Exchange()) == ANSWER  # closed by its probe
    clock.advance(5)  # the other container's view runs out
    assert other(Exchange()) == ANSWER


def test_a_failed_probe_opens_it_for_another_30_s(container, clock, breaker_module, api_key, caplog):
    opened(container, clock)
    breaker = container()
    probe = Exchange(unavailable())
    with pytest.raises(errors.CalcomUnavailable):
        breaker(probe)

    assert probe.calls == 1
    state = shared_state(breaker_module, api_key)
    assert state.state == "open" and state.open_until == pytest.approx(clock.now + 30)
    assert any("re-opened" in r.getMessage() for r in caplog.records)
    clock.advance(29)
    with pytest.raises(errors.CalcomCircuitOpen):
        container()(Exchange())
    clock.advance(1)
    assert container()(Exchange()) == ANSWER  # the next probe, which closes it


def test_a_probe_that_never_reports_frees_the_probe_after_its_lease(container, clock):
    opened(container, clock)
    lost = container(probe_lease_s=15)
    lost._admit()  # claims the probe; its container dies before the answer

    with pytest.raises(errors.CalcomCircuitOpen):
        container()(Exchange())
    clock.advance(15)
    assert container()(Exchange()) == ANSWER


def test_a_slot_taken_answer_to_the_probe_closes_it(container, clock):
    opened(container, clock)
    with pytest.raises(errors.SlotUnavailable):
        container()(Exchange(errors.SlotUnavailable("already has booking at this time", 400)))

    assert container()(Exchange()) == ANSWER


# ------------------------------------------------------------------ the store failing


def test_an_unreadable_store_never_fails_a_cal_com_call(container, breaker_module, clock):
    class Down(breaker_module.BreakerStore):
        def read(self, key: str):
            raise errors.StoreUnavailable("DynamoDB is down")

        def add_failure(self, key: str, now: float):
            raise errors.StoreUnavailable("DynamoDB is down")

    breaker = container(Down())
    fail(breaker, clock, 6)

    assert breaker(Exchange()) == ANSWER
