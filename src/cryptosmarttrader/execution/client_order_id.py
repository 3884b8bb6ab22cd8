"""Idempotent client order ids: the same intent always maps to the same id."""

from __future__ import annotations

import hashlib

from cryptosmarttrader.domain.orders import OrderIntent
from cryptosmarttrader.domain.validation import is_valid_client_order_id

# Kraken's free-text cl_ord_id allows at most 18 characters; Binance allows 36.
CLIENT_ORDER_ID_LENGTH = 18


def _number(value: object) -> str:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return repr(float(value))
    return repr(value)


def derive_client_order_id(prefix: str, intent: OrderIntent) -> str:
    """``prefix`` + hex of SHA-256 over (strategy, symbol, side, qty, price, signal id)."""
    fields = (
        str(intent.strategy),
        str(intent.symbol),
        str(intent.side),
        _number(intent.qty),
        "" if intent.price is None else _number(intent.price),
        str(intent.signal_id),
    )
    digest = hashlib.sha256("\x1f".join(fields).encode("utf-8")).hexdigest()
    return prefix + digest[: CLIENT_ORDER_ID_LENGTH - len(prefix)]


def client_order_id_for(prefix: str, intent: OrderIntent) -> str:
    """The intent's explicit id when it is valid, else the derived one."""
    if intent.client_order_id is not None and is_valid_client_order_id(intent.client_order_id):
        return intent.client_order_id
    return derive_client_order_id(prefix, intent)
