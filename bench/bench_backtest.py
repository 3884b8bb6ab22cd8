"""Backtest speed: a million candles with every order through every gate.

BTC_USDT-5m (10,999 candles) repeated with shifted timestamps to at least 1,000,000 candles,
``ema_cross`` 12/26, all-in, fee 0.001, unrestricted limits (so no order is refused and every
signal becomes an order through the gateway's 15 gates and its database). Goal: elapsed
(simulation, without reading the file) <= 2 s, i.e. >= 500,000 candles/s.

Run: ``python bench/bench_backtest.py [--candles N] [--runs R]``. Prints a table; the best
of the runs counts.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

import numpy as np

from cryptosmarttrader.backtest.runner import BacktestConfig, run_backtest
from cryptosmarttrader.config.limits import unrestricted_limits
from cryptosmarttrader.domain.candles import CandleSeries, read_candle_file
from cryptosmarttrader.observability.logging import configure_logging
from cryptosmarttrader.signals.strategy import EmaCross

DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "reference" / "BTC_USDT-5m.csv"


def repeated(series: CandleSeries, at_least: int) -> CandleSeries:
    """The series again and again, each copy starting one interval after the last ended."""
    copies = -(-at_least // len(series))
    span = series.open_ts[-1] - series.open_ts[0] + series.interval_s
    shifts = np.repeat(np.arange(copies) * span, len(series))
    return dataclasses.replace(
        series,
        open_ts=np.tile(series.open_ts, copies) + shifts,
        open=np.tile(series.open, copies),
        high=np.tile(series.high, copies),
        low=np.tile(series.low, copies),
        close=np.tile(series.close, copies),
        volume=np.tile(series.volume, copies),
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--candles", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    configure_logging(None, "WARNING")
    series = repeated(read_candle_file(DATA), args.candles)
    risk, execution = unrestricted_limits()
    config = BacktestConfig(
        strategy=EmaCross(12, 26), risk=risk, execution=execution, cash=10_000.0, fee=0.001
    )
    results = []
    for _ in range(args.runs):
        wall = time.perf_counter()
        result = run_backtest(series, config)
        wall = time.perf_counter() - wall
        results.append((result, wall))
    best, wall = min(results, key=lambda pair: pair[0].elapsed_s)
    print(f"{'measure':<44} {'value':>14}")
    print(f"{'candles':<44} {best.candles:>14,}")
    print(f"{'orders through the gateway':<44} {best.orders_evaluated:>14,}")
    print(f"{'trades':<44} {best.trades:>14,}")
    print(f"{'elapsed_s (best of ' + str(args.runs) + ')':<44} {best.elapsed_s:>14.2f}")
    print(f"{'candles/s':<44} {best.candles_per_s:>14,.0f}")
    per_order = best.elapsed_s / best.orders_evaluated * 1e6
    print(f"{'us per order (elapsed / orders)':<44} {per_order:>14.0f}")
    print(f"{'goal: elapsed_s <= 2.0':<44} {'met' if best.elapsed_s <= 2.0 else 'missed':>14}")


if __name__ == "__main__":
    main()
