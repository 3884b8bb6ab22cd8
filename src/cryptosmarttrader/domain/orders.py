"""Order intents, order states and the legal transitions between states."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Side(StrEnum):
    BUY = "buy"
    SELL = "sell"

    @property
    def sign(self) -> int:
        return 1 if self is Side.BUY else -1


class OrderType(StrEnum):
    LIMIT = "limit"
    MARKET = "market"


class TimeInForce(StrEnum):
    GTC = "GTC"
    IOC = "IOC"
    FOK = "FOK"
    POST_ONLY = "POST_ONLY"


# Orders that may rest on the book: they must never cross the spread on arrival.
RESTING_TIME_IN_FORCE = frozenset({TimeInForce.GTC, TimeInForce.POST_ONLY})


class OrderStatus(StrEnum):
    NEW = "NEW"
    PENDING_SUBMIT = "PENDING_SUBMIT"
    OPEN = "OPEN"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    CANCELED = "CANCELED"
    REJECTED = "REJECTED"
    EXPIRED = "EXPIRED"
    UNKNOWN = "UNKNOWN"

    @property
    def is_final(self) -> bool:
        return self in FINAL_STATUSES


FINAL_STATUSES = frozenset(
    {OrderStatus.FILLED, OrderStatus.CANCELED, OrderStatus.REJECTED, OrderStatus.EXPIRED}
)

_LIVE_OUTCOMES = frozenset(
    {
        OrderStatus.OPEN,
        OrderStatus.PARTIALLY_FILLED,
        OrderStatus.FILLED,
        OrderStatus.CANCELED,
        OrderStatus.EXPIRED,
        OrderStatus.UNKNOWN,
    }
)

ALLOWED_TRANSITIONS: dict[OrderStatus, frozenset[OrderStatus]] = {
    OrderStatus.NEW: frozenset({OrderStatus.PENDING_SUBMIT, OrderStatus.REJECTED}),
    OrderStatus.PENDING_SUBMIT: _LIVE_OUTCOMES | {OrderStatus.REJECTED},
    # An unresolved outcome may turn out to be anything, including "never arrived".
    OrderStatus.UNKNOWN: _LIVE_OUTCOMES | {OrderStatus.REJECTED},
    OrderStatus.OPEN: _LIVE_OUTCOMES,
    OrderStatus.PARTIALLY_FILLED: _LIVE_OUTCOMES - {OrderStatus.OPEN},
    OrderStatus.FILLED: frozenset(),
    OrderStatus.CANCELED: frozenset(),
    OrderStatus.REJECTED: frozenset(),
    OrderStatus.EXPIRED: frozenset(),
}


class IllegalTransitionError(ValueError):
    def __init__(self, old: OrderStatus, new: OrderStatus) -> None:
        super().__init__(f"illegal order state transition {old} -> {new}")
        self.old = old
        self.new = new


def check_transition(old: OrderStatus, new: OrderStatus) -> None:
    """Raise unless ``old -> new`` is legal; staying in a non-final state is a no-op."""
    if old == new and not old.is_final:
        return
    if new not in ALLOWED_TRANSITIONS[old]:
        raise IllegalTransitionError(old, new)


@dataclass(frozen=True, slots=True)
class OrderIntent:
    """What a strategy, the CLI or the API wants to trade, before any gate has looked at it.

    Values are not validated on construction on purpose: an invalid intent must reach the
    RiskGuard and be rejected there with ``INVALID_ORDER`` and an audit row.
    """

    symbol: str
    side: Side
    qty: float
    order_type: OrderType = OrderType.LIMIT
    price: float | None = None
    time_in_force: TimeInForce | None = None
    strategy: str = "manual"
    signal_id: str = ""
    reduce_only: bool = False
    client_order_id: str | None = None
