"""Reconnect and retry delays: the sources reconnecting to a feed and the store writer retrying a
failed write wait the same way."""

from __future__ import annotations

import random

MAX_EXPONENT = 60


class Backoff:
    """Exponential backoff with full jitter, capped (AWS architecture blog's 'full jitter')."""

    def __init__(self, initial: float, maximum: float, rng: random.Random | None = None) -> None:
        self.initial = initial
        self.maximum = maximum
        self.attempt = 0
        self._rng = rng or random.Random()

    def next_delay(self) -> float:
        ceiling = min(self.maximum, self.initial * (2.0 ** self.attempt))
        # Capped: the ceiling reached `maximum` long before, and 2.0 ** 1024 overflows (a feed down for
        # half a day would otherwise kill its source task).
        self.attempt = min(self.attempt + 1, MAX_EXPONENT)
        # Never below half the ceiling, so a refused connection cannot turn into a tight loop.
        return ceiling / 2 + self._rng.uniform(0, ceiling / 2)

    def reset(self) -> None:
        self.attempt = 0
