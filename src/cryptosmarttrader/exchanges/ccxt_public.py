"""Public market data through ``ccxt.async_support``: the paper exchange, Binance and Kraken.

One pooled ccxt client (one aiohttp session) per venue; create and use it on one event loop.
Answers are checked for shape, not judged: a field the venue left out becomes NaN and the
data-quality assessment decides what that means.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import aiohttp
from ccxt.base import errors as ccxt_errors

from cryptosmarttrader.domain.candles import TIMEFRAME_SECONDS, CandleSeries, candles_from_rows
from cryptosmarttrader.domain.market import BookLevel
from cryptosmarttrader.domain.market_data import (
    Endpoint,
    OrderBook,
    Payload,
    PublicTrade,
    Ticker,
)
from cryptosmarttrader.exchanges.ccxt_client import (
    RateLimitedError,
    instruments_from_markets,
    new_async_client,
)
from cryptosmarttrader.exchanges.ccxt_client import describe_error as _describe
from cryptosmarttrader.exchanges.public_api import FailureKind, ParamValue, PublicApiError
from cryptosmarttrader.exchanges.venue_config import CcxtVenueConfig

# Binance's documented request weights of the endpoints ccxt calls for each request.
_BINANCE_WEIGHT = {
    Endpoint.TICKER: 2.0,
    Endpoint.OHLCV: 2.0,
    Endpoint.TRADES: 4.0,
    Endpoint.MARKETS: 20.0,
}


def _binance_depth_weight(limit: int) -> float:
    return 5.0 if limit <= 100 else 25.0 if limit <= 500 else 50.0 if limit <= 1000 else 250.0


class CcxtPublicApi:
    def __init__(self, config: CcxtVenueConfig) -> None:
        self.config = config
        self.name = config.venue
        self._exchange: Any = None

    def weight(self, endpoint: Endpoint, params: Mapping[str, ParamValue]) -> float:
        # ccxt loads the market catalog before its first request: count it too.
        loaded = self._exchange is not None and self._exchange.markets
        catalog = 0.0 if loaded or endpoint is Endpoint.MARKETS else 1.0
        if self.config.exchange_id != "binance":
            return 1.0 + catalog  # Kraken counts public calls, not weights
        catalog *= _BINANCE_WEIGHT[Endpoint.MARKETS]
        if endpoint is Endpoint.ORDER_BOOK:
            return _binance_depth_weight(int(params.get("limit", 100))) + catalog
        return _BINANCE_WEIGHT[endpoint] + catalog

    async def fetch(
        self, endpoint: Endpoint, symbol: str | None, params: Mapping[str, ParamValue]
    ) -> Payload:
        if self._exchange is None:
            self._exchange = new_async_client(self.config)
        try:
            return await self._fetch(endpoint, symbol, params)
        except RateLimitedError as exc:
            raise PublicApiError(
                FailureKind.RATE_LIMITED, _describe(exc), retry_after_s=exc.retry_after_s
            ) from exc
        except ccxt_errors.RequestTimeout as exc:
            raise PublicApiError(FailureKind.TIMEOUT, _describe(exc)) from exc
        except (ccxt_errors.BadResponse, ccxt_errors.NullResponse) as exc:
            raise PublicApiError(FailureKind.MALFORMED, _describe(exc)) from exc
        except (ccxt_errors.DDoSProtection, ccxt_errors.RateLimitExceeded) as exc:
            raise PublicApiError(FailureKind.RATE_LIMITED, _describe(exc)) from exc
        except ccxt_errors.NetworkError as exc:
            raise PublicApiError(FailureKind.UNAVAILABLE, _describe(exc)) from exc
        except ccxt_errors.BaseError as exc:
            # ccxt wraps a broken transfer (a truncated body) as a plain ExchangeError.
            kind = (
                FailureKind.UNAVAILABLE
                if isinstance(exc.__cause__, aiohttp.ClientError)
                else FailureKind.REJECTED
            )
            raise PublicApiError(kind, _describe(exc)) from exc
        except (TypeError, ValueError, KeyError, IndexError, AttributeError) as exc:
            # ccxt parsed a body that is not what the endpoint returns (a proxy's page, a
            # truncated answer) and tripped over it.
            raise PublicApiError(FailureKind.MALFORMED, _describe(exc)) from exc

    async def _fetch(
        self, endpoint: Endpoint, symbol: str | None, params: Mapping[str, ParamValue]
    ) -> Payload:
        exchange = self._exchange
        if endpoint is Endpoint.MARKETS:
            markets = await exchange.load_markets(reload=True)
            if not isinstance(markets, Mapping) or not markets:
                raise PublicApiError(FailureKind.MALFORMED, "empty market catalog")
            return instruments_from_markets(markets)
        if symbol is None:
            raise PublicApiError(FailureKind.REJECTED, f"{endpoint} needs a symbol")
        if endpoint is Endpoint.TICKER:
            return parse_ticker(symbol, await exchange.fetch_ticker(symbol))
        if endpoint is Endpoint.ORDER_BOOK:
            limit = int(params.get("limit", 100))
            return parse_order_book(symbol, await exchange.fetch_order_book(symbol, limit))
        if endpoint is Endpoint.OHLCV:
            timeframe = str(params.get("timeframe", "1m"))
            since = params.get("since")
            rows = await exchange.fetch_ohlcv(
                symbol,
                timeframe,
                int(since) if since is not None else None,
                int(params.get("limit", 100)),
            )
            return parse_ohlcv(symbol, TIMEFRAME_SECONDS[timeframe], rows)
        since = params.get("since")
        raw = await exchange.fetch_trades(
            symbol, int(since) if since is not None else None, int(params.get("limit", 100))
        )
        return parse_trades(raw)

    async def close(self) -> None:
        if self._exchange is not None:
            await self._exchange.close()
            self._exchange = None


def _value(raw: object) -> float:
    if isinstance(raw, bool):
        return math.nan
    if isinstance(raw, int | float):
        return float(raw)
    if isinstance(raw, str):
        try:
            return float(raw)
        except ValueError:
            return math.nan
    return math.nan


def _seconds(raw_ms: object) -> float | None:
    value = _value(raw_ms)
    return value / 1000.0 if math.isfinite(value) and value > 0 else None


def _malformed(what: str) -> PublicApiError:
    return PublicApiError(FailureKind.MALFORMED, what)


def parse_ticker(symbol: str, raw: object) -> Ticker:
    if not isinstance(raw, Mapping):
        raise _malformed(f"ticker of {symbol} is not an object")
    fields = [raw.get(name) for name in ("bid", "ask", "last", "timestamp")]
    if all(value is None for value in fields):
        raise _malformed(f"ticker of {symbol} has no prices and no time")
    if raw.get("symbol") not in (None, symbol):
        raise _malformed(f"asked for the ticker of {symbol}, got {raw.get('symbol')!r}")
    return Ticker(
        symbol=symbol,
        bid=_value(raw.get("bid")),
        ask=_value(raw.get("ask")),
        last=_value(raw.get("last")),
        quote_volume=_value(raw.get("quoteVolume")),
        ts=_seconds(raw.get("timestamp")),
    )


def _levels(raw: object, symbol: str, side: str) -> tuple[BookLevel, ...]:
    if not isinstance(raw, Sequence) or isinstance(raw, str):
        raise _malformed(f"{side} of the {symbol} book are not a list")
    levels = []
    for level in raw:
        if not isinstance(level, Sequence) or isinstance(level, str) or len(level) < 2:
            raise _malformed(f"a level of the {symbol} book is {level!r}")
        levels.append((_value(level[0]), _value(level[1])))
    return tuple(levels)


def parse_order_book(symbol: str, raw: object) -> OrderBook:
    if not isinstance(raw, Mapping):
        raise _malformed(f"book of {symbol} is not an object")
    bids = _levels(raw.get("bids", ()), symbol, "bids")
    asks = _levels(raw.get("asks", ()), symbol, "asks")
    if not bids and not asks:
        # What ccxt makes of a body that is not a book; a listed market is never empty.
        raise _malformed(f"book of {symbol} is empty")
    return OrderBook(symbol=symbol, bids=bids, asks=asks, ts=_seconds(raw.get("timestamp")))


def parse_ohlcv(symbol: str, interval_s: int, raw: object) -> CandleSeries:
    if not isinstance(raw, Sequence) or isinstance(raw, str):
        raise _malformed(f"candles of {symbol} are not a list")
    rows = []
    for row in raw:
        if not isinstance(row, Sequence) or isinstance(row, str) or len(row) < 6:
            raise _malformed(f"a candle of {symbol} is {row!r}")
        rows.append([_value(x) for x in row[:6]])
    return candles_from_rows(symbol, interval_s, rows)


def parse_trades(raw: object) -> tuple[PublicTrade, ...]:
    if not isinstance(raw, Sequence) or isinstance(raw, str):
        raise _malformed("trades are not a list")
    trades = []
    for trade in raw:
        if not isinstance(trade, Mapping) or trade.get("id") is None:
            raise _malformed(f"a trade is {trade!r}"[:200])
        trades.append(
            PublicTrade(
                id=str(trade["id"]),
                ts=_seconds(trade.get("timestamp")) or math.nan,
                price=_value(trade.get("price")),
                amount=_value(trade.get("amount")),
                side=str(trade.get("side") or ""),
            )
        )
    return tuple(trades)
