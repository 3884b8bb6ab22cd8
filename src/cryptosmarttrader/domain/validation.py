"""Intrinsic validity of an order intent, checked before any gate and by every face (CLI, API)."""

from __future__ import annotations

import math
import re

from cryptosmarttrader.domain.decisions import GateName, GateOutcome, reject
from cryptosmarttrader.domain.orders import OrderIntent, OrderType, Side, TimeInForce
from cryptosmarttrader.domain.reason_codes import ReasonCode
from cryptosmarttrader.domain.symbols import Instrument, is_valid_symbol

# Valid on both Binance (newClientOrderId: [.A-Z:/a-z0-9_-]{1,36}) and Kraken (cl_ord_id:
# free text of at most 18 characters, or a UUID in its long or short form).
_FREE_TEXT_ID = re.compile(r"^[A-Za-z0-9._:/-]{1,18}$")
_UUID_ID = re.compile(
    r"^(?:[0-9a-fA-F]{32}|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})$"
)
_LABEL = re.compile(r"^[A-Za-z0-9._:/@#+=-]{0,64}$")


def is_valid_client_order_id(value: object) -> bool:
    return isinstance(value, str) and (
        _FREE_TEXT_ID.fullmatch(value) is not None or _UUID_ID.fullmatch(value) is not None
    )


def _positive_finite(value: object) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value > 0
    )


def intent_problem(intent: OrderIntent) -> str | None:
    """Why the intent is malformed regardless of venue, or None.

    Fields are read as ``object``: intents also come from untyped sources (JSON, the API), and
    this check is what stands between such input and the gates.
    """
    symbol: object = intent.symbol
    side: object = intent.side
    order_type: object = intent.order_type
    tif: object = intent.time_in_force
    qty: object = intent.qty
    price: object = intent.price
    reduce_only: object = intent.reduce_only
    strategy: object = intent.strategy
    signal_id: object = intent.signal_id
    if not is_valid_symbol(symbol):
        return f"malformed symbol {symbol!r}: expected BASE/QUOTE, e.g. BTC/USDT"
    if not isinstance(side, Side):
        return f"side must be buy or sell, got {side!r}"
    if not isinstance(order_type, OrderType):
        return f"order type must be limit or market, got {order_type!r}"
    if tif is not None and not isinstance(tif, TimeInForce):
        return f"unknown time in force {tif!r}"
    if not _positive_finite(qty):
        return f"quantity must be a positive finite number, got {qty!r}"
    if order_type is OrderType.LIMIT:
        if price is None:
            return "a limit order needs a price"
        if not _positive_finite(price):
            return f"price must be a positive finite number, got {price!r}"
    elif price is not None:
        return "a market order takes no price"
    if not isinstance(reduce_only, bool):
        return f"reduce_only must be a boolean, got {reduce_only!r}"
    if not isinstance(strategy, str) or not strategy:
        return "strategy must be a non-empty label"
    for label, value in (("strategy", strategy), ("signal id", signal_id)):
        if not isinstance(value, str) or _LABEL.fullmatch(value) is None:
            return f"{label} must be at most 64 characters of [A-Za-z0-9._:/@#+=-], got {value!r}"
    if intent.client_order_id is not None and not is_valid_client_order_id(intent.client_order_id):
        return (
            f"client order id {intent.client_order_id!r} is not valid on Binance and Kraken: "
            "use 1-18 characters of [A-Za-z0-9._:/-] or a UUID"
        )
    return None


def instrument_problem(intent: OrderIntent, instrument: Instrument) -> str | None:
    """Why the (well-formed) intent does not fit the instrument's grid and minimums, or None."""
    if intent.qty < instrument.min_qty:
        return (
            f"quantity {intent.qty} is below the minimum {instrument.min_qty} for {intent.symbol}"
        )
    if not instrument.qty_on_step(intent.qty):
        return f"quantity {intent.qty} is not a multiple of the step {instrument.qty_step}"
    if intent.price is not None and not instrument.price_on_tick(intent.price):
        return f"price {intent.price} is not a multiple of the tick {instrument.price_tick}"
    return None


def validate_intent(intent: OrderIntent, instrument: Instrument | None) -> GateOutcome | None:
    """Return a REJECT outcome for an invalid intent, or None when it may enter the gates."""
    problem = intent_problem(intent)
    if problem is not None:
        return reject(GateName.VALIDATION, ReasonCode.INVALID_ORDER, problem)
    if instrument is None:
        return reject(
            GateName.VALIDATION,
            ReasonCode.UNKNOWN_SYMBOL,
            f"{intent.symbol} is not listed on this venue",
        )
    problem = instrument_problem(intent, instrument)
    if problem is not None:
        return reject(GateName.VALIDATION, ReasonCode.INVALID_ORDER, problem)
    return None
