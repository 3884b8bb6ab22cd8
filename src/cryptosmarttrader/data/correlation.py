"""Rolling correlation of candle returns, the correlation gate's source of truth."""

from __future__ import annotations

import math
import threading

import numpy as np

from cryptosmarttrader.domain.ports import PriceHistory

_MISSING = object()


class RollingCorrelationProvider:
    """Pearson correlation of log returns over the last ``window`` candles of ``interval_s``.

    Results are cached per pair for ``ttl_s`` (aligned to the clock, so every caller in the
    same bucket sees the same number). Too little or non-finite data gives None: the caller
    must treat an unknown correlation as the worst case.
    """

    def __init__(
        self,
        history: PriceHistory,
        *,
        interval_s: float = 60.0,
        window: int = 240,
        ttl_s: float = 300.0,
        min_returns: int = 30,
    ) -> None:
        if window < 3 or min_returns < 2:
            raise ValueError("window must be >= 3 and min_returns >= 2")
        self._history = history
        self._interval = interval_s
        self._window = window
        self._ttl = ttl_s
        self._min_returns = min_returns
        self._cache: dict[tuple[str, str, int], object] = {}
        self._lock = threading.Lock()

    def correlation(self, a: str, b: str, now: float) -> float | None:
        if a == b:
            return 1.0
        first, second = (a, b) if a < b else (b, a)
        bucket = math.floor(now / self._ttl)
        key = (first, second, bucket)
        cached = self._cache.get(key, _MISSING)  # a dict read is atomic; only writes lock
        if cached is not _MISSING:
            return cached  # type: ignore[return-value]
        value = self._compute(first, second, bucket * self._ttl)
        with self._lock:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[key] = value
        return value

    def _compute(self, a: str, b: str, end_ts: float) -> float | None:
        try:
            closes_a = np.asarray(self._history.closes(a, end_ts, self._window, self._interval))
            closes_b = np.asarray(self._history.closes(b, end_ts, self._window, self._interval))
        except (KeyError, ValueError):
            return None
        if closes_a.shape != closes_b.shape or closes_a.size < self._min_returns + 1:
            return None
        if not (np.all(closes_a > 0) and np.all(closes_b > 0)):
            return None
        returns_a = np.diff(np.log(closes_a))
        returns_b = np.diff(np.log(closes_b))
        valid = np.isfinite(returns_a) & np.isfinite(returns_b)
        if valid.sum() < self._min_returns:
            return None
        returns_a, returns_b = returns_a[valid], returns_b[valid]
        if returns_a.std() == 0 or returns_b.std() == 0:
            return None
        value = float(np.corrcoef(returns_a, returns_b)[0, 1])
        return value if math.isfinite(value) else None
