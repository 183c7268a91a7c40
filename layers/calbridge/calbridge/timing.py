"""A point in time a piece of work must finish by: a job's deadline, a tool call's budget.

Monotonic, so neither a pinned test clock nor a wall-clock step moves it. Kept apart from the
Cal.com adapters so that a handler can hold one without importing the HTTP client.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class Deadline:
    """A point in (monotonic) time a job must finish by."""

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._at = clock() + seconds

    def remaining(self) -> float:
        return max(self._at - self._clock(), 0.0)

    @property
    def expired(self) -> bool:
        return self.remaining() <= 0.0
