"""The market a backtest's gates see, synthesized from candles.

The replay stands at the open of one bar, ``index``: that instant is the clock, and the
market there is:

* mid and last price: the bar's open; bid and ask ``spread_bps / 2`` either side of it;
* one book level each side, at the bid and the ask, holding ``depth_quote`` of quote value
  (by default 1e15, more than any order: the fill model assumes no market impact);
* 24-hour volume: the quote volume (volume times close) of the candles that closed in the 24
  hours before the open;
* the exchange time: the open time, so the data is never stale; completeness 1.

Candle history (for the correlation gate) is the closes of the candles closed by then. No
price of the bar itself beyond its open, or of any later bar, is visible.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from cryptosmarttrader.domain.candles import CandleSeries
from cryptosmarttrader.domain.market import BPS, MarketSnapshot, depth_within

UNLIMITED_DEPTH_QUOTE = 1e15
_DAY_S = 86_400.0


class CandleReplay:
    """A MarketDataSource, PriceHistory and Clock over one candle series."""

    def __init__(
        self,
        series: CandleSeries,
        *,
        spread_bps: float,
        depth_band_bps: float,
        depth_quote: float = UNLIMITED_DEPTH_QUOTE,
    ) -> None:
        if not (0 < spread_bps <= 1_000):
            raise ValueError(f"the synthesized spread must be in (0, 1000] bps, got {spread_bps}")
        if not (0 < depth_quote <= UNLIMITED_DEPTH_QUOTE):
            raise ValueError(f"the synthesized depth must be in (0, 1e15], got {depth_quote}")
        self.series = series
        self.spread_bps = spread_bps
        self.depth_band_bps = depth_band_bps
        self.depth_quote = depth_quote
        self.index = 0
        self._close_ts = series.open_ts + series.interval_s
        self._cum_quote_volume = np.concatenate([[0.0], np.cumsum(series.volume * series.close)])
        self._snapshot: MarketSnapshot | None = None

    def at(self, index: int) -> None:
        """Stand at the open of bar ``index``."""
        self.index = index
        self._snapshot = None

    def now(self) -> float:
        return float(self.series.open_ts[self.index])

    def price(self, symbol: str) -> float:
        """The price trading now: the open of the current bar."""
        self._check(symbol)
        return float(self.series.open[self.index])

    def snapshot(self, symbol: str) -> MarketSnapshot | None:
        if symbol != self.series.symbol:
            return None
        if self._snapshot is None:
            self._snapshot = self._synthesize()
        return self._snapshot

    def _synthesize(self) -> MarketSnapshot:
        i = self.index
        mid = float(self.series.open[i])
        half = self.spread_bps / 2.0 / BPS
        bid, ask = mid * (1.0 - half), mid * (1.0 + half)
        bids = ((bid, self.depth_quote / bid),)
        asks = ((ask, self.depth_quote / ask),)
        now = float(self.series.open_ts[i])
        closed = int(np.searchsorted(self._close_ts, now, side="right"))
        day_ago = int(np.searchsorted(self._close_ts, now - _DAY_S, side="right"))
        volume = float(self._cum_quote_volume[closed] - self._cum_quote_volume[day_ago])
        return MarketSnapshot(
            symbol=self.series.symbol,
            bid=bid,
            ask=ask,
            last=mid,
            bid_depth_quote=depth_within(bids, mid, self.depth_band_bps),
            ask_depth_quote=depth_within(asks, mid, self.depth_band_bps),
            depth_band_bps=self.depth_band_bps,
            volume_24h_quote=volume,
            exchange_ts=now,
            source="backtest",
            bids=bids,
            asks=asks,
        )

    def closes(self, symbol: str, end_ts: float, count: int, interval_s: float) -> Sequence[float]:
        """Closes of candles closed by ``end_ts``, one per ``interval_s``, the last at or before
        ``end_ts``; fewer (or none) where the history is shorter."""
        self._check(symbol)
        stamps = end_ts - interval_s * np.arange(count - 1, -1, -1, dtype=np.float64)
        positions = np.searchsorted(self._close_ts, stamps, side="right") - 1
        usable = positions >= 0
        return [float(v) for v in self.series.close[positions[usable]]]

    def _check(self, symbol: str) -> None:
        if symbol != self.series.symbol:
            raise KeyError(f"{symbol} is not part of the backtest of {self.series.symbol}")
