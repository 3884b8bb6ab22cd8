"""Market snapshots and candle closes for the synchronous core, from the market-data client.

A snapshot is the book's top and depth, the ticker's last price and 24 h volume, and the
quality of the recent closed candles behind them: gaps, duplicated or unordered timestamps
and a price that jumped far beyond its recent moves travel with the snapshot as findings,
so the RiskGuard's data gate stops orders on them, and lets orders through again once the
data heals. Anything that cannot be fetched makes the snapshot incomplete or absent, never
filled in.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

from cryptosmarttrader.config.limits import RiskLimits
from cryptosmarttrader.data.client import MarketDataClient, MarketDataError
from cryptosmarttrader.data.quality import assess_candles, assess_snapshot
from cryptosmarttrader.data.request import DataRequest, DataResponse, Priority
from cryptosmarttrader.domain.candles import CandleSeries, timeframe_of
from cryptosmarttrader.domain.market import MarketSnapshot, depth_within
from cryptosmarttrader.domain.market_data import Endpoint, OrderBook, Ticker
from cryptosmarttrader.domain.quality import Finding
from cryptosmarttrader.exchanges.event_loop import LoopThread
from cryptosmarttrader.exchanges.public_api import ParamValue
from cryptosmarttrader.observability import metrics
from cryptosmarttrader.observability.logging import get_logger

T = TypeVar("T")

_log = get_logger("market_data_feed")

# The parts a snapshot is made of; completeness is the fraction that arrived.
_PARTS = 5


@dataclass(frozen=True)
class FeedConfig:
    book_depth: int = 20
    snapshot_cache_ttl_s: float = 1.0
    depth_band_bps: float = 50.0
    quality_timeframe: str = "1m"
    quality_candles: int = 60
    outlier_sigma: float = 10.0
    call_timeout_s: float = 60.0


class MarketDataFeed:
    """A :class:`MarketDataSource` and :class:`PriceHistory` over one source of the client.

    It runs the client on its own event-loop thread; :meth:`close` stops both.
    """

    def __init__(
        self,
        client: MarketDataClient,
        source: str,
        *,
        limits: RiskLimits,
        config: FeedConfig | None = None,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.client = client
        self.source = source
        self.limits = limits
        self.config = config or FeedConfig()
        self._wall = wall_clock
        self._loop = LoopThread(f"market-data-{source}")

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run a coroutine on the feed's loop (where the client lives)."""
        return self._loop.run(coro, self.config.call_timeout_s)

    def snapshot(self, symbol: str) -> MarketSnapshot | None:
        try:
            return self.run(self.snapshot_async(symbol))
        except (MarketDataError, TimeoutError) as exc:
            _log.warning(
                "snapshot_unavailable", exchange=self.source, symbol=symbol, error=str(exc)
            )
            return None

    async def snapshot_async(self, symbol: str) -> MarketSnapshot:
        cfg = self.config
        ticker_r, book_r, candles_r = await asyncio.gather(
            self.client.fetch(
                DataRequest(
                    self.source,
                    Endpoint.TICKER,
                    symbol,
                    priority=Priority.CRITICAL,
                    cache_ttl_s=cfg.snapshot_cache_ttl_s,
                )
            ),
            self.client.fetch(
                DataRequest(
                    self.source,
                    Endpoint.ORDER_BOOK,
                    symbol,
                    {"limit": cfg.book_depth},
                    priority=Priority.CRITICAL,
                    cache_ttl_s=cfg.snapshot_cache_ttl_s,
                )
            ),
            self.client.fetch(
                DataRequest(
                    self.source,
                    Endpoint.OHLCV,
                    symbol,
                    {"timeframe": cfg.quality_timeframe, "limit": cfg.quality_candles + 1},
                    cache_ttl_s=5.0,
                )
            ),
            return_exceptions=True,
        )
        for result in (ticker_r, book_r):
            if isinstance(result, BaseException):
                raise result
        assert isinstance(ticker_r, DataResponse)
        assert isinstance(book_r, DataResponse)
        ticker, book = ticker_r.data, book_r.data
        assert isinstance(ticker, Ticker)
        assert isinstance(book, OrderBook)
        snapshot = self._build(symbol, ticker, book, book_r, candles_r)
        self._export(snapshot)
        return snapshot

    def _build(
        self,
        symbol: str,
        ticker: Ticker,
        book: OrderBook,
        book_response: DataResponse,
        candles: DataResponse | BaseException,
    ) -> MarketSnapshot:
        cfg = self.config
        bid = book.bids[0][0] if book.bids else math.nan
        ask = book.asks[0][0] if book.asks else math.nan
        mid = (bid + ask) / 2.0
        # Binance's book carries no time: it is at most as old as the moment we fetched it.
        book_ts = book.ts if book.ts is not None else book_response.fetched_at
        stamps = [book_ts] + ([ticker.ts] if ticker.ts is not None else [])
        present = [
            bool(book.bids),
            bool(book.asks),
            math.isfinite(ticker.last),
            math.isfinite(ticker.quote_volume),
            not isinstance(candles, BaseException),
        ]
        findings: tuple[Finding, ...] = ()
        if isinstance(candles, DataResponse):
            series = candles.data
            assert isinstance(series, CandleSeries)
            closed = closed_candles(series, self._wall())
            report = assess_candles(
                closed,
                latest_price=mid if math.isfinite(mid) and mid > 0 else None,
                outlier_sigma=cfg.outlier_sigma,
            )
            findings = report.findings
        else:
            _log.warning(
                "candles_unavailable", exchange=self.source, symbol=symbol, error=str(candles)
            )
        return MarketSnapshot(
            symbol=symbol,
            bid=bid,
            ask=ask,
            last=ticker.last,
            bid_depth_quote=depth_within(book.bids, mid, cfg.depth_band_bps),
            ask_depth_quote=depth_within(book.asks, mid, cfg.depth_band_bps),
            depth_band_bps=cfg.depth_band_bps,
            volume_24h_quote=ticker.quote_volume,
            exchange_ts=min(stamps),
            source=self.source,
            bids=book.bids,
            asks=book.asks,
            completeness=sum(present) / _PARTS,
            findings=findings,
        )

    def _export(self, snapshot: MarketSnapshot) -> None:
        now = self._wall()
        report = assess_snapshot(
            snapshot,
            now,
            max_age_s=self.limits.max_data_age_s,
            max_clock_skew_s=self.limits.max_clock_skew_s,
            min_completeness=self.limits.min_data_completeness,
        )
        metrics.DATA_QUALITY_SCORE.labels(self.source, snapshot.symbol).set(report.score)
        metrics.DATA_AGE_SECONDS.labels(self.source, snapshot.symbol).set(
            now - snapshot.exchange_ts
        )
        if not report.ok:
            _log.warning(
                "data_quality",
                exchange=self.source,
                symbol=snapshot.symbol,
                score=round(report.score, 3),
                findings=[f"{f.flag}: {f.detail}" for f in report.findings],
            )

    def closes(self, symbol: str, end_ts: float, count: int, interval_s: float) -> list[float]:
        """``count`` closes of candles that closed by ``end_ts``; ValueError when the
        exchange cannot give them (the caller must then assume the worst)."""
        timeframe = timeframe_of(interval_s)
        if timeframe is None:
            raise ValueError(f"no candle timeframe of {interval_s} s")
        since = int((end_ts - interval_s * (count + 1)) * 1000)
        closed = self._closed_ohlcv(
            symbol,
            {"timeframe": timeframe, "since": max(since, 0), "limit": count + 1},
            end_ts,
            priority=Priority.LOW,
        )
        return [float(c) for c in closed.close[-count:]]

    def candles(self, symbol: str, timeframe: str, count: int) -> CandleSeries:
        """The last ``count`` candles closed by now; ValueError when the exchange cannot give
        them."""
        closed = self._closed_ohlcv(
            symbol, {"timeframe": timeframe, "limit": count + 1}, self._wall(), cache_ttl_s=5.0
        )
        keep = np.zeros(len(closed), dtype=bool)
        keep[-count:] = True
        return closed.where(keep)

    def _closed_ohlcv(
        self,
        symbol: str,
        params: Mapping[str, ParamValue],
        end_ts: float,
        *,
        priority: Priority | None = None,
        cache_ttl_s: float | None = None,
    ) -> CandleSeries:
        """The exchange's candles for ``params``, those closed by ``end_ts``; ValueError when
        there are none to be had."""
        request = DataRequest(
            self.source,
            Endpoint.OHLCV,
            symbol,
            params,
            priority=priority,
            cache_ttl_s=cache_ttl_s,
        )
        try:
            response = self.run(self.client.fetch(request))
        except (MarketDataError, TimeoutError) as exc:
            raise ValueError(f"candles of {symbol}: {exc}") from exc
        series = response.data
        assert isinstance(series, CandleSeries)
        return closed_candles(series, end_ts)

    def close(self) -> None:
        try:
            self.run(self.client.close())
        finally:
            self._loop.stop()


def closed_candles(series: CandleSeries, now: float) -> CandleSeries:
    """The candles that had closed at ``now`` (the one still forming would repaint)."""
    return series.where(series.open_ts + series.interval_s <= now)
