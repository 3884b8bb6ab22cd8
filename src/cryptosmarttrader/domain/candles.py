"""Candles (OHLCV) and the CSV format the project reads them from.

The CSV format is ``timestamp_ms,open,high,low,close,volume`` with a header line; the
timestamp is the candle's open time in UTC epoch milliseconds.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from cryptosmarttrader.domain.symbols import split_symbol

CSV_HEADER = ("timestamp_ms", "open", "high", "low", "close", "volume")

TIMEFRAME_SECONDS = {
    "1m": 60,
    "3m": 180,
    "5m": 300,
    "15m": 900,
    "30m": 1800,
    "1h": 3600,
    "2h": 7200,
    "4h": 14_400,
    "6h": 21_600,
    "8h": 28_800,
    "12h": 43_200,
    "1d": 86_400,
    "3d": 259_200,
    "1w": 604_800,
}

_FILE_NAME = re.compile(r"^(?P<base>[A-Z0-9]+)_(?P<quote>[A-Z0-9]+)-(?P<timeframe>\w+)\.csv$")


class CandleFormatError(ValueError):
    """A candle file that does not hold what the format promises."""


class UnnamedCandleFileError(CandleFormatError):
    """Neither the caller nor the file name says which symbol and timeframe a file holds."""


@dataclass(frozen=True)
class CandleSeries:
    """Candles of one symbol at one interval, sorted by open time, in parallel arrays."""

    symbol: str
    interval_s: int
    open_ts: npt.NDArray[np.float64]
    open: npt.NDArray[np.float64]
    high: npt.NDArray[np.float64]
    low: npt.NDArray[np.float64]
    close: npt.NDArray[np.float64]
    volume: npt.NDArray[np.float64]

    def __len__(self) -> int:
        return int(self.open_ts.size)

    def where(self, keep: npt.NDArray[np.bool_]) -> CandleSeries:
        """The candles where ``keep`` is true."""
        return CandleSeries(
            symbol=self.symbol,
            interval_s=self.interval_s,
            open_ts=self.open_ts[keep],
            open=self.open[keep],
            high=self.high[keep],
            low=self.low[keep],
            close=self.close[keep],
            volume=self.volume[keep],
        )


def candles_from_rows(symbol: str, interval_s: int, rows: object) -> CandleSeries:
    """Candles from rows of ``(open time in ms, open, high, low, close, volume)``, the layout
    of the CSV format, of exchanges' OHLCV answers and of the candles table."""
    data = np.array(rows, dtype=np.float64).reshape(-1, len(CSV_HEADER))
    return CandleSeries(
        symbol=symbol,
        interval_s=interval_s,
        open_ts=data[:, 0] / 1000.0,
        open=data[:, 1],
        high=data[:, 2],
        low=data[:, 3],
        close=data[:, 4],
        volume=data[:, 5],
    )


def price_decimals(values: npt.NDArray[np.float64]) -> int:
    """Decimals the prices are quoted with, judged from the first 2000 (8 for prices written
    in exponent notation): a venue trading them has a price tick of ``10 ** -decimals``."""
    most = 0
    for value in values[:2000]:
        text = repr(float(value))
        if "e" in text:
            return 8
        most = max(most, len(text.split(".")[1].rstrip("0")) if "." in text else 0)
    return most


def parse_file_name(name: str) -> tuple[str, str] | None:
    """``BTC_USDT-5m.csv`` -> (``BTC/USDT``, ``5m``); None when the name says neither."""
    match = _FILE_NAME.match(name)
    if match is None:
        return None
    return f"{match['base']}/{match['quote']}", match["timeframe"]


def timeframe_of(interval_s: float) -> str | None:
    """``300`` -> ``5m``; None for an interval no timeframe has."""
    return next((name for name, s in TIMEFRAME_SECONDS.items() if s == interval_s), None)


def read_candle_file(
    path: Path, *, symbol: str | None = None, timeframe: str | None = None
) -> CandleSeries:
    """Read a candle CSV; symbol and timeframe default to what its name says (BTC_USDT-5m.csv)."""
    with path.open(encoding="utf-8") as handle:  # a missing file is the first thing to say
        from_name = parse_file_name(path.name)
        symbol = symbol or (from_name[0] if from_name else None)
        timeframe = timeframe or (from_name[1] if from_name else None)
        if symbol is None or timeframe is None:
            raise UnnamedCandleFileError(
                f"{path.name}: cannot tell symbol and timeframe from the name; pass them explicitly"
            )
        split_symbol(symbol)
        if timeframe not in TIMEFRAME_SECONDS:
            raise CandleFormatError(f"unknown timeframe {timeframe!r}")
        return parse_candle_csv(handle, symbol=symbol, interval_s=TIMEFRAME_SECONDS[timeframe])


def parse_candle_csv(lines: Iterable[str], *, symbol: str, interval_s: int) -> CandleSeries:
    """Parse the CSV text; any malformed, non-finite, non-positive, inconsistent or unsorted
    row is an error naming its line, never skipped."""
    rows: list[tuple[float, ...]] = []
    iterator = iter(lines)
    header = next(iterator, "").strip()
    if tuple(part.strip() for part in header.split(",")) != CSV_HEADER:
        raise CandleFormatError(f"line 1: expected header {','.join(CSV_HEADER)!r}, got {header!r}")
    previous = -math.inf
    for number, line in enumerate(iterator, start=2):
        text = line.strip()
        if not text:
            continue
        parts = text.split(",")
        if len(parts) != len(CSV_HEADER):
            raise CandleFormatError(f"line {number}: expected 6 fields, got {len(parts)}")
        try:
            ts, o, h, low, c, v = (float(part) for part in parts)
        except ValueError:
            raise CandleFormatError(f"line {number}: not a number in {text!r}") from None
        if not all(math.isfinite(x) for x in (ts, o, h, low, c, v)):
            raise CandleFormatError(f"line {number}: non-finite value in {text!r}")
        if min(o, h, low, c) <= 0 or v < 0:
            raise CandleFormatError(f"line {number}: non-positive price or negative volume")
        if not (low <= min(o, c) and h >= max(o, c)):
            raise CandleFormatError(f"line {number}: high/low do not bound open/close")
        if ts <= previous:
            raise CandleFormatError(f"line {number}: timestamp not after the previous row")
        previous = ts
        rows.append((ts, o, h, low, c, v))
    if not rows:
        raise CandleFormatError("no candles in the file")
    return candles_from_rows(symbol, interval_s, rows)
