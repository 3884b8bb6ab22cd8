"""Strategies: the defined signals, no lookahead, valid strengths, clear parameter errors."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cryptosmarttrader.domain.candles import CandleSeries, read_candle_file
from cryptosmarttrader.signals.strategy import (
    STRATEGIES,
    DonchianBreakout,
    EmaCross,
    RsiReversion,
    Strategy,
    StrategyError,
    build_strategy,
)

DATA = Path(__file__).resolve().parent / "data" / "reference"
SERIES = read_candle_file(DATA / "ETH_BTC-5m.csv")


def prefix(series: CandleSeries, count: int) -> CandleSeries:
    keep = np.zeros(len(series), dtype=bool)
    keep[:count] = True
    return series.where(keep)


def series_of(close: np.ndarray) -> CandleSeries:
    """Candles that open, peak, bottom and close at one price each bar."""
    return dataclasses.replace(
        SERIES,
        open_ts=np.arange(close.size, dtype=np.float64) * 300,
        open=close,
        high=close,
        low=close,
        close=close,
        volume=np.ones(close.size),
    )


def reference_ema_cross(close: list[float], fast: int, slow: int) -> tuple[list[int], list[int]]:
    """The issue's definition, written out bar by bar."""

    def ema(n: int) -> list[float]:
        alpha = 2.0 / (n + 1)
        out = [close[0]]
        for price in close[1:]:
            out.append(alpha * price + (1 - alpha) * out[-1])
        return out

    f, s = ema(fast), ema(slow)
    entries = [t for t in range(slow, len(close)) if f[t] > s[t] and f[t - 1] <= s[t - 1]]
    exits = [t for t in range(slow, len(close)) if f[t] < s[t] and f[t - 1] >= s[t - 1]]
    return entries, exits


@pytest.mark.parametrize(("fast", "slow"), [(12, 26), (5, 50), (1, 2)])
def test_ema_cross_is_exactly_the_defined_rule(fast: int, slow: int) -> None:
    frame = EmaCross(fast, slow).signals(SERIES)
    entries, exits = reference_ema_cross(SERIES.close.tolist(), fast, slow)
    assert np.flatnonzero(frame.entry).tolist() == entries
    assert np.flatnonzero(frame.exit).tolist() == exits
    assert len(entries) > 10


ANY_STRATEGY = st.one_of(
    st.builds(EmaCross, fast=st.integers(1, 30), slow=st.integers(31, 120)),
    st.builds(
        RsiReversion,
        period=st.integers(2, 40),
        low=st.floats(5, 45),
        high=st.floats(55, 95),
    ),
    st.builds(DonchianBreakout, period=st.integers(2, 100)),
)


@settings(max_examples=60, deadline=None)
@given(strategy=ANY_STRATEGY, cut=st.integers(2, 1_500), start=st.integers(0, 4_000))
def test_no_strategy_looks_ahead(strategy: Strategy, cut: int, start: int) -> None:
    # Bar t's signal is the same whether or not the bars after t exist.
    keep = np.zeros(len(SERIES), dtype=bool)
    keep[start : start + 1_600] = True
    window = SERIES.where(keep)
    full = strategy.signals(window)
    part = strategy.signals(prefix(window, cut))
    np.testing.assert_array_equal(part.entry, full.entry[:cut])
    np.testing.assert_array_equal(part.exit, full.exit[:cut])
    np.testing.assert_array_equal(part.strength, full.strength[:cut])


@pytest.mark.parametrize("name", list(STRATEGIES))
def test_strengths_are_in_range_and_only_on_entries(name: str) -> None:
    frame = build_strategy(name).signals(SERIES)
    assert frame.entry.any()
    assert frame.exit.any()
    assert not (frame.entry & frame.exit).any()
    assert np.all((frame.strength >= 0) & (frame.strength <= 1))
    assert np.all(frame.strength[~frame.entry] == 0)
    assert np.all(frame.strength[frame.entry] > 0)


@pytest.mark.parametrize("name", list(STRATEGIES))
def test_nothing_is_signalled_during_the_warm_up(name: str) -> None:
    strategy = build_strategy(name)
    frame = strategy.signals(SERIES)
    assert not frame.entry[: strategy.warmup].any()
    assert not frame.exit[: strategy.warmup].any()


def test_rsi_reversion_enters_when_rsi_falls_below_low() -> None:
    # Steady rises, then a fall: RSI drops from 100 through 30 on the fall.
    close = np.concatenate([np.linspace(100, 120, 40), np.linspace(119, 90, 15)])
    series = series_of(close)
    frame = RsiReversion(period=14, low=30, high=70).signals(series)
    entries = np.flatnonzero(frame.entry)
    assert entries.size == 1
    assert entries[0] >= 40


def test_donchian_breakout_enters_on_a_new_high() -> None:
    close = np.concatenate([np.full(30, 100.0), [101.0, 102.0, 99.0]])
    series = series_of(close)
    frame = DonchianBreakout(period=20).signals(series)
    assert np.flatnonzero(frame.entry).tolist() == [30]  # 31 is no new breakout
    assert frame.strength[30] == 1.0  # a flat channel has no width: any break is full strength


@pytest.mark.parametrize(
    ("name", "params", "fragment"),
    [
        ("nope", {}, "unknown strategy"),
        ("ema_cross", {"fast": "26", "slow": "12"}, "fast < slow"),
        ("ema_cross", {"fast": "1.5"}, "expected int"),
        ("ema_cross", {"speed": "3"}, "takes no parameter 'speed'"),
        ("rsi_reversion", {"low": "nan"}, "finite"),
        ("rsi_reversion", {"low": "80", "high": "70"}, "low < high"),
        ("donchian_breakout", {"period": "1"}, "period"),
    ],
)
def test_bad_strategy_input_is_refused_with_a_reason(
    name: str, params: dict[str, str], fragment: str
) -> None:
    with pytest.raises(StrategyError, match=fragment):
        build_strategy(name, params)


def test_parameters_given_as_text_are_typed() -> None:
    strategy = build_strategy("rsi_reversion", {"period": "10", "low": "25.5"})
    assert strategy == RsiReversion(period=10, low=25.5, high=70.0)
