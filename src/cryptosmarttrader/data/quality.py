"""Data-quality assessment of market snapshots and candle series.

The RiskGuard's data gate rejects an order on the worst finding of :func:`assess_snapshot`;
the market-data feed runs :func:`assess_candles` on the recent candles behind each snapshot
and attaches what it finds to the snapshot, so gaps and jumps stop orders too.
"""

from __future__ import annotations

import math

import numpy as np

from cryptosmarttrader.domain.candles import CandleSeries
from cryptosmarttrader.domain.market import MarketSnapshot
from cryptosmarttrader.domain.quality import Finding, QualityFlag, QualityReport, quality_report

# Below this a series is treated as flat: a robust deviation of zero would make any move an
# outlier, and a 1 bp floor keeps quiet markets tradeable.
_MIN_SIGMA = 1e-4
# Scale from the median absolute deviation to a standard deviation under normality.
_MAD_TO_SIGMA = 1.4826


def assess_snapshot(
    snapshot: MarketSnapshot,
    now: float,
    *,
    max_age_s: float,
    max_clock_skew_s: float,
    min_completeness: float,
    symbol: str | None = None,
) -> QualityReport:
    findings: list[Finding] = []
    if symbol is not None and snapshot.symbol != symbol:
        findings.append(
            Finding(QualityFlag.WRONG_SYMBOL, f"snapshot is for {snapshot.symbol}, not {symbol}")
        )
    defect = snapshot.defect
    if defect is not None:
        findings.append(defect)
    if math.isfinite(snapshot.exchange_ts):
        age = now - snapshot.exchange_ts
        if not (age <= max_age_s):
            findings.append(
                Finding(QualityFlag.STALE, f"data is {age:.1f}s old (max {max_age_s:g}s)")
            )
        elif not (age >= -max_clock_skew_s):
            findings.append(
                Finding(QualityFlag.FUTURE_TIMESTAMP, f"data is stamped {-age:.1f}s in the future")
            )
    if not (snapshot.completeness >= min_completeness):
        findings.append(
            Finding(
                QualityFlag.INCOMPLETE,
                f"data {snapshot.completeness:.0%} complete (min {min_completeness:.0%})",
            )
        )
    findings.extend(snapshot.findings)
    return quality_report(findings, snapshot.completeness)


def assess_candles(
    series: CandleSeries,
    now: float | None = None,
    *,
    max_age_s: float | None = None,
    outlier_sigma: float = 10.0,
    recent: int = 3,
    latest_price: float | None = None,
) -> QualityReport:
    """Assess a candle series; the outlier test looks at the last ``recent`` returns (and the
    move from the last close to ``latest_price``) against the robust spread of the others."""
    findings: list[Finding] = []
    if len(series) == 0:
        return quality_report([Finding(QualityFlag.INCOMPLETE, "no candles")], 0.0)
    prices = np.stack([series.open, series.high, series.low, series.close])
    values = np.concatenate([prices.ravel(), series.volume, series.open_ts])
    if not np.all(np.isfinite(values)):
        findings.append(Finding(QualityFlag.NON_FINITE, "a candle has a non-finite value"))
    elif np.any(prices <= 0) or np.any(series.volume < 0):
        findings.append(
            Finding(QualityFlag.NON_POSITIVE, "a candle has a non-positive price or volume")
        )
    elif np.any(series.high < np.maximum(series.open, series.close)) or np.any(
        series.low > np.minimum(series.open, series.close)
    ):
        findings.append(
            Finding(QualityFlag.INCONSISTENT_CANDLE, "a candle's high/low do not bound it")
        )
    steps = np.diff(series.open_ts)
    interval = float(series.interval_s)
    completeness = 1.0
    if np.any(steps == 0):
        findings.append(
            Finding(QualityFlag.DUPLICATE_TIMESTAMP, f"{int(np.sum(steps == 0))} duplicated")
        )
    if np.any(steps < 0):
        findings.append(Finding(QualityFlag.OUT_OF_ORDER, f"{int(np.sum(steps < 0))} out of order"))
    gaps = steps > interval * 1.5
    if np.any(gaps):
        missing = int(np.sum(np.round(steps[gaps] / interval) - 1))
        findings.append(
            Finding(QualityFlag.CANDLE_GAP, f"{missing} missing candles in {int(gaps.sum())} gaps")
        )
        completeness = len(series) / (len(series) + missing)
    if now is not None and max_age_s is not None and math.isfinite(series.open_ts[-1]):
        age = now - (series.open_ts[-1] + interval)
        if not (age <= max_age_s):
            findings.append(
                Finding(
                    QualityFlag.STALE, f"last candle closed {age:.0f}s ago (max {max_age_s:g}s)"
                )
            )
    if not findings or all(f.flag is QualityFlag.CANDLE_GAP for f in findings):
        jump = _outlier(series.close, recent, outlier_sigma, latest_price)
        if jump is not None:
            findings.append(jump)
    return quality_report(findings, completeness)


def _outlier(
    closes: np.ndarray, recent: int, sigmas: float, latest_price: float | None
) -> Finding | None:
    series = closes if latest_price is None else np.append(closes, latest_price)
    if not (np.all(np.isfinite(series)) and np.all(series > 0)):
        return None if latest_price is None else _bad_latest(latest_price)
    returns = np.diff(np.log(series))
    checked = recent + (latest_price is not None)
    history, tail = returns[:-checked], returns[-checked:]
    if history.size < 10:
        return None  # too little history to say what is normal
    centre = float(np.median(history))
    sigma = max(_MAD_TO_SIGMA * float(np.median(np.abs(history - centre))), _MIN_SIGMA)
    scores = np.abs(tail - centre) / sigma
    worst = float(scores.max())
    if worst > sigmas:
        return Finding(
            QualityFlag.OUTLIER,
            f"a return of {float(tail[int(scores.argmax())]):+.2%} is {worst:.0f} sigma "
            f"from recent ones (max {sigmas:g})",
        )
    return None


def _bad_latest(price: float) -> Finding:
    flag = QualityFlag.NON_FINITE if not math.isfinite(price) else QualityFlag.NON_POSITIVE
    return Finding(flag, f"latest price is {price!r}")
