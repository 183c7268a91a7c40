"""Keeping a long Cal.com job within the rate limit and its time budget.

Cal.com allows 120 requests a minute per API key and answers more with 429 and the seconds until
its window resets (error_mapping.py parses them into `RateLimited.retry_after_s`). A background
job that makes many calls (the team sync) runs its client through a `RequestGuard`
(`CalcomClient.guarded`), which

- paces: a `Pacer` shared by the container's jobs keeps at most `limit` requests in any window
  and, after a 429, holds every request until Cal.com's reset;
- retries a throttled request once the window has reset, and a GET that met Cal.com unavailable
  (5xx, timeout) after a short backoff; writes are never retried on unavailability (their outcome
  is unknown, docs/reference/calcom.md §2.7);
- stops with `DeadlineExceeded` instead of waiting past the job's deadline;
- counts the requests it sent (retries included).

Live request paths (tool calls, the booking saga) do not use it: they answer the caller instead
of waiting. Every request, a guarded job's too, also waits for a permit of the key's rate limit
that all containers share (rate_limit.py, ADR 0027): a job's `Pacer` bounds the share one container
of that job takes, so that live traffic keeps the rest; the shared limiter keeps the total.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from calbridge.errors import CalcomCircuitOpen, CalcomPaced, CalcomUnavailable, DeadlineExceeded, RateLimited
from calbridge.timing import Deadline

CALCOM_REQUESTS_PER_MINUTE = 120  # per API key (docs/reference/calcom.md §1.3)
UNAVAILABLE_BACKOFF_S = (0.5, 2.0)  # a GET that met a 5xx/timeout is tried again after these
MIN_THROTTLED_WAIT_S = 1.0  # a 429 whose reset says 0 s is not retried in a busy loop
MIN_PACED_WAIT_S = 0.1  # likewise for a permit of our own limiter said to be due at once


class Pacer:
    """At most `limit` requests per `window_s` from this container, and none before a known reset.

    Thread-safe; one per container (services/wiring.py) so that successive jobs share it.
    """

    def __init__(
        self,
        limit: int = CALCOM_REQUESTS_PER_MINUTE,
        window_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if limit < 1 or window_s <= 0:
            raise ValueError("limit must be >= 1 and window_s > 0")
        self._limit = limit
        self._window_s = window_s
        self._clock = clock
        self._sent: deque[float] = deque()
        self._blocked_until = 0.0
        self._lock = threading.Lock()

    def delay(self) -> float:
        """Seconds to wait before the next request may go out (0 when it may go now)."""
        with self._lock:
            now = self._clock()
            while self._sent and now - self._sent[0] >= self._window_s:
                self._sent.popleft()
            wait = self._blocked_until - now
            if len(self._sent) >= self._limit:
                wait = max(wait, self._sent[0] + self._window_s - now)
            return max(wait, 0.0)

    def sent(self) -> None:
        with self._lock:
            self._sent.append(self._clock())

    def block_for(self, seconds: float) -> None:
        """Cal.com said 429: nobody in this container asks again before its window resets."""
        with self._lock:
            self._blocked_until = max(self._blocked_until, self._clock() + seconds)


class RequestGuard:
    """The `CalcomClient.guarded` policy of one job: pace, retry, respect the deadline, count."""

    def __init__(
        self,
        deadline: Deadline,
        pacer: Pacer,
        *,
        sleep: Callable[[float], None] = time.sleep,
        unavailable_backoff_s: tuple[float, ...] = UNAVAILABLE_BACKOFF_S,
    ) -> None:
        self._deadline = deadline
        self._pacer = pacer
        self._sleep = sleep
        self._backoff = unavailable_backoff_s
        self.calls = 0  # requests sent, retries included
        self.throttled = 0  # 429 answers waited out

    def __call__(self, method: str, exchange: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        retries = 0
        while True:
            self._wait(self._pacer.delay(), "the container's Cal.com request pacing")
            self._pacer.sent()
            self.calls += 1
            try:
                return exchange()
            except CalcomPaced as exc:
                # Our shared limiter had no permit in time: nothing was sent, Cal.com is fine.
                self.calls -= 1
                self._wait(max(exc.retry_after_s, MIN_PACED_WAIT_S), "the key's shared rate limit", cause=exc)
            except RateLimited as exc:
                self.throttled += 1
                wait = max(exc.retry_after_s, MIN_THROTTLED_WAIT_S)
                self._pacer.block_for(wait)
                self._wait(wait, "Cal.com's rate limit", cause=exc)
            except CalcomCircuitOpen:
                raise  # nothing was sent: retrying would only meet the open breaker again
            except CalcomUnavailable as exc:
                if method != "GET" or retries >= len(self._backoff):
                    raise
                self._wait(self._backoff[retries], "a retry after Cal.com was unavailable", cause=exc)
                retries += 1

    def _wait(self, seconds: float, why: str, cause: Exception | None = None) -> None:
        if seconds <= 0:
            if self._deadline.expired:
                raise DeadlineExceeded("the job's deadline passed before its next Cal.com request")
            return
        if seconds >= self._deadline.remaining():
            raise DeadlineExceeded(
                f"waiting {seconds:.1f} s for {why} would pass the job's deadline "
                f"({self._deadline.remaining():.1f} s left)"
            ) from cause
        self._sleep(seconds)
