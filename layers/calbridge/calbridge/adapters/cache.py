"""A small per-container cache with a time to live.

Lambda containers live for minutes; caching tenant configuration for a few seconds saves
DynamoDB round trips on every call while bounding staleness to the TTL.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable, Hashable


class TtlCache[K: Hashable, V]:
    def __init__(self, ttl_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl_s = ttl_s
        self._clock = clock
        self._entries: dict[K, tuple[float, V]] = {}
        self._lock = threading.Lock()

    def get(self, key: K, load: Callable[[], V]) -> V:
        """The cached value, or `load()`'s result (cached) when missing or older than the TTL."""
        now = self._clock()
        with self._lock:
            entry = self._entries.get(key)
        if entry is not None and now - entry[0] < self._ttl_s:
            return entry[1]
        value = load()
        self.put(key, value)
        return value

    def put(self, key: K, value: V) -> None:
        if self._ttl_s <= 0:
            return
        with self._lock:
            self._entries[key] = (self._clock(), value)

    def invalidate(self, key: K) -> None:
        with self._lock:
            self._entries.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


class CacheGroup:
    """Caches one write must drop together: every instance of a repository in this container."""

    def __init__(self) -> None:
        self._caches: weakref.WeakSet[TtlCache] = weakref.WeakSet()

    def new[K: Hashable, V](self, ttl_s: float) -> TtlCache[K, V]:
        cache: TtlCache[K, V] = TtlCache(ttl_s)
        self._caches.add(cache)
        return cache

    def clear(self) -> None:
        for cache in list(self._caches):
            cache.clear()
