"""Causal indicators over whole histories: the value at bar t depends on bars 0..t only.

Each is one vectorized pass (pandas' recursive and rolling kernels), so a backtest over a
million candles and the live loop over the last few hundred run the same code.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd

FloatArray = npt.NDArray[np.float64]


def ema(values: FloatArray, span: int) -> FloatArray:
    """Exponential mean with alpha = 2 / (span + 1), seeded with the first value
    (pandas ``ewm(span=span, adjust=False)``)."""
    result: FloatArray = pd.Series(values).ewm(span=span, adjust=False).mean().to_numpy()
    return result


def rsi(close: FloatArray, period: int) -> FloatArray:
    """Wilder's relative strength index in [0, 100]; NaN for the first ``period`` bars.

    Gains and losses are smoothed with alpha = 1 / period, seeded with the first change.
    A window without losses is 100, one without any change 50.
    """
    change = np.diff(close, prepend=np.nan)
    gains = pd.Series(np.clip(change, 0.0, None))
    losses = pd.Series(np.clip(-change, 0.0, None))
    up = gains.ewm(alpha=1.0 / period, adjust=False, ignore_na=True).mean().to_numpy()
    down = losses.ewm(alpha=1.0 / period, adjust=False, ignore_na=True).mean().to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        value = 100.0 - 100.0 / (1.0 + up / down)
    value = np.where(down == 0.0, np.where(up == 0.0, 50.0, 100.0), value)
    value[: period + 1] = np.nan
    result: FloatArray = value
    return result


def prior_max(values: FloatArray, window: int) -> FloatArray:
    """Highest of the ``window`` bars before bar t (not including t); NaN until there are."""
    result: FloatArray = (
        pd.Series(values).rolling(window, min_periods=window).max().shift(1).to_numpy()
    )
    return result


def prior_min(values: FloatArray, window: int) -> FloatArray:
    """Lowest of the ``window`` bars before bar t (not including t); NaN until there are."""
    result: FloatArray = (
        pd.Series(values).rolling(window, min_periods=window).min().shift(1).to_numpy()
    )
    return result


def log_return_std(close: FloatArray, window: int) -> FloatArray:
    """Standard deviation of the last ``window`` one-bar log returns; NaN until there are."""
    returns = np.diff(np.log(close), prepend=np.nan)
    result: FloatArray = (
        pd.Series(returns).rolling(window, min_periods=window).std(ddof=0).to_numpy()
    )
    return result


def crossed_above(a: FloatArray, b: FloatArray) -> npt.NDArray[np.bool_]:
    """Bar t where a[t] > b[t] and a[t-1] <= b[t-1]."""
    out = np.zeros(a.shape, dtype=bool)
    out[1:] = (a[1:] > b[1:]) & (a[:-1] <= b[:-1])
    return out


def crossed_below(a: FloatArray, b: FloatArray) -> npt.NDArray[np.bool_]:
    """Bar t where a[t] < b[t] and a[t-1] >= b[t-1]."""
    out = np.zeros(a.shape, dtype=bool)
    out[1:] = (a[1:] < b[1:]) & (a[:-1] >= b[:-1])
    return out
