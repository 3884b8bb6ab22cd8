"""The paper exchange's own request-weight limit, enforced like Binance's.

Weight is counted per fixed one-minute window (aligned to the minute, as Binance does); a
request that would exceed the limit is refused with 429 and a ``Retry-After`` of the seconds
left in the window, and does not count.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class WeightDecision:
    allowed: bool
    used: int
    retry_after_s: int


class WeightLimiter:
    def __init__(self, limit_per_minute: int, window_s: float = 60.0) -> None:
        if limit_per_minute <= 0:
            raise ValueError("the weight limit must be positive")
        self.limit = limit_per_minute
        self.window_s = window_s
        self._window = -1
        self._used = 0
        self._lock = threading.Lock()

    def take(self, weight: int, now: float) -> WeightDecision:
        with self._lock:
            window = math.floor(now / self.window_s)
            if window != self._window:
                self._window = window
                self._used = 0
            if self._used + weight > self.limit:
                left = (window + 1) * self.window_s - now
                return WeightDecision(False, self._used, max(1, math.ceil(left)))
            self._used += weight
            return WeightDecision(True, self._used, 0)
