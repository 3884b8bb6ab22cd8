"""Interfaces the core consumes and lower layers (or later issues) implement."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from cryptosmarttrader.domain.candles import CandleSeries
from cryptosmarttrader.domain.market import MarketSnapshot


class MarketDataSource(Protocol):
    def snapshot(self, symbol: str) -> MarketSnapshot | None:
        """The latest snapshot of ``symbol``, or None when there is none."""


class PriceHistory(Protocol):
    def closes(self, symbol: str, end_ts: float, count: int, interval_s: float) -> Sequence[float]:
        """``count`` closing prices at ``interval_s`` spacing, the last one at ``end_ts``."""


class CorrelationProvider(Protocol):
    def correlation(self, a: str, b: str, now: float) -> float | None:
        """Return correlation of the two symbols' returns, or None when it cannot be known."""


class CandleSource(Protocol):
    def candles(self, symbol: str, timeframe: str, count: int) -> CandleSeries:
        """The last ``count`` candles that have closed by now (fewer where the history is
        shorter); ValueError when they cannot be had."""
