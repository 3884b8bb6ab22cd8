"""The paper exchange: the paper venue behind a Binance-compatible spot REST API.

The real ``ccxt.binance`` client trades against it unchanged once its API URLs point here.
It checks keys, HMAC signatures and the receive window like Binance, answers with Binance's
error codes, enforces its own request-weight limit (429 with ``Retry-After``) and injects
the faults of a :class:`FaultPlan`, so clients are tested against failures they cannot ignore.

Control endpoints under ``/_paper/`` (stats, orders, faults) are not rate limited and never
faulted; changing faults needs the API key in ``X-MBX-APIKEY``.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import math
import re
import threading
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from aiohttp import web

from cryptosmarttrader.domain.clock import Clock, SystemClock
from cryptosmarttrader.exchanges.paper import binance_dialect as wire
from cryptosmarttrader.exchanges.paper.binance_dialect import (
    DEMO_API_KEY,
    DEMO_API_SECRET,
    BinanceError,
    Json,
    SymbolBook,
)
from cryptosmarttrader.exchanges.paper.faults import (
    AFTER_HANDLING,
    HTTP_STATUS,
    FaultKind,
    FaultPlan,
    FaultRule,
    FaultSpecError,
    fault_from_fields,
)
from cryptosmarttrader.exchanges.paper.market import MarketModel, model_candles
from cryptosmarttrader.exchanges.paper.rate_limit import WeightLimiter
from cryptosmarttrader.exchanges.paper.venue import PaperVenue, VenueOrder
from cryptosmarttrader.observability.logging import get_logger

DEFAULT_PORT = 8765
DEFAULT_WEIGHT_LIMIT = 6000
MAX_RECV_WINDOW_MS = 60_000

_SIGNED = frozenset(
    {
        ("POST", "/api/v3/order"),
        ("GET", "/api/v3/order"),
        ("DELETE", "/api/v3/order"),
        ("GET", "/api/v3/openOrders"),
        ("GET", "/api/v3/account"),
        ("GET", "/api/v3/myTrades"),
    }
)
_MARKET_DATA = frozenset(
    {
        "/api/v3/ticker/24hr",
        "/api/v3/ticker/bookTicker",
        "/api/v3/depth",
        "/api/v3/klines",
        "/api/v3/aggTrades",
    }
)
_DEPTH_LIMITS = (5, 10, 20, 50, 100, 500, 1000, 5000)
_SIGNATURE_PARAM = re.compile(r"(^|&)signature=[^&]*")

_log = get_logger("paper_exchange")

Handler = Callable[[web.Request, Mapping[str, str]], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class PaperExchangeConfig:
    api_key: str = DEMO_API_KEY
    api_secret: str = DEMO_API_SECRET
    weight_limit: int = DEFAULT_WEIGHT_LIMIT
    weight_window_s: float = 60.0
    """Binance counts weight per minute; tests shorten the window to see several."""
    initial_balances: Mapping[str, float] = field(default_factory=lambda: {"USDT": 10_000.0})
    fee_rate: float = 0.001
    state_file: Path | None = None
    faults: tuple[FaultRule, ...] = ()
    fault_seed: int = 0


@dataclass
class _Stats:
    requests: Counter[str] = field(default_factory=Counter)
    rate_limited: int = 0
    orders_placed: int = 0
    orders_rejected: int = 0
    in_flight: int = 0


class PaperExchange:
    """The application: routes, auth, weight limit and faults around one paper venue."""

    def __init__(
        self, market: MarketModel, config: PaperExchangeConfig, clock: Clock | None = None
    ) -> None:
        self.market = market
        self.config = config
        self.clock = clock or SystemClock()
        self.venue = PaperVenue(
            market,
            self.clock,
            initial_balances=dict(config.initial_balances),
            fee_rate=config.fee_rate,
            state_file=config.state_file,
        )
        self.symbols = SymbolBook(market.instruments())
        self.limiter = WeightLimiter(config.weight_limit, config.weight_window_s)
        self.faults = FaultPlan(seed=config.fault_seed)
        now = self.clock.now()
        for rule in config.faults:
            self.faults.add(rule, now)
        self.stats = _Stats()
        self._stats_lock = threading.Lock()
        self._update_id = 0
        self._routes: dict[tuple[str, str], Handler] = {
            ("GET", "/api/v3/time"): self._time,
            ("GET", "/api/v3/exchangeInfo"): self._exchange_info,
            ("GET", "/api/v3/ticker/24hr"): self._ticker_24h,
            ("GET", "/api/v3/ticker/bookTicker"): self._book_ticker,
            ("GET", "/api/v3/depth"): self._depth,
            ("GET", "/api/v3/klines"): self._klines,
            ("GET", "/api/v3/aggTrades"): self._agg_trades,
            ("POST", "/api/v3/order"): self._new_order,
            ("GET", "/api/v3/order"): self._query_order,
            ("DELETE", "/api/v3/order"): self._cancel_order,
            ("GET", "/api/v3/openOrders"): self._open_orders,
            ("GET", "/api/v3/account"): self._account,
            ("GET", "/api/v3/myTrades"): self._my_trades,
        }

    def app(self) -> web.Application:
        app = web.Application()
        for method, path in self._routes:
            app.router.add_route(method, path, self._api)
        app.router.add_get("/_paper/stats", self._stats)
        app.router.add_get("/_paper/orders", self._orders)
        app.router.add_get("/_paper/faults", self._list_faults)
        app.router.add_post("/_paper/faults", self._add_faults)
        app.router.add_delete("/_paper/faults", self._clear_faults)
        return app

    # --- the API pipeline -------------------------------------------------------------
    async def _api(self, request: web.Request) -> web.StreamResponse:
        method, path = request.method, request.path
        with self._stats_lock:
            self.stats.requests[f"{method} {path}"] += 1
            self.stats.in_flight += 1
        try:
            return await self._serve(request, method, path)
        finally:
            with self._stats_lock:
                self.stats.in_flight -= 1

    async def _serve(self, request: web.Request, method: str, path: str) -> web.StreamResponse:
        fault = self.faults.draw(method, path)
        if fault is not None:
            _log.info("paper.fault", kind=fault.kind.value, method=method, path=path)
            early = await self._before_handling(request, fault)
            if early is not None:
                return early
        body_text = await request.text()
        params: dict[str, str] = dict(request.query)
        if body_text:
            params.update(dict(await request.post()))  # type: ignore[arg-type]
        decision = self.limiter.take(wire.request_weight(method, path, params), self.clock.now())
        if not decision.allowed:
            with self._stats_lock:
                self.stats.rate_limited += 1
            limit = self.limiter.limit
            return _error(
                BinanceError(
                    429,
                    -1003,
                    f"Too much request weight used; current limit is {limit} request weight "
                    "per 1 MINUTE.",
                ),
                {"Retry-After": str(decision.retry_after_s)},
            )
        headers = {"X-MBX-USED-WEIGHT-1M": str(decision.used)}
        try:
            if (method, path) in _SIGNED:
                self._authenticate(request, body_text, params)
            response = await self._routes[(method, path)](request, params)
        except BinanceError as error:
            return _error(error, headers)
        response.headers.update(headers)
        if fault is not None and fault.kind in AFTER_HANDLING:
            return await self._after_handling(request, response, fault)
        return response

    async def _before_handling(
        self, request: web.Request, fault: FaultRule
    ) -> web.StreamResponse | None:
        kind = fault.kind
        if kind is FaultKind.LATENCY:
            await asyncio.sleep((fault.param if fault.param is not None else 500.0) / 1000.0)
        elif kind is FaultKind.HANG:
            await asyncio.sleep(fault.param if fault.param is not None else 30.0)
        elif kind in HTTP_STATUS:
            status = HTTP_STATUS[kind]
            if status in (418, 429):
                retry_after = fault.param if fault.param is not None else 1.0
                return _error(
                    BinanceError(status, -1003, "Too many requests."),
                    {"Retry-After": f"{retry_after:g}"},
                )
            return web.Response(status=status, text=f"{status} injected by the paper exchange")
        elif kind is FaultKind.RESET:
            _drop(request)
            return web.Response()  # goes nowhere: the connection is gone
        return None

    async def _after_handling(
        self, request: web.Request, response: web.StreamResponse, fault: FaultRule
    ) -> web.StreamResponse:
        if fault.kind is FaultKind.SLOW_RESPONSE:
            await asyncio.sleep(fault.param if fault.param is not None else 30.0)
            return response
        if fault.kind is FaultKind.GARBAGE:
            return web.Response(
                status=200,
                text="<html><body>502 Bad Gateway</body></html>",
                content_type="text/html",
            )
        if fault.kind is FaultKind.TRUNCATED and isinstance(response, web.Response):
            body = response.body if isinstance(response.body, bytes) else b"{}"
            partial = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
            partial.content_length = len(body)
            await partial.prepare(request)
            await partial.write(body[: len(body) // 2])
            _drop(request)
            return partial
        _drop(request)  # RESPONSE_LOST: the work is done, the answer never arrives
        return response

    def _authenticate(self, request: web.Request, body: str, params: Mapping[str, str]) -> None:
        key = request.headers.get("X-MBX-APIKEY")
        if not key:
            raise wire.MISSING_API_KEY
        if not hmac.compare_digest(key, self.config.api_key):
            raise wire.BAD_API_KEY
        signature = params.get("signature")
        if not signature:
            raise wire.bad_parameter(
                "Mandatory parameter 'signature' was not sent, was empty/null, or malformed."
            )
        signed = _SIGNATURE_PARAM.sub("", request.query_string).lstrip("&")
        signed += _SIGNATURE_PARAM.sub("", body).lstrip("&")
        expected = hmac.new(
            self.config.api_secret.encode(), signed.encode(), hashlib.sha256
        ).hexdigest()
        if not hmac.compare_digest(signature.lower(), expected):
            raise wire.BAD_SIGNATURE
        try:
            timestamp = int(params["timestamp"])
        except (KeyError, ValueError):
            raise wire.bad_parameter(
                "Mandatory parameter 'timestamp' was not sent, was empty/null, or malformed."
            ) from None
        try:
            window = int(params.get("recvWindow", "5000"))
        except ValueError:
            raise BinanceError(
                400, -1100, "Illegal characters found in parameter 'recvWindow'."
            ) from None
        if not 0 < window <= MAX_RECV_WINDOW_MS:
            raise BinanceError(400, -1131, "recvWindow must be less than 60000")
        now_ms = wire.ms(self.clock.now())
        if timestamp >= now_ms + 1000 or now_ms - timestamp > window:
            raise wire.OUTSIDE_RECV_WINDOW

    # --- market data ------------------------------------------------------------------
    def _market_time(self, path: str) -> float:
        frozen = self.faults.frozen_since(path)
        return self.clock.now() if frozen is None else frozen

    def _snapshot(self, symbol: str, ts: float) -> Any:
        snapshot = self.market.snapshot(symbol, ts)
        if snapshot is None:
            raise wire.BAD_SYMBOL
        return snapshot

    def _symbols_param(self, params: Mapping[str, str]) -> list[str]:
        if "symbol" in params:
            return [self.symbols.ours(params["symbol"])]
        return sorted(self.symbols.instruments)

    async def _time(self, request: web.Request, params: Mapping[str, str]) -> web.Response:
        return _json({"serverTime": wire.ms(self.clock.now())})

    async def _exchange_info(self, request: web.Request, params: Mapping[str, str]) -> web.Response:
        return _json(
            wire.exchange_info(self.symbols.instruments, self.clock.now(), self.limiter.limit)
        )

    async def _book_ticker(self, request: web.Request, params: Mapping[str, str]) -> web.Response:
        ts = self._market_time(request.path)
        tickers = [wire.book_ticker(self._snapshot(s, ts)) for s in self._symbols_param(params)]
        return _json(tickers[0] if "symbol" in params else tickers)

    async def _ticker_24h(self, request: web.Request, params: Mapping[str, str]) -> web.Response:
        ts = self._market_time(request.path)
        tickers = []
        for symbol in self._symbols_param(params):
            snapshot = self._snapshot(symbol, ts)
            day = self.market.prices(symbol, np.linspace(ts - 86_400, ts, 289))
            tickers.append(
                wire.ticker_24h(snapshot, float(day[0]), float(day.max()), float(day.min()))
            )
        return _json(tickers[0] if "symbol" in params else tickers)

    async def _depth(self, request: web.Request, params: Mapping[str, str]) -> web.Response:
        symbol = self.symbols.ours(params.get("symbol"))
        limit = _int_param(params, "limit", 100)
        if limit not in _DEPTH_LIMITS:
            raise BinanceError(400, -1100, "Illegal characters found in parameter 'limit'.")
        self._update_id += 1
        snapshot = self._snapshot(symbol, self._market_time(request.path))
        return _json(wire.depth(snapshot, limit, self._update_id))

    async def _klines(self, request: web.Request, params: Mapping[str, str]) -> web.Response:
        symbol = self.symbols.ours(params.get("symbol"))
        interval = wire.KLINE_INTERVALS.get(params.get("interval", ""))
        if interval is None:
            raise BinanceError(400, -1120, "Invalid interval.")
        limit = _int_param(params, "limit", 500)
        if not 1 <= limit <= 1000:
            raise BinanceError(400, -1130, "Invalid data sent for a parameter.")
        now = self._market_time(request.path)
        end = min(_int_param(params, "endTime", wire.ms(now)) / 1000.0, now)
        last_open = math.floor(end / interval) * interval
        if "startTime" in params:
            first_open = (
                math.ceil(_int_param(params, "startTime", 0) / 1000.0 / interval) * interval
            )
            count = min(limit, max(0, int((last_open - first_open) // interval) + 1))
        else:
            count = limit
            first_open = last_open - (count - 1) * interval
        quote_per_second = self._snapshot(symbol, now).volume_24h_quote / 86_400
        series = model_candles(
            self.market, symbol, first_open, count, interval, now, quote_per_second
        )
        rows = [
            wire.kline(float(t), interval, o, h, low, c, v)
            for t, o, h, low, c, v in zip(
                series.open_ts.tolist(),
                series.open.tolist(),
                series.high.tolist(),
                series.low.tolist(),
                series.close.tolist(),
                series.volume.tolist(),
                strict=True,
            )
        ]
        return _json(rows)

    # --- trading ----------------------------------------------------------------------
    async def _new_order(self, request: web.Request, params: Mapping[str, str]) -> web.Response:
        order_request = wire.parse_new_order(params, self.symbols, f"paper-{uuid.uuid4().hex[:20]}")
        order = self.venue.submit(
            client_order_id=order_request.client_order_id,
            symbol=order_request.symbol,
            side=order_request.side,
            order_type=order_request.order_type,
            time_in_force=order_request.time_in_force,
            qty=order_request.qty,
            price=order_request.price,
        )
        with self._stats_lock:
            if order.rejection is not None:
                self.stats.orders_rejected += 1
            else:
                self.stats.orders_placed += 1
        if order.rejection is not None:
            raise wire.rejection_error(order)
        _log.info(
            "paper.order",
            client_order_id=order.client_order_id,
            symbol=order.symbol,
            status=order.status.value,
            filled_qty=order.filled_qty,
        )
        if order_request.response_type == "ACK":
            return _json(
                {
                    "symbol": wire.wire_symbol(order.symbol),
                    "orderId": int(order.exchange_order_id),
                    "orderListId": -1,
                    "clientOrderId": order.client_order_id,
                    "transactTime": wire.ms(order.created_ts),
                }
            )
        return _json(wire.order_json(order, with_fills=order_request.response_type == "FULL"))

    def _find_order(self, params: Mapping[str, str], unknown: BinanceError) -> VenueOrder:
        symbol = self.symbols.ours(params.get("symbol"))
        if params.get("origClientOrderId"):
            order = self.venue.order(params["origClientOrderId"])
        elif params.get("orderId"):
            order = self.venue.order_by_exchange_id(params["orderId"])
        else:
            raise wire.bad_parameter(
                "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!"
            )
        if order is None or order.symbol != symbol:
            raise unknown
        return order

    async def _query_order(self, request: web.Request, params: Mapping[str, str]) -> web.Response:
        return _json(wire.order_json(self._find_order(params, wire.UNKNOWN_ORDER)))

    async def _cancel_order(self, request: web.Request, params: Mapping[str, str]) -> web.Response:
        order = self._find_order(params, wire.UNKNOWN_ORDER_CANCEL)
        if order.status.is_final:
            raise wire.UNKNOWN_ORDER_CANCEL
        canceled = self.venue.cancel(order.client_order_id)
        assert canceled is not None
        return _json(wire.order_json(canceled))

    async def _open_orders(self, request: web.Request, params: Mapping[str, str]) -> web.Response:
        wanted = self.symbols.ours(params["symbol"]) if "symbol" in params else None
        return _json(
            [
                wire.order_json(order)
                for order in self.venue.open_orders()
                if wanted is None or order.symbol == wanted
            ]
        )

    async def _account(self, request: web.Request, params: Mapping[str, str]) -> web.Response:
        balances = self.venue.balances()
        now = wire.ms(self.clock.now())
        commission = int(self.config.fee_rate * 10_000)
        return _json(
            {
                "makerCommission": commission,
                "takerCommission": commission,
                "buyerCommission": 0,
                "sellerCommission": 0,
                "canTrade": True,
                "canWithdraw": False,
                "canDeposit": False,
                "brokered": False,
                "requireSelfTradePrevention": False,
                "updateTime": now,
                "accountType": "SPOT",
                "balances": [
                    {"asset": asset, "free": wire.num(b.free), "locked": wire.num(b.locked)}
                    for asset, b in sorted(balances.items())
                ],
                "permissions": ["SPOT"],
            }
        )

    async def _my_trades(self, request: web.Request, params: Mapping[str, str]) -> web.Response:
        symbol = self.symbols.ours(params.get("symbol"))
        limit = min(max(_int_param(params, "limit", 500), 1), 1000)
        order_id = params.get("orderId")
        trades: list[Json] = []
        for order in self.venue.all_orders():
            if order.symbol != symbol or (order_id and order.exchange_order_id != order_id):
                continue
            trades.extend(wire.trades_json(order))
        trades.sort(key=lambda t: int(t["id"]))
        return _json(trades[-limit:])

    async def _agg_trades(self, request: web.Request, params: Mapping[str, str]) -> web.Response:
        """The public tape: on a one-account exchange, every fill of that account."""
        symbol = self.symbols.ours(params.get("symbol"))
        limit = _int_param(params, "limit", 500)
        if not 1 <= limit <= 1000:
            raise BinanceError(400, -1130, "Invalid data sent for a parameter.")
        since_ms = _int_param(params, "startTime", 0)
        trades = [
            trade
            for order in self.venue.all_orders()
            if order.symbol == symbol
            for trade in wire.agg_trades_json(order)
            if int(trade["T"]) >= since_ms
        ]
        trades.sort(key=lambda t: int(t["a"]))
        return _json(trades[:limit] if "startTime" in params else trades[-limit:])

    # --- control ----------------------------------------------------------------------
    def stats_json(self) -> Json:
        orders = self.venue.all_orders()
        with self._stats_lock:
            return {
                "requests": dict(sorted(self.stats.requests.items())),
                "rate_limited": self.stats.rate_limited,
                "faults_injected": dict(sorted(self.faults.injected.items())),
                "orders": {
                    "placed": self.stats.orders_placed,
                    "rejected": self.stats.orders_rejected,
                    "by_status": dict(sorted(Counter(o.status.value for o in orders).items())),
                },
                "in_flight": self.stats.in_flight,
            }

    async def _stats(self, request: web.Request) -> web.Response:
        return _json(self.stats_json())

    async def _orders(self, request: web.Request) -> web.Response:
        return _json(
            [
                {
                    "client_order_id": o.client_order_id,
                    "order_id": o.exchange_order_id,
                    "symbol": o.symbol,
                    "side": o.side.value,
                    "status": o.status.value,
                    "qty": o.qty,
                    "filled_qty": o.filled_qty,
                    "fills": [f.trade_id for f in o.fills],
                }
                for o in self.venue.all_orders()
            ]
        )

    async def _list_faults(self, request: web.Request) -> web.Response:
        return _json([rule.to_dict() for rule in self.faults.rules()])

    def _check_control_key(self, request: web.Request) -> None:
        key = request.headers.get("X-MBX-APIKEY", "")
        if not hmac.compare_digest(key, self.config.api_key):
            raise web.HTTPUnauthorized(text="control endpoints need the API key in X-MBX-APIKEY")

    async def _add_faults(self, request: web.Request) -> web.Response:
        self._check_control_key(request)
        try:
            payload = await request.json()
        except json.JSONDecodeError:
            raise web.HTTPBadRequest(text="expected a JSON object or list of fault rules") from None
        items = payload if isinstance(payload, list) else [payload]
        try:
            rules = [fault_from_fields(**_fields(item)) for item in items]
        except (FaultSpecError, TypeError) as exc:
            raise web.HTTPBadRequest(text=str(exc)) from None
        now = self.clock.now()
        return _json([self.faults.add(rule, now).to_dict() for rule in rules])

    async def _clear_faults(self, request: web.Request) -> web.Response:
        self._check_control_key(request)
        return _json({"removed": self.faults.clear()})


def _fields(item: object) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise TypeError(f"a fault rule must be a JSON object, got {item!r}")
    allowed = {"kind", "path", "method", "param", "count", "probability"}
    unknown = set(item) - allowed
    if unknown:
        raise TypeError(f"unknown fault fields {sorted(unknown)}")
    return dict(item)


def _drop(request: web.Request) -> None:
    transport = request.transport
    if transport is not None:
        transport.abort()


def _int_param(params: Mapping[str, str], name: str, default: int) -> int:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise BinanceError(400, -1100, f"Illegal characters found in parameter '{name}'.") from None


def _json(body: Any) -> web.Response:
    return web.Response(text=json.dumps(body), content_type="application/json")


def _error(error: BinanceError, headers: Mapping[str, str] | None = None) -> web.Response:
    return web.Response(
        status=error.http_status,
        text=json.dumps(error.body()),
        content_type="application/json",
        headers=dict(headers or {}),
    )


# --- running it ---------------------------------------------------------------------------
@dataclass
class RunningExchange:
    exchange: PaperExchange
    url: str
    port: int


@contextmanager
def serve_in_thread(
    exchange: PaperExchange, *, host: str = "127.0.0.1", port: int = 0
) -> Iterator[RunningExchange]:
    """Serve ``exchange`` on a background thread (port 0: any free port) until the block ends."""
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(exchange.app(), access_log=None)
    loop.run_until_complete(runner.setup())
    site = web.TCPSite(runner, host, port)
    loop.run_until_complete(site.start())
    bound = runner.addresses[0][1]
    thread = threading.Thread(target=loop.run_forever, name="paper-exchange", daemon=True)
    thread.start()
    try:
        yield RunningExchange(exchange, f"http://{host}:{bound}", bound)
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(timeout=30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=30)
        loop.close()


async def serve_forever(
    exchange: PaperExchange, *, host: str, port: int, ready: Callable[[str], None]
) -> None:
    runner = web.AppRunner(exchange.app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    ready(f"http://{host}:{runner.addresses[0][1]}")
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
