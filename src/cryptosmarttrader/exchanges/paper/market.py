"""A seeded, reproducible simulated market of several USDT pairs.

The price of every symbol is a pure function of (seed, time), so every process that builds a
market with the same seed sees the same prices at the same instant: a CLI order, the engine
and the paper exchange agree without sharing state.

Model (log price around each asset's base price):

* hourly anchors follow a mean-reverting (Ornstein-Uhlenbeck) process with a 30-day
  half-life, driven by one common factor plus idiosyncratic noise. Each asset's loading
  ``beta`` on the factor sets its return correlation: ``corr(i, j) = beta_i * beta_j``;
* inside each hour a Brownian bridge with the same per-second volatility joins the two
  anchors, at one-second resolution;
* the book around the price has an asset-specific spread that widens with per-second noise,
  and ``book_levels`` levels per side whose sizes grow away from the touch.

Random numbers come from generators seeded by (seed, stream, hour), so any hour can be
computed without computing the ones before it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol

import numpy as np
import numpy.typing as npt

from cryptosmarttrader.domain.candles import TIMEFRAME_SECONDS, CandleSeries, candles_from_rows
from cryptosmarttrader.domain.clock import Clock
from cryptosmarttrader.domain.market import BookLevel, MarketSnapshot, depth_within
from cryptosmarttrader.domain.symbols import Instrument, ceil_to_grid, floor_to_grid, split_symbol

FloatArray = npt.NDArray[np.float64]

EPOCH = 1_577_836_800.0  # 2020-01-01T00:00:00Z: hour 0 of the simulation
HOUR = 3600
DAY = 86_400
_BLOCK_HOURS = 512
_ANCHOR_WINDOW_HOURS = 4096
_HALF_LIFE_HOURS = 720.0
_SEED_OFFSET = 1 << 24  # keeps generator seeds non-negative for times before EPOCH
_JITTER_PERIOD = 64

_STREAM_ANCHOR = 1
_STREAM_HOUR = 2
_STREAM_DAY = 3
_STREAM_JITTER = 4
_CAPACITY_SHARE = 0.02


@dataclass(frozen=True, slots=True)
class SimulatedAsset:
    symbol: str
    base_price: float
    daily_vol: float
    beta: float
    spread_bps: float
    level_gap_bps: float
    level_quote: float
    volume_24h_quote: float
    price_tick: float
    qty_step: float
    min_notional: float = 5.0


@dataclass(frozen=True, slots=True)
class PriceShock:
    """From ``at_ts`` on, multiply the price of ``symbol`` (or of every symbol) by 1 + pct."""

    at_ts: float
    pct: float
    symbol: str | None = None


DEFAULT_UNIVERSE: tuple[SimulatedAsset, ...] = (
    SimulatedAsset("BTC/USDT", 65_000.0, 0.030, 0.92, 1.0, 1.5, 150_000, 1.5e9, 0.01, 0.00001),
    SimulatedAsset("ETH/USDT", 3_200.0, 0.040, 0.88, 1.5, 2.0, 100_000, 8.0e8, 0.01, 0.0001),
    SimulatedAsset("SOL/USDT", 150.0, 0.055, 0.85, 3.0, 3.0, 40_000, 3.0e8, 0.01, 0.001),
    SimulatedAsset("BNB/USDT", 580.0, 0.035, 0.70, 3.0, 3.0, 30_000, 1.5e8, 0.01, 0.001),
    SimulatedAsset("XRP/USDT", 0.55, 0.050, 0.68, 4.0, 4.0, 30_000, 2.0e8, 0.0001, 0.1),
    SimulatedAsset("ADA/USDT", 0.45, 0.050, 0.65, 5.0, 5.0, 15_000, 8.0e7, 0.0001, 0.1),
    SimulatedAsset("DOGE/USDT", 0.15, 0.060, 0.60, 5.0, 5.0, 20_000, 1.5e8, 0.00001, 1.0),
    SimulatedAsset("PAXG/USDT", 2_400.0, 0.010, 0.05, 8.0, 5.0, 8_000, 1.5e7, 0.01, 0.0001),
    # A thin, wide market: sensible gates must refuse to trade it.
    SimulatedAsset("MEME/USDT", 0.012, 0.120, 0.40, 90.0, 40.0, 800, 4.0e5, 0.000001, 1.0),
)


class MarketModel(Protocol):
    """What the paper venue and the paper exchange need from a market: a catalog, books and
    the traded price at any second. :class:`SimulatedMarket` and the candle replay provide it."""

    @property
    def symbols(self) -> tuple[str, ...]: ...

    @property
    def quote(self) -> str: ...

    def instruments(self) -> dict[str, Instrument]: ...

    def snapshot(self, symbol: str, ts: float) -> MarketSnapshot | None: ...

    def prices(self, symbol: str, timestamps: FloatArray) -> FloatArray: ...

    def trade_capacity_quote(self, symbol: str) -> float: ...


def asset_instrument(asset: SimulatedAsset) -> Instrument:
    base, quote = split_symbol(asset.symbol)
    return Instrument(
        symbol=asset.symbol,
        base=base,
        quote=quote,
        price_tick=asset.price_tick,
        qty_step=asset.qty_step,
        min_qty=asset.qty_step,
        min_notional=asset.min_notional,
    )


def build_book(
    asset: SimulatedAsset,
    *,
    raw: float,
    spread_mult: float,
    volume_24h_quote: float,
    second: int,
    phase: int,
    book_levels: int,
    depth_band_bps: float,
    jitter: FloatArray | None,
    source: str,
) -> MarketSnapshot:
    """The order book at ``second`` around the traded price ``raw``: the asset's spread (times
    ``spread_mult``) and ``book_levels`` levels per side whose sizes grow away from the touch,
    varied by ``jitter`` (cycled by ``phase``) when given."""
    tick = asset.price_tick
    step = asset.qty_step
    half_spread = asset.spread_bps * spread_mult / 2.0 / 10_000.0
    bid = floor_to_grid(raw * (1.0 - half_spread), tick)
    ask = ceil_to_grid(raw * (1.0 + half_spread), tick)
    if ask <= bid:
        ask = ceil_to_grid(bid + tick, tick)
    gap = max(tick, ceil_to_grid(raw * asset.level_gap_bps / 10_000.0, tick))
    bids: list[BookLevel] = []
    asks: list[BookLevel] = []
    for k in range(book_levels):
        size_quote = asset.level_quote * (1.0 + 0.15 * k)
        bid_price = floor_to_grid(bid - k * gap, tick)
        ask_price = ceil_to_grid(ask + k * gap, tick)
        j_bid = 1.0 if jitter is None else float(jitter[0, (k + phase) % _JITTER_PERIOD])
        j_ask = 1.0 if jitter is None else float(jitter[1, (k + phase) % _JITTER_PERIOD])
        if bid_price > 0:
            bid_qty = size_quote * j_bid / bid_price
            bids.append((bid_price, max(step, floor_to_grid(bid_qty, step))))
        ask_qty = size_quote * j_ask / ask_price
        asks.append((ask_price, max(step, floor_to_grid(ask_qty, step))))
    mid = (bid + ask) / 2.0
    return MarketSnapshot(
        symbol=asset.symbol,
        bid=bid,
        ask=ask,
        last=floor_to_grid(raw, tick),
        bid_depth_quote=depth_within(bids, mid, depth_band_bps),
        ask_depth_quote=depth_within(asks, mid, depth_band_bps),
        depth_band_bps=depth_band_bps,
        volume_24h_quote=volume_24h_quote,
        exchange_ts=float(second),
        source=source,
        bids=tuple(bids),
        asks=tuple(asks),
        completeness=1.0,
    )


class SimulatedMarket:
    def __init__(
        self,
        seed: int = 7,
        universe: Sequence[SimulatedAsset] = DEFAULT_UNIVERSE,
        *,
        book_levels: int = 25,
        depth_band_bps: float = 50.0,
        shocks: Sequence[PriceShock] = (),
    ) -> None:
        if not universe:
            raise ValueError("a simulated market needs at least one asset")
        self.seed = seed
        self.assets = tuple(universe)
        self.book_levels = book_levels
        self.depth_band_bps = depth_band_bps
        self.shocks = tuple(shocks)
        self._index = {asset.symbol: i for i, asset in enumerate(self.assets)}
        betas = np.array([a.beta for a in self.assets])
        self._beta = betas
        self._idio = np.sqrt(1.0 - betas**2)
        daily = np.array([a.daily_vol for a in self.assets])
        self._sigma_hour = daily / math.sqrt(24.0)
        self._sigma_second = daily / math.sqrt(DAY)
        phi = 0.5 ** (1.0 / _HALF_LIFE_HOURS)
        # weights[j] multiplies the noise of hour (K - W + 1 + j) in the anchor of hour K.
        self._weights = phi ** np.arange(_ANCHOR_WINDOW_HOURS - 1, -1, -1, dtype=np.float64)
        jitter_rng = np.random.default_rng([seed, _STREAM_JITTER])
        self._jitter = jitter_rng.uniform(0.6, 1.4, size=(len(self.assets), 2, _JITTER_PERIOD))
        self._noise_block = lru_cache(maxsize=16)(self._make_noise_block)
        self._anchor = lru_cache(maxsize=256)(self._make_anchor)
        # A 24-hour ticker reads the 25 hours its window touches; a smaller cache would
        # evict each hour just before it is needed again and rebuild all 25 per request.
        self._hour = lru_cache(maxsize=DAY // HOUR + 2)(self._make_hour)
        self._day_volume = lru_cache(maxsize=16)(self._make_day_volume)
        self._snapshots: dict[tuple[int, int], MarketSnapshot] = {}

    # --- catalog -----------------------------------------------------------------------
    @property
    def symbols(self) -> tuple[str, ...]:
        return tuple(asset.symbol for asset in self.assets)

    def instruments(self) -> dict[str, Instrument]:
        return {asset.symbol: asset_instrument(asset) for asset in self.assets}

    # --- random streams ----------------------------------------------------------------
    def _make_noise_block(self, block: int) -> FloatArray:
        rng = np.random.default_rng([self.seed, _STREAM_ANCHOR, block + _SEED_OFFSET])
        factor = rng.standard_normal(_BLOCK_HOURS)
        idio = rng.standard_normal((len(self.assets), _BLOCK_HOURS))
        shocks: FloatArray = self._sigma_hour[:, None] * (
            self._beta[:, None] * factor[None, :] + self._idio[:, None] * idio
        )
        return shocks

    def _make_anchor(self, hour: int) -> FloatArray:
        start = hour - _ANCHOR_WINDOW_HOURS + 1
        first_block = start // _BLOCK_HOURS
        last_block = hour // _BLOCK_HOURS
        noise = np.concatenate(
            [self._noise_block(b) for b in range(first_block, last_block + 1)], axis=1
        )
        offset = start - first_block * _BLOCK_HOURS
        window = noise[:, offset : offset + _ANCHOR_WINDOW_HOURS]
        anchor: FloatArray = window @ self._weights
        return anchor

    def _make_hour(self, hour: int) -> tuple[FloatArray, FloatArray]:
        """Log deviation at each second of the hour (n, 3601) and spread multipliers (n, 3600)."""
        rng = np.random.default_rng([self.seed, _STREAM_HOUR, hour + _SEED_OFFSET])
        n = len(self.assets)
        factor = rng.standard_normal(HOUR)
        idio = rng.standard_normal((n, HOUR))
        steps = self._sigma_second[:, None] * (
            self._beta[:, None] * factor[None, :] + self._idio[:, None] * idio
        )
        walk = np.zeros((n, HOUR + 1))
        np.cumsum(steps, axis=1, out=walk[:, 1:])
        start = self._anchor(hour)
        end = self._anchor(hour + 1)
        fraction = np.arange(HOUR + 1, dtype=np.float64) / HOUR
        path = start[:, None] + walk - fraction[None, :] * (walk[:, -1] - (end - start))[:, None]
        spread = 1.0 + np.minimum(0.35 * np.abs(rng.standard_normal((n, HOUR))), 2.0)
        return path, spread

    def _make_day_volume(self, day: int) -> FloatArray:
        rng = np.random.default_rng([self.seed, _STREAM_DAY, day + _SEED_OFFSET])
        factors: FloatArray = 0.8 + 0.4 * rng.random(len(self.assets))
        return factors

    # --- prices ------------------------------------------------------------------------
    def _asset_index(self, symbol: str) -> int:
        try:
            return self._index[symbol]
        except KeyError:
            raise KeyError(f"{symbol} is not part of the simulated market") from None

    def _shock_factor(self, symbol: str, ts: float) -> float:
        factor = 1.0
        for shock in self.shocks:
            if ts >= shock.at_ts and shock.symbol in (None, symbol):
                factor *= 1.0 + shock.pct
        return factor

    def _shock_factors(self, symbol: str, ts: FloatArray) -> FloatArray:
        factors = np.ones_like(ts)
        for shock in self.shocks:
            if shock.symbol in (None, symbol):
                factors = np.where(ts >= shock.at_ts, factors * (1.0 + shock.pct), factors)
        return factors

    def price(self, symbol: str, ts: float) -> float:
        """The traded price of ``symbol`` at ``ts`` (one-second resolution)."""
        i = self._asset_index(symbol)
        relative = math.floor(ts - EPOCH)
        hour, second = divmod(relative, HOUR)
        path, _ = self._hour(hour)
        asset = self.assets[i]
        return asset.base_price * math.exp(path[i, second]) * self._shock_factor(symbol, ts)

    def prices(self, symbol: str, timestamps: FloatArray) -> FloatArray:
        i = self._asset_index(symbol)
        relative = np.floor(timestamps - EPOCH).astype(np.int64)
        hours, seconds = np.divmod(relative, HOUR)
        log_dev = np.empty(len(timestamps))
        for hour in np.unique(hours):
            mask = hours == hour
            path, _ = self._hour(int(hour))
            log_dev[mask] = path[i, seconds[mask]]
        values: FloatArray = (
            self.assets[i].base_price * np.exp(log_dev) * self._shock_factors(symbol, timestamps)
        )
        return values

    def closes(self, symbol: str, end_ts: float, count: int, interval_s: float) -> list[float]:
        timestamps = end_ts - interval_s * np.arange(count - 1, -1, -1, dtype=np.float64)
        return [float(v) for v in self.prices(symbol, timestamps)]

    # --- books -------------------------------------------------------------------------
    def snapshot(self, symbol: str, ts: float) -> MarketSnapshot | None:
        """The order book at ``ts``; None for a symbol the market does not list."""
        i = self._index.get(symbol)
        if i is None:
            return None
        second = math.floor(ts)
        key = (i, second)
        cached = self._snapshots.get(key)
        if cached is not None:
            return cached
        snapshot = self._build_snapshot(i, second)
        if len(self._snapshots) > 4096:
            self._snapshots.clear()
        self._snapshots[key] = snapshot
        return snapshot

    def _build_snapshot(self, i: int, second: int) -> MarketSnapshot:
        asset = self.assets[i]
        relative = second - math.floor(EPOCH)
        hour, offset = divmod(relative, HOUR)
        _, spread_mult = self._hour(hour)
        return build_book(
            asset,
            raw=self.price(asset.symbol, float(second)),
            spread_mult=float(spread_mult[i, offset]),
            volume_24h_quote=asset.volume_24h_quote * float(self._day_volume(relative // DAY)[i]),
            second=second,
            phase=offset,
            book_levels=self.book_levels,
            depth_band_bps=self.depth_band_bps,
            jitter=self._jitter[i],
            source="simulated",
        )

    def trade_capacity_quote(self, symbol: str) -> float:
        """Quote value that trades per second at a price the market moves through.

        A resting order fills by at most this much for each second the price spends beyond
        its limit, so large orders fill partially over several seconds.
        """
        return self.assets[self._asset_index(symbol)].level_quote * _CAPACITY_SHARE

    @property
    def quote(self) -> str:
        """The one quote currency every simulated pair shares."""
        quotes = {split_symbol(asset.symbol)[1] for asset in self.assets}
        if len(quotes) != 1:
            raise ValueError(f"simulated pairs must share one quote currency, got {sorted(quotes)}")
        return quotes.pop()


def model_candles(
    market: MarketModel,
    symbol: str,
    first_open: float,
    count: int,
    interval_s: int,
    now: float,
    quote_per_second: float,
) -> CandleSeries:
    """``count`` candles of the market's traded price from ``first_open``: open, high, low and
    close of 60 samples per candle (one per second when shorter), and the quote volume that
    trades per second spread evenly. A candle still forming at ``now`` ends at ``now``."""
    rows = []
    for k in range(count):
        open_ts = first_open + k * interval_s
        last = min(open_ts + interval_s - 1, math.floor(now))
        samples = min(interval_s, 60)
        times = np.unique(
            np.concatenate([open_ts + np.arange(samples) * (interval_s / samples), [last]])
        )
        prices = market.prices(symbol, times[times <= last])
        close = float(prices[-1])
        volume = quote_per_second * interval_s / close
        rows.append(
            (
                open_ts * 1000,
                float(prices[0]),
                float(prices.max()),
                float(prices.min()),
                close,
                volume,
            )
        )
    return candles_from_rows(symbol, interval_s, rows)


class SimulatedFeed:
    """The simulated market as a live data source: the book at the clock's current time."""

    def __init__(self, market: SimulatedMarket, clock: Clock) -> None:
        self.market = market
        self.clock = clock

    def snapshot(self, symbol: str) -> MarketSnapshot | None:
        return self.market.snapshot(symbol, self.clock.now())

    def candles(self, symbol: str, timeframe: str, count: int) -> CandleSeries:
        """The last ``count`` candles closed by now."""
        interval = TIMEFRAME_SECONDS[timeframe]
        now = self.clock.now()
        last_closed_open = math.floor(now / interval) * interval - interval
        snapshot = self.market.snapshot(symbol, now)
        if snapshot is None:
            raise ValueError(f"{symbol} is not part of the simulated market")
        return model_candles(
            self.market,
            symbol,
            last_closed_open - (count - 1) * interval,
            count,
            interval,
            now,
            snapshot.volume_24h_quote / 86_400,
        )
