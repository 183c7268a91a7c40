"""Fault injection, the per-key rate limiter and the request log of the Cal.com stand-in."""

from __future__ import annotations

import fnmatch
import math
import threading
import time
from dataclasses import asdict, dataclass
from typing import Any

FAULT_KINDS = ("5xx", "4xx", "429", "timeout", "latency")
FIVE_XX = (500, 502, 503, 504)
FOUR_XX = (400, 403, 404, 409, 422)


@dataclass
class FaultRule:
    """One rule of ``POST /_standin/faults``.

    ``endpoint``: ``"*"``, ``"<METHOD> <path pattern>"`` or a bare path pattern (any method); the
    pattern is an fnmatch glob on the path without query (``/v2/bookings`` is exact,
    ``/v2/bookings/*/cancel`` or ``/v2/bookings*`` match more), ``*`` as method = any.
    ``nth`` (1-based, counted from when the rule was set) fires on the n-th matching call only, or
    on ``times`` calls starting there; without ``nth`` the rule fires on the first ``times`` calls
    (unlimited when ``times`` is absent). ``phase`` ``"after"`` processes the request first and
    then replaces the answer (a booking exists although the client saw a 5xx or a timeout).
    """

    id: int
    endpoint: str
    fault: str
    method: str | None
    pattern: str
    status: int | None = None
    latency_ms: int = 0
    sleep_s: float = 30.0
    reset_s: int = 60
    nth: int | None = None
    times: int | None = None
    phase: str = "before"
    body: str = "envelope"
    message: str | None = None  # 4xx: Cal.com's error.message to answer with
    code: str | None = None  # 4xx: error.code (default: the Nest exception of the status)
    seen: int = 0
    fired: int = 0

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and self.method != method:
            return False
        return self.pattern == "*" or fnmatch.fnmatchcase(path, self.pattern)

    def consider(self, method: str, path: str) -> bool:
        """Count a call; True when this call is one the rule fires on."""
        if not self.matches(method, path):
            return False
        self.seen += 1
        if self.nth is not None:
            fire = self.nth <= self.seen < self.nth + (self.times or 1)
        else:
            fire = self.times is None or self.fired < self.times
        if fire:
            self.fired += 1
        return fire

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("method")
        out.pop("pattern")
        return out


def parse_rule(raw: object, rule_id: int) -> FaultRule:
    if not isinstance(raw, dict):
        raise ValueError(f"a fault rule must be an object, got {raw!r}")
    endpoint = str(raw.get("endpoint", "*")).strip() or "*"
    parts = endpoint.split(None, 1)
    if endpoint == "*":
        method, pattern = None, "*"
    elif len(parts) == 2:
        method, pattern = (None if parts[0] == "*" else parts[0].upper()), parts[1]
    else:
        method, pattern = None, parts[0]
    fault = str(raw.get("fault", ""))
    if fault not in FAULT_KINDS:
        raise ValueError(f"fault must be one of {', '.join(FAULT_KINDS)}")
    status = raw.get("status")
    if fault == "5xx":
        status = int(status or 500)
        if status not in FIVE_XX:
            raise ValueError(f"status of a 5xx fault must be one of {FIVE_XX}")
    elif fault == "4xx":
        status = int(status or 400)
        if status not in FOUR_XX:
            raise ValueError(f"status of a 4xx fault must be one of {FOUR_XX}")
        if not raw.get("message"):
            raise ValueError("a 4xx fault needs the message Cal.com answers with")
    elif fault == "429":
        status = 429
    elif fault == "timeout":
        status = 504
    nth, times = raw.get("nth"), raw.get("times")
    if nth is not None and int(nth) < 1:
        raise ValueError("nth is 1-based")
    if times is not None and int(times) < 1:
        raise ValueError("times must be at least 1")
    if fault == "latency" and raw.get("latency_ms") is None:
        raise ValueError("a latency fault needs latency_ms")
    phase = str(raw.get("phase", "before"))
    if phase not in ("before", "after"):
        raise ValueError("phase must be 'before' or 'after'")
    body = str(raw.get("body", "envelope"))
    if body not in ("envelope", "raw", "html"):
        raise ValueError("body must be 'envelope', 'raw' or 'html'")
    return FaultRule(
        id=rule_id,
        endpoint=endpoint,
        fault=fault,
        method=method,
        pattern=pattern,
        status=status,
        latency_ms=int(raw.get("latency_ms") or 0),
        sleep_s=float(raw.get("sleep_s", 30.0)),
        reset_s=int(raw.get("reset_s", 60)),
        nth=int(nth) if nth is not None else None,
        times=int(times) if times is not None else None,
        phase=phase,
        body=body,
        message=str(raw["message"]) if raw.get("message") is not None else None,
        code=str(raw["code"]) if raw.get("code") is not None else None,
    )


class FaultInjector:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: list[FaultRule] = []
        self._next_id = 1

    def set(self, raw_rules: list[Any]) -> list[FaultRule]:
        """Replace all rules (counters start from zero)."""
        rules = []
        with self._lock:
            for raw in raw_rules:
                rules.append(parse_rule(raw, self._next_id))
                self._next_id += 1
            self._rules = rules
        return rules

    def add(self, raw_rules: list[Any]) -> list[FaultRule]:
        with self._lock:
            added = []
            for raw in raw_rules:
                added.append(parse_rule(raw, self._next_id))
                self._next_id += 1
            self._rules.extend(added)
        return added

    def clear(self) -> None:
        with self._lock:
            self._rules = []

    def rules(self) -> list[dict[str, Any]]:
        with self._lock:
            return [r.to_dict() for r in self._rules]

    def pick(self, method: str, path: str) -> list[FaultRule]:
        """Rules firing on this call (every matching rule counts the call)."""
        with self._lock:
            return [r for r in self._rules if r.consider(method, path)]


class RateLimiter:
    """Cal.com's CustomThrottlerGuard (apps/api/v2/src/lib/throttler/throttler-guard.ts): ``limit``
    requests per ``window_s`` per key (the API key, else the client address); the request over the
    limit blocks the key for ``block_s`` (RATE_LIMIT_DEFAULT_BLOCK_DURATION_MS, 60 s), during which
    every request is refused with Remaining 0 and Reset = the seconds left of the block. After the
    block a new window starts."""

    def __init__(
        self, enabled: bool = True, limit: int = 120, window_s: float = 60.0, block_s: float = 60.0
    ) -> None:
        self._lock = threading.Lock()
        self.enabled = enabled
        self.limit = limit
        self.window_s = window_s
        self.block_s = block_s
        self._windows: dict[str, tuple[float, int]] = {}
        self._blocked: dict[str, float] = {}  # key -> monotonic time the block ends

    def configure(
        self,
        *,
        enabled: bool | None = None,
        limit: int | None = None,
        window_s: float | None = None,
        block_s: float | None = None,
    ) -> None:
        with self._lock:
            if enabled is not None:
                self.enabled = enabled
            if limit is not None:
                if limit < 1:
                    raise ValueError("limit must be at least 1")
                self.limit = limit
            if window_s is not None:
                if window_s <= 0:
                    raise ValueError("window_s must be positive")
                self.window_s = window_s
            if block_s is not None:
                if block_s < 0:
                    raise ValueError("block_s must be >= 0")
                self.block_s = block_s
            self._windows.clear()
            self._blocked.clear()

    def reset(self) -> None:
        with self._lock:
            self._windows.clear()
            self._blocked.clear()

    def _headers(self, remaining: int, reset_s: float) -> dict[str, str]:
        return {
            "X-RateLimit-Limit-Default": str(self.limit),
            "X-RateLimit-Remaining-Default": str(max(0, remaining)),
            "X-RateLimit-Reset-Default": str(max(0, math.ceil(reset_s))),
        }

    def _window(self, key: str, now: float) -> tuple[float, int]:
        start, count = self._windows.get(key, (now, 0))
        if now - start >= self.window_s:
            start, count = now, 0
        return start, count

    def hit(self, key: str) -> tuple[bool, dict[str, str]]:
        """Count one request; (allowed, headers). When disabled, requests are counted but never refused."""
        now = time.monotonic()
        with self._lock:
            block_end = self._blocked.get(key)
            if block_end is not None:
                if now < block_end and self.enabled:
                    return False, self._headers(0, block_end - now)
                del self._blocked[key]
                self._windows.pop(key, None)
            start, count = self._window(key, now)
            count += 1
            self._windows[key] = (start, count)
            if self.enabled and count > self.limit:
                self._blocked[key] = now + self.block_s
                return False, self._headers(0, self.block_s)
            return True, self._headers(self.limit - count, start + self.window_s - now)

    def peek(self, key: str) -> dict[str, str]:
        now = time.monotonic()
        with self._lock:
            block_end = self._blocked.get(key)
            if block_end is not None and now < block_end and self.enabled:
                return self._headers(0, block_end - now)
            start, count = self._window(key, now)
            return self._headers(self.limit - count, start + self.window_s - now if count else self.window_s)

    def to_dict(self) -> dict[str, Any]:
        return {
            "enabled": self.enabled,
            "limit": self.limit,
            "window_s": self.window_s,
            "block_s": self.block_s,
        }


class RequestLog:
    """Every /v2 request received, for test assertions (``GET /_standin/requests``)."""

    def __init__(self, max_entries: int = 10_000) -> None:
        self._lock = threading.Lock()
        self._entries: list[dict[str, Any]] = []
        self._seq = 0
        self._max = max_entries

    def start(self, entry: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            self._seq += 1
            entry = {"seq": self._seq, **entry, "status": None}
            self._entries.append(entry)
            if len(self._entries) > self._max:
                del self._entries[: len(self._entries) - self._max]
            return entry

    def entries(
        self, *, path: str | None = None, method: str | None = None, since: int = 0
    ) -> list[dict[str, Any]]:
        with self._lock:
            out = [dict(e) for e in self._entries if e["seq"] > since]
        if path is not None:
            out = [e for e in out if fnmatch.fnmatchcase(e["path"], path)]
        if method is not None:
            out = [e for e in out if e["method"] == method.upper()]
        return out

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
