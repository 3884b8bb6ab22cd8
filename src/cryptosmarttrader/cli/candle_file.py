"""Reading a candle file named on the command line, with one-line errors."""

from __future__ import annotations

from pathlib import Path

from cryptosmarttrader.cli.errors import UsageError
from cryptosmarttrader.cli.parsing import parse_symbol
from cryptosmarttrader.domain.candles import (
    TIMEFRAME_SECONDS,
    CandleFormatError,
    CandleSeries,
    UnnamedCandleFileError,
    read_candle_file,
)


def timeframe_option(text: str) -> str:
    if text not in TIMEFRAME_SECONDS:
        raise UsageError(f"unknown timeframe {text!r}; choose from {', '.join(TIMEFRAME_SECONDS)}")
    return text


def load_candle_file(path: Path, symbol: str | None, timeframe: str | None) -> CandleSeries:
    """The file's candles; symbol and timeframe default to what its name says."""
    try:
        return read_candle_file(
            path,
            symbol=parse_symbol(symbol) if symbol else None,
            timeframe=timeframe_option(timeframe) if timeframe else None,
        )
    except UnnamedCandleFileError:
        raise UsageError(
            f"{path.name}: give --symbol and --timeframe (the name is not like BTC_USDT-5m.csv)"
        ) from None
    except OSError as exc:
        raise UsageError(f"{path}: {exc.strerror or exc}") from None
    except (CandleFormatError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: {exc}") from None
