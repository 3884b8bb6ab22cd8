"""Building configured ``ccxt.async_support`` clients, shared by the broker and market data.

Every client gets a hook that turns a 429/418 answer into :class:`RateLimitedError` carrying
the venue's ``Retry-After``, which ccxt itself drops; callers honour it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import ccxt.async_support as ccxt_async
from ccxt.base import errors as ccxt_errors

from cryptosmarttrader.domain.symbols import Instrument, is_valid_symbol
from cryptosmarttrader.exchanges.retry_after import retry_after_seconds
from cryptosmarttrader.exchanges.venue_config import CcxtVenueConfig

# ccxt options that keep the Binance client to the spot API (no futures, margin or wallet
# endpoints), which is all a spot account, and the paper exchange, serve.
BINANCE_SPOT_ONLY: dict[str, Any] = {
    "fetchMarkets": {"types": ["spot"]},
    "fetchCurrencies": False,
    "fetchMargins": False,
}

_RATE_LIMIT_STATUSES = (418, 429)


class RateLimitedError(ccxt_errors.RateLimitExceeded):  # type: ignore[misc]
    """A 429 (slow down) or 418 (banned for a while) answer, with the wait the venue asked for."""

    def __init__(self, message: str, status: int, retry_after_s: float | None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after_s = retry_after_s


def describe_error(exc: BaseException) -> str:
    """An exception as one bounded line: its class and the start of its message."""
    text = str(exc)
    return f"{type(exc).__name__}: {text[:300]}" if text else type(exc).__name__


def new_async_client(config: CcxtVenueConfig) -> Any:
    """A ccxt async client for the venue; create it on the event loop that will use it."""
    options: dict[str, Any] = {}
    if config.exchange_id == "binance":
        options = {
            **BINANCE_SPOT_ONLY,
            "recvWindow": int(config.recv_window_s * 1000),
            "defaultType": "spot",
            # Reconciliation lists every open order on purpose (to find ours).
            "warnOnFetchOpenOrdersWithoutSymbol": False,
        }
    params: dict[str, Any] = {
        "timeout": int(config.timeout_s * 1000),
        "enableRateLimit": config.client_throttle,
        "options": options,
    }
    if config.api_key:
        params["apiKey"] = config.api_key
    if config.api_secret:
        params["secret"] = config.api_secret
    exchange = getattr(ccxt_async, config.exchange_id)(params)
    if config.base_url:
        root = config.base_url.rstrip("/")
        exchange.urls["api"]["public"] = f"{root}/api/v3"
        exchange.urls["api"]["private"] = f"{root}/api/v3"
    _raise_rate_limits_with_retry_after(exchange)
    return exchange


def _raise_rate_limits_with_retry_after(exchange: Any) -> None:
    venue_handler = exchange.handle_errors

    def handle_errors(
        code: int,
        reason: str,
        url: str,
        method: str,
        headers: Mapping[str, str],
        body: str,
        response: Any,
        request_headers: Any,
        request_body: Any,
    ) -> Any:
        if code in _RATE_LIMIT_STATUSES:
            raise RateLimitedError(
                f"{exchange.id} {method} {url} {code} {reason}"[:300],
                code,
                retry_after_seconds(headers),
            )
        return venue_handler(
            code, reason, url, method, headers, body, response, request_headers, request_body
        )

    exchange.handle_errors = handle_errors


def instruments_from_markets(markets: Mapping[str, Any]) -> dict[str, Instrument]:
    """The tradeable spot instruments of a ccxt market catalog."""
    result = {}
    for symbol, market in markets.items():
        if not is_valid_symbol(symbol) or not market.get("spot") or market.get("active") is False:
            continue
        precision = market.get("precision") or {}
        limits = market.get("limits") or {}
        tick = _positive(precision.get("price"))
        step = _positive(precision.get("amount"))
        if tick <= 0 or step <= 0:
            continue  # a market without a usable grid cannot be traded safely
        min_qty = _positive((limits.get("amount") or {}).get("min")) or step
        min_cost = _positive((limits.get("cost") or {}).get("min"))
        result[symbol] = Instrument(
            symbol=symbol,
            base=str(market["base"]),
            quote=str(market["quote"]),
            price_tick=tick,
            qty_step=step,
            min_qty=max(min_qty, step),
            min_notional=min_cost,
        )
    return result


def _positive(value: object) -> float:
    return float(value) if isinstance(value, int | float) and 0 < value < math.inf else 0.0
