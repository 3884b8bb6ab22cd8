"""Parsing of command-line values with messages that say what was wrong."""

from __future__ import annotations

import math

from cryptosmarttrader.cli.errors import UsageError
from cryptosmarttrader.domain.orders import OrderType, Side, TimeInForce


def parse_side(text: str) -> Side:
    try:
        return Side(text.strip().lower())
    except ValueError:
        raise UsageError(f"side must be buy or sell, got {text!r}") from None


def parse_symbol(text: str) -> str:
    symbol = text.strip().upper().replace("-", "/")
    if "/" not in symbol:
        raise UsageError(f"symbol must look like BTC/USDT, got {text!r}")
    return symbol


def parse_positive(name: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise UsageError(f"{name} must be a number, got {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise UsageError(f"{name} must be a positive finite number, got {text!r}")
    return value


def parse_order_type(text: str) -> OrderType:
    try:
        return OrderType(text.strip().lower())
    except ValueError:
        raise UsageError(f"--type must be limit or market, got {text!r}") from None


def parse_time_in_force(text: str) -> TimeInForce:
    normalized = text.strip().upper().replace("-", "_")
    if normalized == "POSTONLY":
        normalized = "POST_ONLY"
    try:
        return TimeInForce(normalized)
    except ValueError:
        allowed = ", ".join(t.value for t in TimeInForce)
        raise UsageError(f"--tif must be one of {allowed}, got {text!r}") from None
