"""Walk-forward validation of a strategy's entry signals, out of sample.

The history is cut into ``folds + 1`` consecutive blocks, never shuffled. Fold i tests on
block i and learns its calibration (:mod:`.calibration`) from the blocks before it (all of
them when ``expanding``, the last one when ``rolling``). A training signal whose horizon
reaches into the test block is left out (purged), so no test price informs the calibration.

An entry on bar t is bought at bar t+1's open and judged at bar t+h's close: its forward
return is ``(1 - fee)^2 * close[t+h] / open[t+1] - 1`` (a fee on the way in and out), and it
is a hit when that is positive. Every fold is compared with random entry (the same return from
every bar of the block, i.e. what entering at a random time earns on average) and with buying
and holding the block.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from cryptosmarttrader.domain.candles import CandleSeries
from cryptosmarttrader.signals.calibration import Calibration
from cryptosmarttrader.signals.indicators import FloatArray
from cryptosmarttrader.signals.strategy import Strategy

RELIABILITY_EDGES = np.linspace(0.0, 1.0, 11)


class FoldMode(StrEnum):
    EXPANDING = "expanding"
    ROLLING = "rolling"


@dataclass(frozen=True)
class ReliabilityBin:
    low: float
    high: float
    signals: int
    mean_confidence: float
    hit_rate: float


@dataclass(frozen=True)
class Outcomes:
    """Entry signals with their confidence and what followed."""

    bars: np.ndarray
    confidence: FloatArray
    forward_return: FloatArray

    @property
    def hits(self) -> np.ndarray:
        return self.forward_return > 0

    def summary(self) -> dict[str, object]:
        count = int(self.bars.size)
        hits = self.hits
        return {
            "signals": count,
            "hit_rate": float(hits.mean()) if count else None,
            "mean_return": float(self.forward_return.mean()) if count else None,
            "brier": float(np.mean((self.confidence - hits) ** 2)) if count else None,
            "reliability": [vars(b) for b in reliability(self.confidence, hits)],
        }


@dataclass(frozen=True)
class FoldReport:
    index: int
    train_start_ts: float
    test_start_ts: float
    test_end_ts: float
    train_signals: int
    outcomes: Outcomes
    base_rate: float | None
    """Hit rate of the training signals: the forecast that ignores strength."""
    random_hit_rate: float | None
    random_mean_return: float | None
    buy_and_hold_return: float

    def to_dict(self) -> dict[str, object]:
        summary = self.outcomes.summary()
        hits = self.outcomes.hits
        baseline = (
            float(np.mean((self.base_rate - hits) ** 2))
            if self.base_rate is not None and hits.size
            else None
        )
        return {
            "fold": self.index,
            "train_start_ts": self.train_start_ts,
            "test_start_ts": self.test_start_ts,
            "test_end_ts": self.test_end_ts,
            "train_signals": self.train_signals,
            **summary,
            "brier_base_rate": baseline,
            "random_entry": {
                "hit_rate": self.random_hit_rate,
                "mean_return": self.random_mean_return,
            },
            "buy_and_hold_return": self.buy_and_hold_return,
        }


@dataclass(frozen=True)
class ValidationReport:
    strategy: str
    horizon: int
    fee: float
    mode: FoldMode
    folds: tuple[FoldReport, ...]

    def overall(self) -> dict[str, object]:
        pooled = Outcomes(
            bars=np.concatenate([f.outcomes.bars for f in self.folds]),
            confidence=np.concatenate([f.outcomes.confidence for f in self.folds]),
            forward_return=np.concatenate([f.outcomes.forward_return for f in self.folds]),
        )
        randoms = [f.random_mean_return for f in self.folds if f.random_mean_return is not None]
        return {
            **pooled.summary(),
            "random_entry_mean_return": float(np.mean(randoms)) if randoms else None,
            "buy_and_hold_mean_return": float(np.mean([f.buy_and_hold_return for f in self.folds])),
        }

    def to_dict(self) -> dict[str, object]:
        return {
            "strategy": self.strategy,
            "horizon": self.horizon,
            "fee": self.fee,
            "mode": self.mode.value,
            "folds": [f.to_dict() for f in self.folds],
            "overall": self.overall(),
        }


def forward_returns(series: CandleSeries, horizon: int, fee: float) -> FloatArray:
    """For an entry on each bar t: bought at open[t+1], sold at close[t+horizon], fees in and
    out; NaN where the history ends too soon."""
    n = len(series)
    result = np.full(n, np.nan)
    if n > horizon:
        entry = series.open[1 : n - horizon + 1]
        exit_ = series.close[horizon:]
        result[: n - horizon] = (1.0 - fee) ** 2 * exit_ / entry - 1.0
    return result


def reliability(confidence: FloatArray, hits: np.ndarray) -> list[ReliabilityBin]:
    """Signals grouped by confidence in tenths: mean confidence against the observed rate."""
    bins = np.clip(np.digitize(confidence, RELIABILITY_EDGES[1:-1]), 0, 9)
    table = []
    for b in range(10):
        mask = bins == b
        count = int(mask.sum())
        if count:
            table.append(
                ReliabilityBin(
                    low=float(RELIABILITY_EDGES[b]),
                    high=float(RELIABILITY_EDGES[b + 1]),
                    signals=count,
                    mean_confidence=float(confidence[mask].mean()),
                    hit_rate=float(hits[mask].mean()),
                )
            )
    return table


def walk_forward(
    series: CandleSeries,
    strategy: Strategy,
    *,
    folds: int = 5,
    mode: FoldMode = FoldMode.EXPANDING,
    horizon: int = 12,
    fee: float = 0.001,
) -> ValidationReport:
    n = len(series)
    if not 1 <= folds <= 100:
        raise ValueError(f"folds must be in [1, 100], got {folds}")
    if not 1 <= horizon <= 10_000:
        raise ValueError(f"horizon must be in [1, 10000] bars, got {horizon}")
    if not 0 <= fee < 1:
        raise ValueError(f"fee must be in [0, 1), got {fee}")
    block = n // (folds + 1)
    if block <= horizon + strategy.warmup:
        raise ValueError(
            f"{n} candles make blocks of {block}: too short for {folds} folds with a horizon "
            f"of {horizon} and a warm-up of {strategy.warmup}"
        )
    frame = strategy.signals(series)
    returns = forward_returns(series, horizon, fee)
    judged = frame.entry & np.isfinite(returns)
    bars = np.arange(n)
    reports = []
    for i in range(1, folds + 1):
        test_start = i * block
        test_end = n if i == folds else (i + 1) * block
        train_start = 0 if mode is FoldMode.EXPANDING else (i - 1) * block
        # Purged: a training entry must be judged before the test block starts.
        train = judged & (bars >= train_start) & (bars + horizon < test_start)
        calibration = Calibration.fit(frame.strength[train], returns[train] > 0)
        test = judged & (bars >= test_start) & (bars < test_end)
        outcomes = Outcomes(
            bars=bars[test],
            confidence=calibration(frame.strength[test]),
            forward_return=returns[test],
        )
        every = np.isfinite(returns) & (bars >= test_start) & (bars < test_end)
        random_returns = returns[every]
        reports.append(
            FoldReport(
                index=i,
                train_start_ts=float(series.open_ts[train_start]),
                test_start_ts=float(series.open_ts[test_start]),
                test_end_ts=float(series.open_ts[test_end - 1]),
                train_signals=int(train.sum()),
                outcomes=outcomes,
                base_rate=float((returns[train] > 0).mean()) if train.any() else None,
                random_hit_rate=float((random_returns > 0).mean()) if random_returns.size else None,
                random_mean_return=float(random_returns.mean()) if random_returns.size else None,
                buy_and_hold_return=float(
                    (1.0 - fee) ** 2 * series.close[test_end - 1] / series.open[test_start] - 1.0
                ),
            )
        )
    return ValidationReport(
        strategy=strategy.name, horizon=horizon, fee=fee, mode=mode, folds=tuple(reports)
    )
