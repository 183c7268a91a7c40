"""A circuit breaker for Cal.com, shared by every container through DynamoDB (docs/adr/0022).

The seeds' numbers (docs/seeds/phases-3-8-quality-roadmap.md, Phase 3 "circuit_breaker"): it
opens after 5 failures within 60 s, lets one probe through after 30 s (half-open), and the probe's
answer closes it or opens it for another 30 s. One breaker per Cal.com API key (every company
on that key shares its rate limit and its outages; a company with its own key has its own
breaker, docs/adr/0030), keyed by a hash of the key.

What counts as a failure: Cal.com unavailable (5xx, timeout, connection error, an answer that is no
JSON object: `CalcomUnavailable`) and `RateLimited`. An answer about our request (`SlotUnavailable`,
`CalcomRejected`, `CalcomContractError`) shows Cal.com working and never counts.

Cost on the hot path: a container trusts its view of the shared state for `cache_s` (5 s) and
reads it (one GetItem) only when that view is older and it is about to call Cal.com; a success
writes nothing. Writes happen on failures (one UpdateItem that also returns the state) and on
state changes (conditional UpdateItems: exactly one container opens, claims the probe, closes).
While open, a call raises `CalcomCircuitOpen` at once, without any network I/O.

The state lives in LeasesTable, the table of short-lived coordination items with an owner and a
TTL, under a partition no company id can name (`#calcom`: company ids never hold `#`), sort key
`breaker#<sha256 of the key, 32 hex>`. A store failure never fails a Cal.com call: the breaker
then keeps its last view (logged).
"""

from __future__ import annotations

import copy
import hashlib
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Self, TypeGuard

from aws_lambda_powertools.metrics import MetricUnit
from pydantic import BaseModel, ConfigDict, Field
from pynamodb.attributes import ListAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.exceptions import DoesNotExist, PynamoDBException
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action
from pynamodb.models import Model

from calbridge.adapters.store.models import _Meta as StoreMeta
from calbridge.adapters.store.models import conditional_write
from calbridge.config import Settings, get_settings
from calbridge.errors import (
    CalcomCircuitOpen,
    CalcomError,
    CalcomPaced,
    CalcomUnavailable,
    RateLimited,
    StoreUnavailable,
)
from calbridge.observability import logger, metrics

BREAKER_PARTITION = "#calcom"
"""LeasesTable's partition of the breakers: no company id matches it (domain/models.py _ID)."""
RETENTION_S = 86400
"""TTL of a breaker item after its last write: far beyond any open period; only tidies up."""
_UNAVAILABLE = "the Cal.com breaker's store is unavailable"

State = Literal["closed", "open"]


class BreakerPolicy(BaseModel):
    """The seeds' numbers by default; `cache_s` is how long a container trusts its view."""

    model_config = ConfigDict(frozen=True)

    failures: int = Field(default=5, ge=1)
    window_s: float = Field(default=60.0, gt=0)
    cooldown_s: float = Field(default=30.0, gt=0)
    cache_s: float = Field(default=5.0, ge=0)
    probe_lease_s: float = Field(default=15.0, gt=0)

    @classmethod
    def from_settings(cls, settings: Settings) -> Self:
        # A probe that never reports (its container died) frees the probe after one request's time.
        return cls(
            failures=settings.calcom_breaker_failures,
            window_s=settings.calcom_breaker_window_s,
            cooldown_s=settings.calcom_breaker_cooldown_s,
            cache_s=settings.calcom_breaker_cache_s,
            probe_lease_s=settings.calcom_connect_timeout_s + settings.calcom_read_timeout_s + 2,
        )


class BreakerState(BaseModel):
    """The shared state of one key's breaker. Half-open is derived: open and past `open_until`."""

    model_config = ConfigDict(frozen=True)

    state: State = "closed"
    generation: int = 0  # +1 on every open and close: transitions are conditioned on it
    failures: tuple[float, ...] = ()  # epoch seconds of the failures seen while closed
    open_until: float | None = None
    probe_owner: str | None = None
    probe_until: float | None = None

    def recent_failures(self, now: float, window_s: float) -> int:
        return sum(1 for at in self.failures if now - window_s < at <= now)

    def rejects(self, now: float) -> bool:
        """Open and still cooling down, or half-open with another container's probe out."""
        if self.state != "open":
            return False
        if self.open_until is not None and now < self.open_until:
            return True
        return self.probe_until is not None and now < self.probe_until


class BreakerRecord(Model):
    """One breaker in LeasesTable (company_id = BREAKER_PARTITION, lease_key = breaker#<hash>)."""

    class Meta(StoreMeta):
        table_name = get_settings().leases_table

    company_id = UnicodeAttribute(hash_key=True)
    lease_key = UnicodeAttribute(range_key=True)
    state = UnicodeAttribute(default="closed")
    generation = NumberAttribute(default=0)
    failures = ListAttribute(of=NumberAttribute, default=list)
    opened_at = NumberAttribute(null=True)
    open_until = NumberAttribute(null=True)
    probe_owner = UnicodeAttribute(null=True)
    probe_until = NumberAttribute(null=True)
    expires_at = NumberAttribute()  # the table's TTL attribute

    def to_state(self) -> BreakerState:
        return BreakerState(
            state="open" if self.state == "open" else "closed",
            generation=int(self.generation or 0),
            failures=tuple(float(at) for at in self.failures or ()),
            open_until=self.open_until,
            probe_owner=self.probe_owner,
            probe_until=self.probe_until,
        )


class BreakerStore:
    """The breakers' items: one read, one atomic append per failure, conditional transitions.

    Every transition is conditioned on the generation it saw, so of two containers deciding the
    same thing at once exactly one writes (and logs and counts it); the other learns by reading.
    """

    def read(self, key: str) -> BreakerState:
        try:
            return BreakerRecord.get(BREAKER_PARTITION, key, consistent_read=True).to_state()
        except DoesNotExist:
            return BreakerState()
        except PynamoDBException as exc:
            raise StoreUnavailable(_UNAVAILABLE) from exc

    def add_failure(self, key: str, now: float) -> BreakerState:
        """Append one failure (creating the item closed if absent); the state after it."""
        record = BreakerRecord(BREAKER_PARTITION, key)
        try:
            record.update(
                actions=[
                    BreakerRecord.failures.set((BreakerRecord.failures | []).append([now])),
                    BreakerRecord.state.set(BreakerRecord.state | "closed"),
                    BreakerRecord.generation.set(BreakerRecord.generation | 0),
                    BreakerRecord.expires_at.set(int(now) + RETENTION_S),
                ]
            )
        except PynamoDBException as exc:
            raise StoreUnavailable(_UNAVAILABLE) from exc
        return record.to_state()

    def keep_failures(self, key: str, seen: BreakerState, kept: list[float], now: float) -> bool:
        """Drop failures older than the window, unless another failure came in meanwhile."""
        unchanged = (BreakerRecord.generation == seen.generation) & (
            BreakerRecord.failures.size() == len(seen.failures)
        )
        return _transition(key, [BreakerRecord.failures.set(kept)], unchanged, now)

    def open(self, key: str, seen: BreakerState, now: float, until: float) -> bool:
        """closed -> open, by exactly one of the containers that saw the same closed state."""
        actions = [
            BreakerRecord.state.set("open"),
            BreakerRecord.generation.set(seen.generation + 1),
            BreakerRecord.failures.set([]),
            BreakerRecord.opened_at.set(now),
            BreakerRecord.open_until.set(until),
            BreakerRecord.probe_owner.remove(),
            BreakerRecord.probe_until.remove(),
        ]
        still_closed = (BreakerRecord.state == "closed") & (BreakerRecord.generation == seen.generation)
        return _transition(key, actions, still_closed, now)

    def claim_probe(self, key: str, seen: BreakerState, owner: str, now: float, until: float) -> bool:
        """half-open: the one request that may go to Cal.com; a conditional write claims it."""
        actions = [BreakerRecord.probe_owner.set(owner), BreakerRecord.probe_until.set(until)]
        free = BreakerRecord.probe_until.does_not_exist() | (BreakerRecord.probe_until <= now)
        cooled_down = (
            (BreakerRecord.state == "open")
            & (BreakerRecord.generation == seen.generation)
            & (BreakerRecord.open_until <= now)
        )
        return _transition(key, actions, cooled_down & free, now)

    def close(self, key: str, seen: BreakerState, owner: str, now: float) -> bool:
        """The probe succeeded: closed, with no failures counted."""
        actions = [
            BreakerRecord.state.set("closed"),
            BreakerRecord.generation.set(seen.generation + 1),
            BreakerRecord.failures.set([]),
            BreakerRecord.opened_at.remove(),
            BreakerRecord.open_until.remove(),
            BreakerRecord.probe_owner.remove(),
            BreakerRecord.probe_until.remove(),
        ]
        return _transition(key, actions, _probe_of(seen, owner), now)

    def reopen(self, key: str, seen: BreakerState, owner: str, now: float, until: float) -> bool:
        """The probe failed: open for another cool-down."""
        actions = [
            BreakerRecord.generation.set(seen.generation + 1),
            BreakerRecord.opened_at.set(now),
            BreakerRecord.open_until.set(until),
            BreakerRecord.probe_owner.remove(),
            BreakerRecord.probe_until.remove(),
        ]
        return _transition(key, actions, _probe_of(seen, owner), now)


def _probe_of(seen: BreakerState, owner: str) -> Condition:
    return (BreakerRecord.generation == seen.generation) & (BreakerRecord.probe_owner == owner)


def _transition(key: str, actions: list[Action], condition: Condition, now: float) -> bool:
    """One conditional UpdateItem: True when written, False when another container was first."""
    record = BreakerRecord(BREAKER_PARTITION, key)
    every = [*actions, BreakerRecord.expires_at.set(int(now) + RETENTION_S)]
    return conditional_write(
        lambda: record.update(actions=every, condition=condition), unavailable=_UNAVAILABLE
    )


def api_key_hash(api_key: str) -> str:
    """What names the key's items (this breaker, the rate limit): 32 hex of its SHA-256."""
    return hashlib.sha256(api_key.encode()).hexdigest()[:32]


def breaker_key(api_key: str) -> str:
    """The item's sort key: a hash of the API key, never the key itself."""
    return "breaker#" + api_key_hash(api_key)


@dataclass
class _View:
    """What this container knows of one breaker, and when it read (or wrote) it."""

    state: BreakerState
    seen_at: float


@dataclass(frozen=True)
class _Admission:
    key: str
    state: BreakerState
    probe: bool


class CalcomBreaker:
    """Wraps every Cal.com exchange of a client (`CalcomClient(breaker=...)`). Thread-safe; one per
    container (services/wiring.py), so that the container's requests share one view."""

    def __init__(
        self,
        store: BreakerStore,
        api_key_provider: Callable[[], str],
        policy: BreakerPolicy | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._api_key = api_key_provider
        self._policy = policy or BreakerPolicy()
        self._clock = clock  # wall clock: the shared state's times are compared across containers
        self._owner = uuid.uuid4().hex  # this container, as the owner of a probe
        self._views: dict[str, _View] = {}
        self._keys: dict[str, str] = {}
        self._lock = threading.Lock()
        self._refreshing = threading.Lock()

    def __call__(self, exchange: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        admission = self._admit()
        try:
            answer = exchange()
        except CalcomPaced:
            # Our own rate limit kept the request back: Cal.com was not asked, so this says
            # nothing about it (a probe's claim then runs out).
            raise
        except (CalcomUnavailable, RateLimited) as exc:
            self._failed(admission, exc)
            raise
        except CalcomError:
            # An answer about our request (a taken slot, a 4xx) shows Cal.com working. Anything
            # else (our secret unreadable) never reached it: a probe's claim then runs out.
            self._succeeded(admission)
            raise
        self._succeeded(admission)
        return answer

    def for_key(self, api_key_provider: Callable[[], str]) -> Self:
        """A view of this breaker for the key `api_key_provider` gives (a company's own,
        docs/adr/0030): it shares this one's views, each kept under its key's hash, so one key's
        open breaker never refuses another key's calls."""
        view = copy.copy(self)
        view._api_key = api_key_provider
        return view

    def forget(self) -> None:
        """Drop this container's views (tests that empty the tables)."""
        with self._lock:
            self._views.clear()

    # ------------------------------------------------------------------ the state machine

    def _admit(self) -> _Admission:
        key, now = self._key(), self._clock()
        state = self._view(key, now)
        if state.state == "closed":
            return _Admission(key, state, probe=False)
        if state.rejects(now):
            raise self._rejected(state, now)
        until = now + self._policy.probe_lease_s
        if not self._write(lambda: self._store.claim_probe(key, state, self._owner, now, until)):
            # Another container probes (or the state moved on): ask the store next time.
            self._remember(key, state.model_copy(update={"probe_until": now + self._policy.cache_s}), now)
            raise self._rejected(state, now)
        probing = state.model_copy(update={"probe_owner": self._owner, "probe_until": until})
        self._remember(key, probing, now)
        logger.info("Cal.com breaker half-open: this request is the probe", breaker=key)
        return _Admission(key, probing, probe=True)

    def _failed(self, admission: _Admission, error: Exception) -> None:
        key, now = admission.key, self._clock()
        cooldown = max(self._policy.cooldown_s, getattr(error, "retry_after_s", 0.0))
        if admission.probe:
            seen = admission.state
            if self._write(lambda: self._store.reopen(key, seen, self._owner, now, now + cooldown)):
                self._opened(key, admission.state, now, now + cooldown, error, reopened=True)
            else:
                self._stale(key)
            return
        try:
            state = self._store.add_failure(key, now)
        except StoreUnavailable:
            logger.warning("Cal.com breaker could not record a failure", breaker=key)
            return
        self._remember(key, state, now)
        if state.state != "closed":
            return
        recent = state.recent_failures(now, self._policy.window_s)
        if recent >= self._policy.failures:
            if self._write(lambda: self._store.open(key, state, now, now + cooldown)):
                self._opened(key, state, now, now + cooldown, error, reopened=False, failures=recent)
            else:
                self._stale(key)
        elif len(state.failures) > 2 * self._policy.failures:
            kept = [at for at in state.failures if at > now - self._policy.window_s]
            self._write(lambda: self._store.keep_failures(key, state, kept, now))

    def _succeeded(self, admission: _Admission) -> None:
        if not admission.probe:
            return  # a success while closed writes nothing
        key, now = admission.key, self._clock()
        if self._write(lambda: self._store.close(key, admission.state, self._owner, now)):
            self._remember(key, BreakerState(generation=admission.state.generation + 1), now)
            logger.info("Cal.com breaker closed: the probe succeeded", breaker=key)
            metrics.add_metric(name="CalcomBreakerClosed", unit=MetricUnit.Count, value=1)
        else:
            self._stale(key)

    def _opened(
        self,
        key: str,
        seen: BreakerState,
        now: float,
        until: float,
        error: Exception,
        *,
        reopened: bool,
        failures: int | None = None,
    ) -> None:
        self._remember(key, BreakerState(state="open", generation=seen.generation + 1, open_until=until), now)
        logger.warning(
            "Cal.com breaker re-opened: the probe failed" if reopened else "Cal.com breaker opened",
            breaker=key,
            failures=failures,
            window_s=self._policy.window_s,
            open_for_s=round(until - now, 1),
            error=type(error).__name__,
            status=getattr(error, "status_code", None),
        )
        metrics.add_metric(name="CalcomBreakerOpen", unit=MetricUnit.Count, value=1)
        if reopened:  # open beyond one cool-down: the seeds page on-call for that (the alarm)
            metrics.add_metric(name="CalcomBreakerReopened", unit=MetricUnit.Count, value=1)

    def _rejected(self, state: BreakerState, now: float) -> CalcomCircuitOpen:
        metrics.add_metric(name="CalcomBreakerRejected", unit=MetricUnit.Count, value=1)
        resumes_at = max(state.open_until or now, state.probe_until or now)
        return CalcomCircuitOpen(
            "Cal.com is failing: its calls are paused (circuit breaker open)",
            retry_after_s=max(resumes_at - now, 0.0),
        )

    # ------------------------------------------------------------------ views and keys

    def _view(self, key: str, now: float) -> BreakerState:
        view = self._known(key)
        if self._fresh(view, now):
            return view.state
        # One read per container when the view runs out: the requests that find it stale at the
        # same moment (a booking's parallel holds) wait for that read instead of each making one.
        with self._refreshing:
            now = max(now, self._clock())
            view = self._known(key)
            if self._fresh(view, now):
                return view.state
            try:
                state = self._store.read(key)
            except StoreUnavailable:
                logger.warning("Cal.com breaker state unreadable: keeping the last view", breaker=key)
                state = view.state if view is not None else BreakerState()
            self._remember(key, state, now)
            return state

    def _known(self, key: str) -> _View | None:
        with self._lock:
            return self._views.get(key)

    def _fresh(self, view: _View | None, now: float) -> TypeGuard[_View]:
        """Younger than cache_s (a clock that went back makes a view stale too)."""
        return view is not None and view.seen_at <= now < view.seen_at + self._policy.cache_s

    def _remember(self, key: str, state: BreakerState, now: float) -> None:
        with self._lock:
            self._views[key] = _View(state, now)

    def _stale(self, key: str) -> None:
        """A transition lost to another container: read the store on the next call."""
        with self._lock:
            self._views.pop(key, None)

    def _key(self) -> str:
        api_key = self._api_key()
        with self._lock:
            key = self._keys.get(api_key)
            if key is None:
                key = self._keys[api_key] = breaker_key(api_key)
        return key

    @staticmethod
    def _write(write: Callable[[], bool]) -> bool:
        """A transition's conditional write; a store failure counts as lost (logged)."""
        try:
            return write()
        except StoreUnavailable:
            logger.warning("Cal.com breaker could not write a state change")
            return False
