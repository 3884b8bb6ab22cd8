"""Calibration and walk-forward validation: out of sample, never shuffled, no leakage."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from cryptosmarttrader.domain.candles import read_candle_file
from cryptosmarttrader.signals.calibration import Calibration
from cryptosmarttrader.signals.strategy import EmaCross, RsiReversion
from cryptosmarttrader.signals.validation import FoldMode, forward_returns, walk_forward
from tests.test_cli import as_json, assert_one_line_error, run

DATA = Path(__file__).resolve().parent / "data" / "reference"
SERIES = read_candle_file(DATA / "BTC_USDT-5m.csv")

STRENGTHS = arrays(np.float64, st.integers(1, 200), elements=st.floats(0, 1))


@settings(max_examples=200, deadline=None)
@given(strength=STRENGTHS, seed=st.integers(0, 2**32 - 1), probe=STRENGTHS)
def test_calibration_is_monotone_and_never_certain(
    strength: np.ndarray, seed: int, probe: np.ndarray
) -> None:
    hits = np.random.default_rng(seed).random(strength.size) < 0.5
    calibration = Calibration.fit(strength, hits)
    confidence = calibration(np.sort(probe))
    assert np.all((confidence > 0) & (confidence < 1))
    assert np.all(np.diff(confidence) >= 0)


def test_calibration_learns_a_rate_per_strength() -> None:
    strength = np.array([0.1] * 50 + [0.9] * 50)
    hits = np.array([False] * 40 + [True] * 10 + [True] * 40 + [False] * 10)
    calibration = Calibration.fit(strength, hits)
    prior = 51 / 102
    low, high = calibration(np.array([0.05, 0.95]))
    assert low == pytest.approx((10 + 2 * prior) / 52)  # below every block: the first one
    assert high == pytest.approx((40 + 2 * prior) / 52)


def test_a_rate_that_falls_with_strength_is_pooled_flat() -> None:
    strength = np.array([0.2] * 10 + [0.8] * 10)
    hits = np.array([True] * 8 + [False] * 2 + [True] * 2 + [False] * 8)
    calibration = Calibration.fit(strength, hits)
    low, high = calibration(np.array([0.2, 0.8]))
    assert low == high == pytest.approx((10 + 2 * (11 / 22)) / 22)


def test_no_history_means_no_confidence() -> None:
    calibration = Calibration.fit(np.zeros(0), np.zeros(0, dtype=bool))
    assert not calibration.fitted
    assert calibration(np.array([0.3, 1.0])).tolist() == [0.0, 0.0]


def test_forward_returns_buy_the_next_open_and_sell_the_horizon_close() -> None:
    returns = forward_returns(SERIES, 3, 0.001)
    t = 100
    expected = 0.999**2 * SERIES.close[t + 3] / SERIES.open[t + 1] - 1
    assert returns[t] == pytest.approx(expected)
    assert np.isnan(returns[-3:]).all()
    assert np.isfinite(returns[:-3]).all()


@pytest.mark.parametrize("mode", list(FoldMode))
def test_folds_are_consecutive_and_train_only_on_the_past(mode: FoldMode) -> None:
    report = walk_forward(SERIES, EmaCross(12, 26), folds=4, mode=mode, horizon=12)
    assert [f.index for f in report.folds] == [1, 2, 3, 4]
    starts = [f.test_start_ts for f in report.folds]
    assert starts == sorted(starts)
    for fold in report.folds:
        assert fold.train_start_ts < fold.test_start_ts
        assert fold.outcomes.bars.size > 0
        test_ts = SERIES.open_ts[fold.outcomes.bars]
        assert test_ts.min() >= fold.test_start_ts
        assert test_ts.max() <= fold.test_end_ts
    if mode is FoldMode.EXPANDING:
        assert {f.train_start_ts for f in report.folds} == {SERIES.open_ts[0]}
        trained = [f.train_signals for f in report.folds]
        assert trained == sorted(trained)
    else:
        assert len({f.train_start_ts for f in report.folds}) == 4


def test_the_test_fold_cannot_inform_its_own_calibration() -> None:
    # Swapping what happens in a fold changes its outcomes, never its confidences.
    report = walk_forward(SERIES, RsiReversion(), folds=3, horizon=6)
    altered = SERIES.close.copy()
    last = report.folds[-1]
    block_start = int(np.searchsorted(SERIES.open_ts, last.test_start_ts))
    altered[block_start:] = altered[block_start:][::-1]
    other = walk_forward(
        type(SERIES)(**{**vars(SERIES), "close": altered}), RsiReversion(), folds=3, horizon=6
    )
    assert other.folds[-1].base_rate == last.base_rate
    for before, after in zip(report.folds[:-1], other.folds[:-1], strict=True):
        np.testing.assert_array_equal(before.outcomes.confidence, after.outcomes.confidence)


def test_the_report_has_the_baselines() -> None:
    report = walk_forward(SERIES, EmaCross(12, 26), folds=5, horizon=12, fee=0.001)
    overall = report.overall()
    assert overall["signals"] == sum(f.outcomes.bars.size for f in report.folds)
    fold = report.folds[0].to_dict()
    for key in ("hit_rate", "mean_return", "brier", "brier_base_rate", "reliability"):
        assert key in fold
    first = report.folds[0]
    start = int(np.searchsorted(SERIES.open_ts, first.test_start_ts))
    end = int(np.searchsorted(SERIES.open_ts, first.test_end_ts))
    assert first.buy_and_hold_return == pytest.approx(
        0.999**2 * SERIES.close[end] / SERIES.open[start] - 1
    )
    bins = overall["reliability"]
    assert isinstance(bins, list)
    assert sum(b["signals"] for b in bins) == overall["signals"]
    brier = overall["brier"]
    assert isinstance(brier, float)
    assert 0 <= brier <= 1
    assert math.isfinite(first.random_mean_return or math.nan)


def test_too_little_history_is_refused() -> None:
    with pytest.raises(ValueError, match="too short"):
        walk_forward(SERIES, EmaCross(12, 26), folds=100, horizon=500)


def test_the_cli_validates_as_json(tmp_path: Path) -> None:
    result = run(
        tmp_path,
        "signals",
        "validate",
        "--data",
        str(DATA / "BTC_USDT-5m.csv"),
        "--strategy",
        "ema_cross",
        "--folds",
        "3",
        "--json",
    )
    report = as_json(result)
    assert report["strategy"] == "ema_cross"
    assert len(report["folds"]) == 3
    assert report["overall"]["signals"] > 0


def test_the_cli_refuses_bad_input(tmp_path: Path) -> None:
    result = run(
        tmp_path, "signals", "validate", "--data", str(DATA / "BTC_USDT-5m.csv"), "--folds", "0"
    )
    assert "folds" in assert_one_line_error(result)
