"""Market snapshots: top of book, depth, volume and the book levels used for slippage."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

from cryptosmarttrader.domain.orders import Side
from cryptosmarttrader.domain.quality import Finding, QualityFlag

BookLevel = tuple[float, float]
"""(price, quantity in base units)."""

BPS = 10_000.0


@dataclass(frozen=True)
class MarketSnapshot:
    """One observation of a market.

    ``bids`` are best (highest) first, ``asks`` best (lowest) first. ``bid_depth_quote`` and
    ``ask_depth_quote`` are the quote value resting within ``depth_band_bps`` of mid.
    ``exchange_ts`` is the exchange's own time of the data in epoch seconds; ``completeness``
    is the fraction of expected fields/levels the source actually delivered.
    """

    symbol: str
    bid: float
    ask: float
    last: float
    bid_depth_quote: float
    ask_depth_quote: float
    depth_band_bps: float
    volume_24h_quote: float
    exchange_ts: float
    source: str
    bids: tuple[BookLevel, ...] = ()
    asks: tuple[BookLevel, ...] = ()
    completeness: float = 1.0
    findings: tuple[Finding, ...] = ()
    """What the source found behind the snapshot (gaps or jumps in its recent candles)."""

    @cached_property
    def defect(self) -> Finding | None:
        """What makes this snapshot unusable whatever the limits or the time, or None.

        Computed once per snapshot (snapshots are immutable): the data-quality gate sees the
        same snapshot many times and must not re-walk the book each time.
        """
        for name in ("bid", "ask", "last"):
            value = getattr(self, name)
            if not 0 < value < math.inf:
                flag = QualityFlag.NON_FINITE if not math.isfinite(value) else None
                return Finding(flag or QualityFlag.NON_POSITIVE, f"{name} is {value!r}")
        for name in ("bid_depth_quote", "ask_depth_quote", "volume_24h_quote"):
            value = getattr(self, name)
            if not 0 <= value < math.inf:
                flag = QualityFlag.NON_FINITE if not math.isfinite(value) else None
                return Finding(flag or QualityFlag.NON_POSITIVE, f"{name} is {value!r}")
        if not math.isfinite(self.exchange_ts):
            return Finding(QualityFlag.NON_FINITE, "no valid timestamp")
        if not self.bid < self.ask:
            return Finding(
                QualityFlag.CROSSED_BOOK,
                f"crossed or locked book: bid {self.bid} >= ask {self.ask}",
            )
        for price, qty in (*self.bids, *self.asks):
            if not (0 < price < math.inf and 0 < qty < math.inf):
                flag = QualityFlag.NON_FINITE if not math.isfinite(price * qty) else None
                return Finding(
                    flag or QualityFlag.NON_POSITIVE, f"book level ({price}, {qty}) is invalid"
                )
        if not 0 <= self.completeness <= 1:
            return Finding(
                QualityFlag.NON_FINITE, f"completeness {self.completeness!r} out of range"
            )
        return None

    @property
    def mid(self) -> float:
        return (self.bid + self.ask) / 2.0

    @property
    def spread_bps(self) -> float:
        mid = self.mid
        return (self.ask - self.bid) / mid * BPS

    def depth_quote(self, side: Side, band_bps: float) -> float:
        """Quote value on the book side an order of ``side`` consumes, within ``band_bps``."""
        if band_bps == self.depth_band_bps:
            return self.ask_depth_quote if side is Side.BUY else self.bid_depth_quote
        levels = self.asks if side is Side.BUY else self.bids
        return depth_within(levels, self.mid, band_bps)

    def levels_taken_by(self, side: Side) -> tuple[BookLevel, ...]:
        return self.asks if side is Side.BUY else self.bids


def depth_within(levels: Sequence[BookLevel], mid: float, band_bps: float) -> float:
    limit = mid * band_bps / BPS
    total = 0.0
    for price, qty in levels:
        if abs(price - mid) > limit:
            break
        total += price * qty
    return total


def walk_book(levels: Sequence[BookLevel], qty: float) -> float:
    """Volume-weighted price of taking ``qty`` from ``levels``; ``inf`` if the book is too thin."""
    remaining = qty
    cost = 0.0
    for price, level_qty in levels:
        take = level_qty if level_qty < remaining else remaining
        cost += take * price
        remaining -= take
        if remaining <= 0.0:
            return cost / qty
    return math.inf
