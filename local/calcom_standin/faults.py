"""Fault injection, the per-key rate limiter and the request log of the Cal.com stand-in."""

from __future__ import annotations

import fnmatch
import math
import threading
import time
from dataclasses import asdict, dataclass
from typing import Any

FAULT_KINDS = ("5xx", "429", "timeout", "latency")
FIVE_XX = (500, 502, 503, 504)


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
    """Fixed window per key (the API key, else the client address), like @nestjs/throttler:
    ``limit`` requests per ``window_s``; Reset = seconds until the window ends."""

    def __init__(self, enabled: bool = True, limit: int = 120, window_s: float = 60.0) -> None:
        self._lock = threading.Lock()
        self.enabled = enabled
        self.limit = limit
        self.window_s = window_s
        self._windows: dict[str, tuple[float, int]] = {}

    def configure(
        self, *, enabled: bool | None = None, limit: int | None = None, window_s: float | None = None
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
            self._windows.clear()

    def reset(self) -> None:
        with self._lock:
            self._windows.clear()

    def _headers(self, start: float, count: int, now: float) -> dict[str, str]:
        reset = max(0, math.ceil(start + self.window_s - now)) if count else math.ceil(self.window_s)
        return {
            "X-RateLimit-Limit-Default": str(self.limit),
            "X-RateLimit-Remaining-Default": str(max(0, self.limit - count)),
            "X-RateLimit-Reset-Default": str(reset),
        }

    def hit(self, key: str) -> tuple[bool, dict[str, str]]:
        """Count one request; (allowed, headers). When disabled, requests are counted but never refused."""
        now = time.monotonic()
        with self._lock:
            start, count = self._windows.get(key, (now, 0))
            if now - start >= self.window_s:
                start, count = now, 0
            count += 1
            self._windows[key] = (start, count)
            allowed = not self.enabled or count <= self.limit
            return allowed, self._headers(start, count, now)

    def peek(self, key: str) -> dict[str, str]:
        now = time.monotonic()
        with self._lock:
            start, count = self._windows.get(key, (now, 0))
            if now - start >= self.window_s:
                start, count = now, 0
            return self._headers(start, count, now)

    def to_dict(self) -> dict[str, Any]:
        return {"enabled": self.enabled, "limit": self.limit, "window_s": self.window_s}


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
