"""Data quality: every flag on crafted data, the score, and the RiskGuard's answer to each."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pytest

from cryptosmarttrader.data.cache import MarketDataCache
from cryptosmarttrader.data.client import MarketDataClient
from cryptosmarttrader.data.feed import FeedConfig, MarketDataFeed
from cryptosmarttrader.data.quality import assess_candles, assess_snapshot
from cryptosmarttrader.data.rate_limit import RateLimit
from cryptosmarttrader.domain.candles import CandleSeries
from cryptosmarttrader.domain.market_data import Endpoint, OrderBook, Payload, Ticker
from cryptosmarttrader.domain.quality import Finding, QualityFlag
from cryptosmarttrader.domain.reason_codes import ReasonCode
from tests.factories import LOOSE_RISK, T0, assess, intent, snapshot

STEP = 60


def candles(closes: list[float], *, start: float = T0 - 3600, step: int = STEP) -> CandleSeries:
    close = np.asarray(closes, dtype=np.float64)
    opens = np.concatenate([[close[0]], close[:-1]])
    return CandleSeries(
        symbol="BTC/USDT",
        interval_s=step,
        open_ts=start + step * np.arange(close.size, dtype=np.float64),
        open=opens,
        high=np.maximum(opens, close) * 1.0005,
        low=np.minimum(opens, close) * 0.9995,
        close=close,
        volume=np.full(close.size, 5.0),
    )


def calm(n: int = 60) -> list[float]:
    rng = np.random.default_rng(3)
    return list(50_000 * np.exp(np.cumsum(rng.normal(0, 0.001, n))))


def with_column(series: CandleSeries, name: str, index: int, value: float) -> CandleSeries:
    column = getattr(series, name).copy()
    column[index] = value
    return dataclasses.replace(series, **{name: column})


def flags(series: CandleSeries, **kwargs: Any) -> set[QualityFlag]:
    return set(assess_candles(series, **kwargs).flags)


def test_clean_candles_score_one() -> None:
    report = assess_candles(candles(calm()), T0 + 60, max_age_s=120, latest_price=calm()[-1])
    assert report.ok
    assert report.score == 1.0


@pytest.mark.parametrize(
    ("name", "value", "flag"),
    [
        ("close", math.nan, QualityFlag.NON_FINITE),
        ("volume", math.inf, QualityFlag.NON_FINITE),
        ("low", 0.0, QualityFlag.NON_POSITIVE),
        ("volume", -1.0, QualityFlag.NON_POSITIVE),
        ("high", 1.0, QualityFlag.INCONSISTENT_CANDLE),
    ],
)
def test_invalid_values_are_flagged(name: str, value: float, flag: QualityFlag) -> None:
    report = assess_candles(with_column(candles(calm()), name, 30, value))
    assert report.flags == {flag}
    assert report.score == 0.0


def test_duplicated_out_of_order_and_missing_candles_are_flagged() -> None:
    base = candles(calm())
    duplicated = with_column(base, "open_ts", 10, float(base.open_ts[9]))
    assert QualityFlag.DUPLICATE_TIMESTAMP in flags(duplicated)
    swapped = with_column(base, "open_ts", 10, float(base.open_ts[8]))
    assert QualityFlag.OUT_OF_ORDER in flags(swapped)
    keep = np.ones(len(base), dtype=bool)
    keep[20:23] = False
    gap = assess_candles(base.where(keep))
    assert gap.flags == {QualityFlag.CANDLE_GAP}
    assert "3 missing candles in 1 gaps" in gap.findings[0].detail
    assert gap.score == pytest.approx(0.5 * 57 / 60)


def test_a_stale_series_is_flagged() -> None:
    series = candles(calm())
    last_close = float(series.open_ts[-1]) + STEP
    assert QualityFlag.STALE not in flags(series, now=last_close + 100, max_age_s=120)
    assert QualityFlag.STALE in flags(series, now=last_close + 121, max_age_s=120)


def test_a_jump_far_beyond_recent_moves_is_an_outlier() -> None:
    closes = calm()
    jumped = [*closes[:-1], closes[-2] * 1.05]  # a 5% minute after 0.1% ones
    assert flags(candles(jumped)) == {QualityFlag.OUTLIER}
    assert flags(candles(closes)) == set()
    assert flags(candles(closes), latest_price=closes[-1] * 0.95) == {QualityFlag.OUTLIER}
    assert flags(candles(closes), latest_price=closes[-1] * 1.001) == set()


@pytest.mark.parametrize(
    ("snap", "flag", "code"),
    [
        (snapshot(ts=T0 - 61), QualityFlag.STALE, ReasonCode.DATA_STALE),
        (snapshot(ts=T0 + 6), QualityFlag.FUTURE_TIMESTAMP, ReasonCode.DATA_INVALID),
        (snapshot(completeness=0.8), QualityFlag.INCOMPLETE, ReasonCode.DATA_INCOMPLETE),
        (snapshot(bid=50_010.0), QualityFlag.CROSSED_BOOK, ReasonCode.DATA_INVALID),
        (snapshot(last=math.nan), QualityFlag.NON_FINITE, ReasonCode.DATA_INVALID),
        (snapshot(last=-1.0), QualityFlag.NON_POSITIVE, ReasonCode.DATA_INVALID),
        (snapshot("ETH/USDT"), QualityFlag.WRONG_SYMBOL, ReasonCode.DATA_INVALID),
        (
            dataclasses.replace(
                snapshot(), findings=(Finding(QualityFlag.CANDLE_GAP, "2 missing"),)
            ),
            QualityFlag.CANDLE_GAP,
            ReasonCode.DATA_INTEGRITY,
        ),
        (
            dataclasses.replace(
                snapshot(), findings=(Finding(QualityFlag.DUPLICATE_TIMESTAMP, "1"),)
            ),
            QualityFlag.DUPLICATE_TIMESTAMP,
            ReasonCode.DATA_INTEGRITY,
        ),
        (
            dataclasses.replace(snapshot(), findings=(Finding(QualityFlag.OUTLIER, "9 sigma"),)),
            QualityFlag.OUTLIER,
            ReasonCode.DATA_OUTLIER,
        ),
    ],
)
def test_each_flag_stops_orders_with_its_reason_code(
    snap: Any, flag: QualityFlag, code: ReasonCode
) -> None:
    limits = LOOSE_RISK
    report = assess_snapshot(
        snap,
        T0,
        max_age_s=limits.max_data_age_s,
        max_clock_skew_s=limits.max_clock_skew_s,
        min_completeness=limits.min_data_completeness,
        symbol="BTC/USDT",
    )
    assert report.worst is not None
    assert report.worst.flag is flag
    rejected = assess(intent(), snap=snap).result.rejected
    assert rejected is not None
    assert rejected.code is code
    assert rejected.numbers["quality_score"] == report.score
    assert not assess(intent(), snap=snapshot()).rejected


class CraftedApi:
    """Public API fake for crafted data: what the paper exchange cannot be made to send."""

    name = "crafted"

    def __init__(self) -> None:
        self.closes = calm(61)
        self.mid = self.closes[-1]
        self.now = T0

    def weight(self, endpoint: Endpoint, params: Mapping[str, Any]) -> float:
        return 1.0

    async def fetch(self, endpoint: Endpoint, symbol: str | None, params: Any) -> Payload:
        mid = self.mid
        if endpoint is Endpoint.TICKER:
            return Ticker("BTC/USDT", mid - 5, mid + 5, mid, 1e9, self.now - 1)
        if endpoint is Endpoint.ORDER_BOOK:
            bids = tuple((mid - 5 - k, 4.0) for k in range(20))
            asks = tuple((mid + 5 + k, 4.0) for k in range(20))
            return OrderBook("BTC/USDT", bids, asks, None)
        # 61 closed candles ending at the last full minute, and the one still forming
        start = (self.now // STEP) * STEP - STEP * len(self.closes)
        return candles([*self.closes, self.closes[-1]], start=start)

    async def close(self) -> None:
        return None


def test_orders_stop_on_bad_data_and_resume_when_it_heals() -> None:
    api = CraftedApi()
    client = MarketDataClient(
        {"crafted": api},
        rate_limits={"crafted": RateLimit(100, 100)},
        cache=MarketDataCache(None),
        wall_clock=lambda: api.now,
    )
    feed = MarketDataFeed(
        client,
        "crafted",
        limits=LOOSE_RISK,
        config=FeedConfig(snapshot_cache_ttl_s=0.0),
        wall_clock=lambda: api.now,
    )
    try:
        healthy = feed.snapshot("BTC/USDT")
        api.mid = api.closes[-1] * 1.08  # the price leaps 8% in a calm market
        api.now += 1
        jumped = feed.snapshot("BTC/USDT")
        api.mid = api.closes[-1]  # the glitch is gone
        api.now += 1
        healed = feed.snapshot("BTC/USDT")
    finally:
        feed.close()
    assert healthy is not None
    assert jumped is not None
    assert healed is not None
    assert healthy.findings == ()
    assert [f.flag for f in jumped.findings] == [QualityFlag.OUTLIER]
    assert healthy.completeness == 1.0

    def code(snap: Any) -> ReasonCode:
        price = round(snap.bid, 2)
        rejected = assess(intent(price=price), snap=snap, now=api.now).result.rejected
        return ReasonCode.APPROVED if rejected is None else rejected.code

    assert code(healthy) is ReasonCode.APPROVED
    assert code(jumped) is ReasonCode.DATA_OUTLIER
    assert code(healed) is ReasonCode.APPROVED
