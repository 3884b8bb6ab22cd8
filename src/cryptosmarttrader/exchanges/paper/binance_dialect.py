"""How the paper exchange speaks Binance's spot REST API: symbols, JSON shapes, error codes.

Pure translation between the paper venue's objects and Binance's wire format (numbers as
strings, millisecond timestamps, ``BTCUSDT`` symbols), so the server module only routes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptosmarttrader.domain.candles import TIMEFRAME_SECONDS
from cryptosmarttrader.domain.market import MarketSnapshot
from cryptosmarttrader.domain.orders import OrderStatus, OrderType, Side, TimeInForce
from cryptosmarttrader.domain.symbols import Instrument
from cryptosmarttrader.exchanges.paper.venue import Rejection, VenueOrder

Json = dict[str, Any]

# Documented defaults of `cst paper-exchange`: a local simulator's credentials, not secrets.
DEMO_API_KEY = "paper-demo-key"
DEMO_API_SECRET = "paper-demo-secret"  # noqa: S105

# Binance's kline intervals up to a day: the shared candle table plus one second.
KLINE_INTERVALS = {
    "1s": 1,
    **{name: seconds for name, seconds in TIMEFRAME_SECONDS.items() if seconds <= 86_400},
}

_STATUS = {
    OrderStatus.NEW: "NEW",
    OrderStatus.OPEN: "NEW",
    OrderStatus.PENDING_SUBMIT: "NEW",
    OrderStatus.UNKNOWN: "NEW",
    OrderStatus.PARTIALLY_FILLED: "PARTIALLY_FILLED",
    OrderStatus.FILLED: "FILLED",
    OrderStatus.CANCELED: "CANCELED",
    OrderStatus.REJECTED: "REJECTED",
    OrderStatus.EXPIRED: "EXPIRED",
}


@dataclass(frozen=True, slots=True)
class BinanceError(Exception):
    """An error answer: HTTP status plus Binance's ``{"code": ..., "msg": ...}`` body."""

    http_status: int
    code: int
    msg: str

    def body(self) -> Json:
        return {"code": self.code, "msg": self.msg}


def bad_parameter(msg: str) -> BinanceError:
    return BinanceError(400, -1102, msg)


UNKNOWN_ORDER = BinanceError(400, -2013, "Order does not exist.")
UNKNOWN_ORDER_CANCEL = BinanceError(400, -2011, "Unknown order sent.")
BAD_SYMBOL = BinanceError(400, -1121, "Invalid symbol.")
BAD_SIGNATURE = BinanceError(400, -1022, "Signature for this request is not valid.")
BAD_API_KEY = BinanceError(401, -2015, "Invalid API-key, IP, or permissions for action.")
MISSING_API_KEY = BinanceError(401, -2014, "API-key format invalid.")
OUTSIDE_RECV_WINDOW = BinanceError(
    400, -1021, "Timestamp for this request is outside of the recvWindow."
)

_REJECTIONS = {
    Rejection.DUPLICATE: BinanceError(400, -2010, "Duplicate order sent."),
    Rejection.UNKNOWN_SYMBOL: BAD_SYMBOL,
    Rejection.NO_MARKET: BinanceError(400, -2010, "Market is closed."),
    Rejection.WOULD_TAKE: BinanceError(400, -2010, "Order would immediately match and take."),
    Rejection.INSUFFICIENT_BALANCE: BinanceError(
        400, -2010, "Account has insufficient balance for requested action."
    ),
}


def rejection_error(order: VenueOrder) -> BinanceError:
    if order.rejection is Rejection.FILTER:
        reason = order.reason or ""
        kind = (
            "NOTIONAL"
            if "notional" in reason
            else "PRICE_FILTER"
            if "price" in reason
            else "LOT_SIZE"
        )
        return BinanceError(400, -1013, f"Filter failure: {kind}")
    if order.rejection is None:
        return BinanceError(400, -2010, order.reason or "Order rejected.")
    return _REJECTIONS[order.rejection]


def num(value: float) -> str:
    """A number the way Binance writes it: a decimal string, never exponent notation."""
    text = f"{value:.10f}".rstrip("0")
    return text + "0" if text.endswith(".") else text


def ms(ts: float) -> int:
    return math.floor(ts * 1000)


def wire_symbol(symbol: str) -> str:
    return symbol.replace("/", "")


class SymbolBook:
    """Binance symbols (``BTCUSDT``) to ours (``BTC/USDT``) and back."""

    def __init__(self, instruments: Mapping[str, Instrument]) -> None:
        self.instruments = dict(instruments)
        self._by_wire = {wire_symbol(s): s for s in instruments}

    def ours(self, wire: str | None) -> str:
        if wire is None:
            raise bad_parameter(
                "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed."
            )
        symbol = self._by_wire.get(wire)
        if symbol is None:
            raise BAD_SYMBOL
        return symbol


def exchange_info(instruments: Mapping[str, Instrument], now: float, weight_limit: int) -> Json:
    symbols = []
    for symbol, ins in sorted(instruments.items()):
        symbols.append(
            {
                "symbol": wire_symbol(symbol),
                "status": "TRADING",
                "baseAsset": ins.base,
                "baseAssetPrecision": 8,
                "quoteAsset": ins.quote,
                "quotePrecision": 8,
                "quoteAssetPrecision": 8,
                "baseCommissionPrecision": 8,
                "quoteCommissionPrecision": 8,
                "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET"],
                "icebergAllowed": False,
                "ocoAllowed": False,
                "quoteOrderQtyMarketAllowed": False,
                "allowTrailingStop": False,
                "cancelReplaceAllowed": False,
                "isSpotTradingAllowed": True,
                "isMarginTradingAllowed": False,
                "filters": [
                    {
                        "filterType": "PRICE_FILTER",
                        "minPrice": num(ins.price_tick),
                        "maxPrice": "10000000",
                        "tickSize": num(ins.price_tick),
                    },
                    {
                        "filterType": "LOT_SIZE",
                        "minQty": num(ins.min_qty),
                        "maxQty": "90000000",
                        "stepSize": num(ins.qty_step),
                    },
                    {
                        "filterType": "NOTIONAL",
                        "minNotional": num(ins.min_notional),
                        "applyMinToMarket": True,
                        "maxNotional": "9000000",
                        "applyMaxToMarket": False,
                        "avgPriceMins": 5,
                    },
                ],
                "permissions": [],
                "permissionSets": [["SPOT"]],
                "defaultSelfTradePreventionMode": "NONE",
                "allowedSelfTradePreventionModes": ["NONE"],
            }
        )
    return {
        "timezone": "UTC",
        "serverTime": ms(now),
        "rateLimits": [
            {
                "rateLimitType": "REQUEST_WEIGHT",
                "interval": "MINUTE",
                "intervalNum": 1,
                "limit": weight_limit,
            }
        ],
        "exchangeFilters": [],
        "symbols": symbols,
    }


def book_ticker(snapshot: MarketSnapshot) -> Json:
    bid_qty = snapshot.bids[0][1] if snapshot.bids else 0.0
    ask_qty = snapshot.asks[0][1] if snapshot.asks else 0.0
    return {
        "symbol": wire_symbol(snapshot.symbol),
        "bidPrice": num(snapshot.bid),
        "bidQty": num(bid_qty),
        "askPrice": num(snapshot.ask),
        "askQty": num(ask_qty),
    }


def ticker_24h(snapshot: MarketSnapshot, open_price: float, high: float, low: float) -> Json:
    change = snapshot.last - open_price
    volume_base = snapshot.volume_24h_quote / snapshot.last
    close_ms = ms(snapshot.exchange_ts)
    return {
        **book_ticker(snapshot),
        "priceChange": num(change),
        "priceChangePercent": f"{change / open_price * 100:.3f}",
        "weightedAvgPrice": num((high + low + snapshot.last) / 3),
        "prevClosePrice": num(open_price),
        "lastPrice": num(snapshot.last),
        "lastQty": "0",
        "openPrice": num(open_price),
        "highPrice": num(high),
        "lowPrice": num(low),
        "volume": num(volume_base),
        "quoteVolume": num(snapshot.volume_24h_quote),
        "openTime": close_ms - 86_400_000,
        "closeTime": close_ms,
        "firstId": -1,
        "lastId": -1,
        "count": 0,
    }


def depth(snapshot: MarketSnapshot, limit: int, update_id: int) -> Json:
    return {
        "lastUpdateId": update_id,
        "bids": [[num(p), num(q)] for p, q in snapshot.bids[:limit]],
        "asks": [[num(p), num(q)] for p, q in snapshot.asks[:limit]],
    }


def kline(
    open_ts: float, interval_s: int, o: float, h: float, low: float, c: float, volume: float
) -> list[Any]:
    return [
        ms(open_ts),
        num(o),
        num(h),
        num(low),
        num(c),
        num(volume),
        ms(open_ts + interval_s) - 1,
        num(volume * c),
        0,
        "0",
        "0",
        "0",
    ]


def order_type_of(order: VenueOrder) -> str:
    if order.order_type is OrderType.MARKET:
        return "MARKET"
    return "LIMIT_MAKER" if order.time_in_force is TimeInForce.POST_ONLY else "LIMIT"


def order_json(order: VenueOrder, *, with_fills: bool = False) -> Json:
    tif = "GTC" if order.time_in_force is TimeInForce.POST_ONLY else order.time_in_force.value
    body: Json = {
        "symbol": wire_symbol(order.symbol),
        "orderId": int(order.exchange_order_id),
        "orderListId": -1,
        "clientOrderId": order.client_order_id,
        "price": num(order.price or 0.0),
        "origQty": num(order.qty),
        "executedQty": num(order.filled_qty),
        "cummulativeQuoteQty": num(order.cost),
        "status": _STATUS[order.status],
        "timeInForce": tif,
        "type": order_type_of(order),
        "side": order.side.value.upper(),
        "stopPrice": "0",
        "icebergQty": "0",
        "time": ms(order.created_ts),
        "transactTime": ms(order.created_ts),
        "updateTime": ms(order.checked_ts),
        "workingTime": ms(order.created_ts),
        "isWorking": not order.status.is_final,
        "origQuoteOrderQty": "0",
        "selfTradePreventionMode": "NONE",
    }
    if with_fills:
        body["fills"] = [
            {
                "price": num(f.price),
                "qty": num(f.qty),
                "commission": num(f.fee),
                "commissionAsset": f.fee_asset,
                "tradeId": int(f.trade_id),
            }
            for f in order.fills
        ]
    return body


def trades_json(order: VenueOrder) -> list[Json]:
    return [
        {
            "symbol": wire_symbol(order.symbol),
            "id": int(f.trade_id),
            "orderId": int(order.exchange_order_id),
            "orderListId": -1,
            "price": num(f.price),
            "qty": num(f.qty),
            "quoteQty": num(f.qty * f.price),
            "commission": num(f.fee),
            "commissionAsset": f.fee_asset,
            "time": ms(f.ts),
            "isBuyer": order.side is Side.BUY,
            "isMaker": f.maker,
            "isBestMatch": True,
        }
        for f in order.fills
    ]


def agg_trades_json(order: VenueOrder) -> list[Json]:
    """The order's fills as the public aggregated-trades tape shows them."""
    return [
        {
            "a": int(f.trade_id),
            "p": num(f.price),
            "q": num(f.qty),
            "f": int(f.trade_id),
            "l": int(f.trade_id),
            "T": ms(f.ts),
            # The buyer was the maker when our buy rested, or our sell took a resting bid.
            "m": (order.side is Side.BUY) == f.maker,
            "M": True,
        }
        for f in order.fills
    ]


@dataclass(frozen=True, slots=True)
class OrderRequest:
    symbol: str
    side: Side
    order_type: OrderType
    time_in_force: TimeInForce
    qty: float
    price: float | None
    client_order_id: str
    response_type: str


def _positive(params: Mapping[str, str], name: str) -> float:
    raw = params.get(name)
    if raw is None or raw == "":
        raise bad_parameter(
            f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed."
        )
    try:
        value = float(raw)
    except ValueError:
        raise BinanceError(400, -1100, f"Illegal characters found in parameter '{name}'.") from None
    if not (math.isfinite(value) and value > 0):
        raise BinanceError(400, -1013, f"Invalid {name}.")
    return value


_CLIENT_ID_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.:/_-")


def parse_new_order(params: Mapping[str, str], symbols: SymbolBook, fresh_id: str) -> OrderRequest:
    symbol = symbols.ours(params.get("symbol"))
    side_raw = params.get("side", "")
    if side_raw not in ("BUY", "SELL"):
        raise BinanceError(400, -1117, "Invalid side.")
    kind = params.get("type", "")
    price: float | None = None
    if kind == "MARKET":
        order_type, tif = OrderType.MARKET, TimeInForce.IOC
    elif kind == "LIMIT":
        order_type = OrderType.LIMIT
        tif_raw = params.get("timeInForce")
        if tif_raw not in ("GTC", "IOC", "FOK"):
            raise BinanceError(400, -1105, "Parameter 'timeInForce' was empty.")
        tif = TimeInForce(tif_raw)
        price = _positive(params, "price")
    elif kind == "LIMIT_MAKER":
        order_type, tif = OrderType.LIMIT, TimeInForce.POST_ONLY
        price = _positive(params, "price")
    else:
        raise BinanceError(400, -1116, "Invalid orderType.")
    client_id = params.get("newClientOrderId") or fresh_id
    if len(client_id) > 36 or not set(client_id) <= _CLIENT_ID_CHARS:
        raise BinanceError(400, -1100, "Illegal characters found in parameter 'newClientOrderId'.")
    return OrderRequest(
        symbol=symbol,
        side=Side.BUY if side_raw == "BUY" else Side.SELL,
        order_type=order_type,
        time_in_force=tif,
        qty=_positive(params, "quantity"),
        price=price,
        client_order_id=client_id,
        response_type=params.get("newOrderRespType", "FULL" if kind == "MARKET" else "RESULT"),
    )


# Request weight per endpoint, as Binance documents them for spot (one symbol / all symbols).
def request_weight(method: str, path: str, params: Mapping[str, str]) -> int:
    has_symbol = "symbol" in params
    if path == "/api/v3/depth":
        limit = int(params.get("limit", "100") or 100)
        return 5 if limit <= 100 else 25 if limit <= 500 else 50
    weights = {
        ("GET", "/api/v3/exchangeInfo"): 20,
        ("GET", "/api/v3/ticker/24hr"): 2 if has_symbol else 80,
        ("GET", "/api/v3/ticker/bookTicker"): 2 if has_symbol else 4,
        ("GET", "/api/v3/klines"): 2,
        ("GET", "/api/v3/aggTrades"): 4,
        ("GET", "/api/v3/time"): 1,
        ("POST", "/api/v3/order"): 1,
        ("GET", "/api/v3/order"): 4,
        ("DELETE", "/api/v3/order"): 1,
        ("GET", "/api/v3/openOrders"): 6 if has_symbol else 80,
        ("GET", "/api/v3/account"): 20,
        ("GET", "/api/v3/myTrades"): 20,
    }
    return weights.get((method, path), 1)
