"""Trading symbols and the quantity/price grid an exchange imposes on each instrument."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from decimal import Decimal
from functools import cache

SYMBOL_PATTERN = re.compile(r"^[A-Z0-9]{2,12}/[A-Z0-9]{2,12}$")

# How far from a whole number of grid steps a float may land and still count as on it:
# binary floats cannot hold 0.001 exactly, and value / step adds a few units in the last place.
_GRID_ABS = 1e-9
_GRID_REL = 2e-15  # about ten ULPs of the step count


def _tolerance(units: float) -> float:
    return _GRID_ABS + abs(units) * _GRID_REL


def is_valid_symbol(symbol: object) -> bool:
    return isinstance(symbol, str) and SYMBOL_PATTERN.fullmatch(symbol) is not None


def split_symbol(symbol: str) -> tuple[str, str]:
    """Return (base, quote) of a ``BASE/QUOTE`` symbol."""
    if not is_valid_symbol(symbol):
        raise ValueError(f"malformed symbol {symbol!r}: expected BASE/QUOTE, e.g. BTC/USDT")
    base, quote = symbol.split("/")
    return base, quote


@cache
def _decimals(step: float) -> int:
    exponent = Decimal(repr(step)).normalize().as_tuple().exponent
    return max(0, -int(exponent))


def on_grid(value: float, step: float) -> bool:
    units = value / step
    if not math.isfinite(units):
        return False
    return abs(units - round(units)) <= _tolerance(units)


def floor_to_grid(value: float, step: float) -> float:
    """Largest multiple of ``step`` that is <= ``value`` (within float tolerance)."""
    units = value / step
    whole = math.floor(units + _tolerance(units))
    return round(whole * step, _decimals(step))


def ceil_to_grid(value: float, step: float) -> float:
    """Smallest multiple of ``step`` that is >= ``value`` (within float tolerance)."""
    units = value / step
    whole = math.ceil(units - _tolerance(units))
    return round(whole * step, _decimals(step))


@dataclass(frozen=True, slots=True)
class Instrument:
    """What a venue accepts for one symbol: price tick, quantity step and minimums."""

    symbol: str
    base: str
    quote: str
    price_tick: float
    qty_step: float
    min_qty: float
    min_notional: float

    def floor_qty(self, qty: float) -> float:
        return floor_to_grid(qty, self.qty_step)

    def qty_on_step(self, qty: float) -> bool:
        return on_grid(qty, self.qty_step)

    def price_on_tick(self, price: float) -> bool:
        return on_grid(price, self.price_tick)

    def floor_price(self, price: float) -> float:
        return floor_to_grid(price, self.price_tick)
