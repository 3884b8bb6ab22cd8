"""A market that replays real candles, compressed in time, as the paper exchange's prices.

Wall-clock second ``t`` maps to candle time ``first_open + (t - start) * speed``. Inside each
candle the traded price runs open -> first extreme -> second extreme -> close in straight
lines (low first on an up candle, high first on a down one, close in the candle's last
second), so every second has one price and, at speed 1, the candles the exchange serves
reproduce the file's open, high, low and close. Before the start the first open holds;
after the last candle the last close holds (the replay has ended).
"""

from __future__ import annotations

import math

import numpy as np

from cryptosmarttrader.domain.candles import CandleSeries, price_decimals
from cryptosmarttrader.domain.market import MarketSnapshot
from cryptosmarttrader.domain.symbols import Instrument, split_symbol
from cryptosmarttrader.exchanges.paper.market import (
    FloatArray,
    SimulatedAsset,
    asset_instrument,
    build_book,
)

_DAY = 86_400.0


class ReplayMarket:
    def __init__(
        self,
        series: CandleSeries,
        *,
        start_ts: float,
        speed: float = 1.0,
        spread_bps: float = 2.0,
        book_levels: int = 25,
        depth_band_bps: float = 50.0,
    ) -> None:
        if not (math.isfinite(speed) and speed > 0):
            raise ValueError(f"replay speed must be positive, got {speed}")
        self.series = series
        self.start_ts = start_ts
        self.speed = speed
        self.book_levels = book_levels
        self.depth_band_bps = depth_band_bps
        first_price = float(series.close[0])
        tick = 10.0 ** -price_decimals(np.concatenate([series.open, series.close]))
        step = 10.0 ** math.floor(math.log10(1.0 / first_price)) if first_price > 1 else 1.0
        mean_quote_volume = float(np.mean(series.volume * series.close))
        candles_per_day = _DAY / series.interval_s
        self.asset = SimulatedAsset(
            symbol=series.symbol,
            base_price=first_price,
            daily_vol=0.0,
            beta=0.0,
            spread_bps=spread_bps,
            level_gap_bps=1.0,
            level_quote=max(mean_quote_volume / series.interval_s * 60.0, 1_000.0),
            volume_24h_quote=mean_quote_volume * candles_per_day,
            price_tick=tick,
            qty_step=step,
        )
        # Knots of the intra-candle path: open, first extreme, second extreme and close at
        # 0, 1/3, 2/3 of the candle and its last second.
        up = series.close >= series.open
        first = np.where(up, series.low, series.high)
        second = np.where(up, series.high, series.low)
        span = float(series.interval_s)
        offsets = np.array([0.0, span / 3.0, 2.0 * span / 3.0, max(span - 1.0, 2.0 * span / 3.0)])
        self._knot_ts = (series.open_ts[:, None] + offsets[None, :]).ravel()
        self._knot_price = np.stack([series.open, first, second, series.close], axis=1).ravel()
        quote_volume = series.volume * series.close
        self._cum_quote_volume = np.concatenate([[0.0], np.cumsum(quote_volume)])

    @property
    def symbols(self) -> tuple[str, ...]:
        return (self.series.symbol,)

    @property
    def quote(self) -> str:
        return split_symbol(self.series.symbol)[1]

    @property
    def end_ts(self) -> float:
        """The wall-clock time at which the replay runs out of candles."""
        span = float(self.series.open_ts[-1] - self.series.open_ts[0]) + self.series.interval_s
        return self.start_ts + span / self.speed

    def instruments(self) -> dict[str, Instrument]:
        return {self.series.symbol: asset_instrument(self.asset)}

    def _candle_time(self, ts: FloatArray) -> FloatArray:
        mapped: FloatArray = self.series.open_ts[0] + (ts - self.start_ts) * self.speed
        return mapped

    def prices(self, symbol: str, timestamps: FloatArray) -> FloatArray:
        self._check(symbol)
        values: FloatArray = np.interp(
            self._candle_time(np.floor(timestamps)), self._knot_ts, self._knot_price
        )
        return values

    def price(self, symbol: str, ts: float) -> float:
        return float(self.prices(symbol, np.array([ts], dtype=np.float64))[0])

    def trade_capacity_quote(self, symbol: str) -> float:
        self._check(symbol)
        return self.asset.level_quote * 0.02

    def snapshot(self, symbol: str, ts: float) -> MarketSnapshot | None:
        if symbol != self.series.symbol:
            return None
        second = math.floor(ts)
        candle_ts = float(self._candle_time(np.array([float(second)]))[0])
        # Volume of the last 24 hours of candle time, the way a ticker reports it.
        hi = int(np.searchsorted(self.series.open_ts, candle_ts, side="right"))
        lo = int(np.searchsorted(self.series.open_ts, candle_ts - _DAY, side="right"))
        volume = float(self._cum_quote_volume[hi] - self._cum_quote_volume[lo])
        return build_book(
            self.asset,
            raw=self.price(symbol, float(second)),
            spread_mult=1.0,
            volume_24h_quote=volume if hi > 0 else self.asset.volume_24h_quote,
            second=second,
            phase=0,
            book_levels=self.book_levels,
            depth_band_bps=self.depth_band_bps,
            jitter=None,
            source="replay",
        )

    def _check(self, symbol: str) -> None:
        if symbol != self.series.symbol:
            raise KeyError(f"{symbol} is not part of the replay of {self.series.symbol}")
