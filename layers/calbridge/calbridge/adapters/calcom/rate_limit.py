"""Cal.com's per-key rate limit, kept by every container together through DynamoDB (docs/adr/0027).

Cal.com allows 120 requests per 60 s per API key and blocks the key for 60 s on the request over
it (docs/reference/calcom.md §1.3); the companies on the platform key share it, a company with
its own key (docs/adr/0030) has its own budget, kept under that key's hash. Its window starts at the
key's first request, not on the minute, so what must hold is: no 60 s interval, wherever it
starts, carries more than `limit` of our requests (default 100: headroom for clock skew, the
network and anyone else using the key).

The algorithm is GCRA (a virtual-scheduling token bucket) on one item per key: `tat` is the time
at which the key's budget is whole again. Taking `n` permits at `now` moves it to
`max(tat, now) + n * interval_s` and is allowed while that is at most `now + burst * interval_s`.
A container takes a small batch per conditional UpdateItem and must send them within
`PERMIT_S` (else they lapse unused). Over any 60 s, sends were granted within 60 + PERMIT_S s,
and grants there move `tat` by at most that span plus the burst, so with
`interval_s = (60 + PERMIT_S) / (limit - burst)` they number at most `limit`.

The two conditional writes need no read: "the key is idle" sets `tat = now + n * interval_s`
(condition `tat <= now`), "the key is busy" adds `n * interval_s` (condition
`now < tat <= now + (burst - n) * interval_s`). A container tries the one its last view suggests.
Only when neither fits does it read `tat` (one GetItem): to take the fewer permits that fit, or
to know how long to wait for one.

A caller waits for a permit at most its `max_wait_s` (a tool's time left, else
`CALCOM_RATE_WAIT_S`), then gets `CalcomPaced` (a `RateLimited`: nothing was sent) with the seconds
until a permit is due. A store failure never fails a Cal.com call: the request goes out
unpaced (logged). The item lives beside the breaker's in LeasesTable (partition `#calcom`).
"""

from __future__ import annotations

import copy
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Self

from aws_lambda_powertools.metrics import MetricUnit
from pydantic import BaseModel, ConfigDict, Field, model_validator
from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.exceptions import DoesNotExist, PynamoDBException
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action
from pynamodb.models import Model

from calbridge.adapters.calcom.breaker import BREAKER_PARTITION, RETENTION_S, api_key_hash
from calbridge.adapters.store.models import _Meta as StoreMeta
from calbridge.adapters.store.models import conditional_write
from calbridge.config import Settings, get_settings
from calbridge.errors import CalcomPaced, StoreUnavailable
from calbridge.observability import logger, metrics

WINDOW_S = 60.0
"""Cal.com's rate-limit window (RATE_LIMIT_DEFAULT_TTL_MS, docs/reference/calcom.md §1.3)."""
PERMIT_S = 1.0
"""How long a container may hold a permit before sending: a fan-out's requests start together."""
CLOCK_SLACK_S = 10.0
"""A `tat` further ahead than the burst and this can only come from a clock that jumped back (a
container's `now` is never that far behind the one that wrote it): it is taken as idle."""
_ROUNDING_S = 0.001
"""Epoch seconds as floats are exact to ~1e-7 s only: a permit that fits exactly must not miss."""
_UNAVAILABLE = "the Cal.com rate limit's store is unavailable"


class RatePolicy(BaseModel):
    """How many requests the key may carry in any 60 s, and how they are handed out."""

    model_config = ConfigDict(frozen=True)

    limit: int = Field(default=100, ge=2)
    burst: int = Field(default=10, ge=1)
    batch: int = Field(default=4, ge=1)
    wait_s: float = Field(default=5.0, ge=0)

    @model_validator(mode="after")
    def _fits(self) -> Self:
        if not self.batch <= self.burst < self.limit:
            raise ValueError("the Cal.com rate limit needs batch <= burst < limit")
        return self

    @property
    def interval_s(self) -> float:
        """One permit's share of time: see the module's docstring for why this keeps the limit."""
        return (WINDOW_S + PERMIT_S) / (self.limit - self.burst)

    @property
    def tolerance_s(self) -> float:
        return self.burst * self.interval_s

    @classmethod
    def from_settings(cls, settings: Settings) -> Self:
        return cls(
            limit=settings.calcom_rate_limit,
            burst=settings.calcom_rate_burst,
            batch=settings.calcom_rate_batch,
            wait_s=settings.calcom_rate_wait_s,
        )


class RateRecord(Model):
    """One key's budget in LeasesTable (company_id = BREAKER_PARTITION, lease_key = ratelimit#<hash>)."""

    class Meta(StoreMeta):
        table_name = get_settings().leases_table

    company_id = UnicodeAttribute(hash_key=True)
    lease_key = UnicodeAttribute(range_key=True)
    tat = NumberAttribute(null=True)  # epoch seconds at which the key's whole burst is free again
    expires_at = NumberAttribute()  # the table's TTL attribute


@dataclass(frozen=True)
class Grant:
    """What a take came to: `granted` permits (0: none fitted), and `tat` as the store has it."""

    granted: int
    tat: float


class RateStore:
    """The key's `tat`: two conditional UpdateItems (idle, busy) and a read when neither fits."""

    def take(self, key: str, wanted: int, now: float, policy: RatePolicy, *, busy: bool) -> Grant:
        """Up to `wanted` permits at `now`; `busy` says which write to try first (the last view)."""
        attempts = (self._take_busy, self._take_idle) if busy else (self._take_idle, self._take_busy)
        for attempt in attempts:
            tat = attempt(key, wanted, now, policy)
            if tat is not None:
                return Grant(wanted, tat)
        tat = self.read(key)
        if tat > now + policy.tolerance_s + CLOCK_SLACK_S:
            return Grant(0, now)  # the clock jumped back: the idle write takes it next time
        fits = math.floor((now + policy.tolerance_s - max(tat, now) + _ROUNDING_S) / policy.interval_s)
        if 1 <= fits < wanted:
            taken = (self._take_idle if tat <= now else self._take_busy)(key, fits, now, policy)
            if taken is not None:
                return Grant(fits, taken)
        return Grant(0, tat)

    def read(self, key: str) -> float:
        try:
            return float(RateRecord.get(BREAKER_PARTITION, key, consistent_read=True).tat or 0.0)
        except DoesNotExist:
            return 0.0
        except PynamoDBException as exc:
            raise StoreUnavailable(_UNAVAILABLE) from exc

    @staticmethod
    def _take_idle(key: str, wanted: int, now: float, policy: RatePolicy) -> float | None:
        jumped = RateRecord.tat > now + policy.tolerance_s + CLOCK_SLACK_S
        idle = RateRecord.tat.does_not_exist() | (RateRecord.tat <= now) | jumped
        return _write(key, [RateRecord.tat.set(now + wanted * policy.interval_s)], idle, now)

    @staticmethod
    def _take_busy(key: str, wanted: int, now: float, policy: RatePolicy) -> float | None:
        room = now + policy.tolerance_s - wanted * policy.interval_s + _ROUNDING_S
        busy = (RateRecord.tat > now) & (RateRecord.tat <= room)
        return _write(key, [RateRecord.tat.add(wanted * policy.interval_s)], busy, now)


def _write(key: str, actions: list[Action], condition: Condition, now: float) -> float | None:
    """One conditional UpdateItem: the new `tat`, or None when its condition did not hold."""
    record = RateRecord(BREAKER_PARTITION, key)
    every = [*actions, RateRecord.expires_at.set(int(now) + RETENTION_S)]
    written = conditional_write(
        lambda: record.update(actions=every, condition=condition), unavailable=_UNAVAILABLE
    )
    return float(record.tat) if written and record.tat is not None else None


def rate_limit_key(api_key: str) -> str:
    """The item's sort key: a hash of the API key, never the key itself."""
    return "ratelimit#" + api_key_hash(api_key)


@dataclass
class _KeyPermits:
    """This container's permits and view of one key's budget."""

    taking: threading.Lock = field(default_factory=threading.Lock)  # one batch from the store at a time
    permits: int = 0
    permits_until: float = 0.0
    wanted: int = 1  # the next batch: grows while batches are used up, shrinks when they lapse
    demand: int = 0  # callers in this container waiting for a permit of the key now
    tat_seen: float = 0.0
    episode: bool = False  # a wait already logged, until a caller gets a permit at once


class CalcomRateLimiter:
    """Hands out the container's share of the key's permits (`CalcomClient(rate_limiter=...)`).

    Thread-safe; one per container (services/wiring.py): a fan-out's requests share one batch,
    and one thread at a time takes a batch from the store while the others wait for it. Each key
    (the platform's, a company's own: `for_key`) has its own permits, batch and wait: one key's
    exhausted budget never holds back another's requests.
    """

    def __init__(
        self,
        store: RateStore,
        api_key_provider: Callable[[], str],
        policy: RatePolicy | None = None,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._store = store
        self._api_key = api_key_provider
        self._policy = policy or RatePolicy()
        self._clock = clock  # wall clock: `tat` is compared across containers
        self._sleep = sleep
        self._lock = threading.Lock()  # every key's _KeyPermits fields
        self._by_key: dict[str, _KeyPermits] = {}
        self._keys: dict[str, str] = {}

    @property
    def policy(self) -> RatePolicy:
        return self._policy

    def for_key(self, api_key_provider: Callable[[], str]) -> Self:
        """A view of this limiter for the key `api_key_provider` gives (a company's own): it shares
        this one's per-key permits, so every view of the same key draws on one batch."""
        view = copy.copy(self)
        view._api_key = api_key_provider
        return view

    def acquire(self, max_wait_s: float | None = None) -> float:
        """One permit for one request, waiting at most `max_wait_s` (default: the policy's
        wait_s); the seconds waited. Raises CalcomPaced when none is due within that time."""
        budget = self._policy.wait_s if max_wait_s is None else max(max_wait_s, 0.0)
        started = self._clock()
        key = self._key()
        with self._lock:
            local = self._by_key.setdefault(key, _KeyPermits())
            local.demand += 1
        waited = False
        try:
            while True:
                if self._take_local(local):
                    return self._granted(local, started, waited)
                left = started + budget - self._clock()
                if not local.taking.acquire(timeout=max(left, 0.0)):
                    raise self._refused(local, self._due_in(local, self._clock()), budget)
                try:
                    if self._take_local(local):
                        return self._granted(local, started, waited)
                    due_in = self._take_batch(key, local)
                finally:
                    local.taking.release()
                if due_in is None:
                    return self._granted(local, started, waited)
                if due_in > started + budget - self._clock():
                    raise self._refused(local, due_in, budget)
                self._episode_starts(local, due_in)
                waited = True
                self._sleep(due_in)
        finally:
            with self._lock:
                local.demand -= 1

    def forget(self) -> None:
        """Drop this container's permits and views of every key (tests that empty the tables)."""
        with self._lock:
            for local in self._by_key.values():
                local.permits, local.permits_until, local.tat_seen, local.wanted = 0, 0.0, 0.0, 1

    # ------------------------------------------------------------------ permits

    def _take_local(self, local: _KeyPermits) -> bool:
        with self._lock:
            now = self._clock()
            if local.permits > 0 and now < local.permits_until:
                local.permits -= 1
                if local.permits == 0:  # the batch was used up in time: a bigger one next time
                    local.wanted = min(local.wanted * 2, self._policy.batch)
                return True
            if local.permits > 0:  # lapsed unused: this container needs fewer at a time
                local.wanted = max(1, local.wanted - local.permits)
                local.permits = 0
            return False

    def _take_batch(self, key: str, local: _KeyPermits) -> float | None:
        """Take a batch from the store, keeping one permit for the caller: None when taken, else
        the seconds until one is due. A store failure lets the request go unpaced."""
        now = self._clock()
        with self._lock:
            wanted = min(max(local.wanted, local.demand), self._policy.batch)
            busy = local.tat_seen > now
        try:
            grant = self._store.take(key, wanted, now, self._policy, busy=busy)
        except StoreUnavailable:
            logger.warning("Cal.com rate limit unreadable: this request goes out unpaced")
            return None
        with self._lock:
            local.tat_seen = grant.tat
            if grant.granted == 0:
                return self._due_in(local, now)
            local.permits = grant.granted - 1
            local.permits_until = now + PERMIT_S
            if local.permits == 0 and grant.granted == wanted:
                local.wanted = min(local.wanted * 2, self._policy.batch)
        return None

    def _due_in(self, local: _KeyPermits, now: float) -> float:
        """Seconds until one permit fits, from the last view of `tat` (never a busy loop)."""
        due = local.tat_seen + self._policy.interval_s - self._policy.tolerance_s - now
        return max(due, 0.01)

    # ------------------------------------------------------------------ logs, metrics, keys

    def _granted(self, local: _KeyPermits, started: float, waited: bool) -> float:
        if not waited:  # a permit at once: whatever wait episode there was is over
            with self._lock:
                local.episode = False
        return self._clock() - started

    def _episode_starts(self, local: _KeyPermits, due_in: float) -> None:
        """One warning per wait episode of a key (from the first caller kept waiting or refused to
        the next one served at once), however many callers wait in it."""
        with self._lock:
            first, local.episode = not local.episode, True
        if first:
            logger.warning(
                "Cal.com rate limit reached: requests wait for a permit",
                due_in_s=round(due_in, 2),
                limit=self._policy.limit,
                window_s=WINDOW_S,
            )

    def _refused(self, local: _KeyPermits, due_in: float, budget: float) -> CalcomPaced:
        self._episode_starts(local, due_in)
        metrics.add_metric(name="CalcomPaced", unit=MetricUnit.Count, value=1)
        return CalcomPaced(
            f"not sent: Cal.com's rate limit ({self._policy.limit} a minute) has no permit "
            f"due within {budget:.1f} s",
            retry_after_s=due_in,
        )

    def _key(self) -> str:
        api_key = self._api_key()
        with self._lock:
            key = self._keys.get(api_key)
            if key is None:
                key = self._keys[api_key] = rate_limit_key(api_key)
        return key
