"""Downloading candle history into the candle store: paginated, resumable, rate-limited.

Pages are fetched through the market-data client at LOW priority (so live snapshots go
first) and stored page by page; a download that stops (Ctrl-C, a dead exchange) keeps every
page it stored and the next run starts after the last stored candle.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from cryptosmarttrader.data.client import MarketDataClient
from cryptosmarttrader.data.feed import closed_candles
from cryptosmarttrader.data.quality import assess_candles
from cryptosmarttrader.data.request import DataRequest, Priority
from cryptosmarttrader.domain.candles import TIMEFRAME_SECONDS, CandleSeries
from cryptosmarttrader.domain.market_data import Endpoint
from cryptosmarttrader.domain.quality import QualityFlag
from cryptosmarttrader.store.candle_store import CandleStore

# Candles per request each venue serves (Kraken returns at most its last 720).
PAGE_SIZE = {"kraken": 720}
DEFAULT_PAGE_SIZE = 1000

_INVALID = frozenset(
    {QualityFlag.NON_FINITE, QualityFlag.NON_POSITIVE, QualityFlag.INCONSISTENT_CANDLE}
)


class HistoryError(Exception):
    """The exchange sent candles that cannot be stored."""


@dataclass(frozen=True)
class DownloadPlan:
    symbol: str
    start_ms: int
    end_ms: int
    """Open time of the last closed candle."""
    step_ms: int
    resumed: bool

    @property
    def expected(self) -> int:
        return max(0, (self.end_ms - self.start_ms) // self.step_ms + 1)


@dataclass(frozen=True)
class DownloadResult:
    symbol: str
    fetched: int
    new: int
    pages: int


def plan_download(
    store: CandleStore,
    source: str,
    symbol: str,
    timeframe: str,
    since_ms: int,
    *,
    now: float | None = None,
) -> DownloadPlan:
    step_ms = TIMEFRAME_SECONDS[timeframe] * 1000
    now_ms = int((time.time() if now is None else now) * 1000)
    end_ms = (now_ms // step_ms) * step_ms - step_ms
    start_ms = math.ceil(since_ms / step_ms) * step_ms
    last = store.last_open_ms(source, symbol, timeframe)
    resumed = last is not None and last >= start_ms
    if last is not None and resumed:
        start_ms = last + step_ms
    return DownloadPlan(symbol, start_ms, end_ms, step_ms, resumed)


async def download(
    client: MarketDataClient,
    store: CandleStore,
    source: str,
    timeframe: str,
    plan: DownloadPlan,
    *,
    on_page: Callable[[int], None] = lambda _: None,
    now: float | None = None,
) -> DownloadResult:
    """Fetch ``plan`` page by page and store it; ``on_page`` gets the candles of each page."""
    page = PAGE_SIZE.get(source, DEFAULT_PAGE_SIZE)
    start = plan.start_ms
    fetched = new = pages = 0
    while start <= plan.end_ms:
        response = await client.fetch(
            DataRequest(
                source,
                Endpoint.OHLCV,
                plan.symbol,
                {"timeframe": timeframe, "since": start, "limit": page},
                priority=Priority.LOW,
                cache_ttl_s=0.0,
            )
        )
        pages += 1
        series = response.data
        assert isinstance(series, CandleSeries)
        series = _within(
            closed_candles(series, time.time() if now is None else now), start, plan.end_ms
        )
        if len(series) == 0:
            break  # nothing more from the exchange (not listed yet, or its history ends)
        report = assess_candles(series)
        bad = [f for f in report.findings if f.flag in _INVALID]
        if bad:
            raise HistoryError(f"{plan.symbol}: {bad[0].detail}; nothing of this page stored")
        new += store.insert(source, timeframe, series)
        fetched += len(series)
        on_page(len(series))
        last = round(float(series.open_ts[-1]) * 1000)
        if last + plan.step_ms <= start:
            break
        start = last + plan.step_ms
    return DownloadResult(plan.symbol, fetched, new, pages)


def _within(series: CandleSeries, start_ms: int, end_ms: int) -> CandleSeries:
    opens_ms = series.open_ts * 1000
    return series.where((opens_ms >= start_ms - 0.5) & (opens_ms <= end_ms + 0.5))
