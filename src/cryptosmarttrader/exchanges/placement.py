"""The approved-order capability: the only thing a broker's ``place()`` accepts.

An :class:`ApprovedOrder` can be constructed only with the issuer seal, and the seal can be
claimed exactly once per process, by ``execution.gateway`` when it is imported. Every broker
calls :func:`require_approved` before touching the venue. Together with the import-linter
contract (only the gateway and the brokers may import this module) no code path can place an
order without passing the RiskGuard and the ExecutionPolicy.
"""

from __future__ import annotations

import threading
from typing import Any

from cryptosmarttrader.domain.orders import OrderType, Side, TimeInForce


class PlacementForbiddenError(PermissionError):
    """Raised when anything but the order gateway tries to create or place an order."""


class _Seal:
    __slots__ = ()

    def __repr__(self) -> str:
        return "<order gateway seal>"


_claim_lock = threading.Lock()
_issuer: _Seal | None = None


def claim_issuer_seal() -> object:
    """Hand out the one seal of this process; a second claim is refused."""
    global _issuer
    with _claim_lock:
        if _issuer is not None:
            raise PlacementForbiddenError(
                "the order gateway already holds the approval seal; nothing else may issue orders"
            )
        _issuer = _Seal()
        return _issuer


class ApprovedOrder:
    """An order that passed every gate, at the size and time in force the gates settled on."""

    __slots__ = (
        "_seal",
        "client_order_id",
        "order_type",
        "price",
        "qty",
        "reduce_only",
        "side",
        "symbol",
        "time_in_force",
    )

    client_order_id: str
    symbol: str
    side: Side
    order_type: OrderType
    time_in_force: TimeInForce
    qty: float
    price: float | None
    reduce_only: bool

    def __init__(
        self,
        *,
        seal: object,
        client_order_id: str,
        symbol: str,
        side: Side,
        order_type: OrderType,
        time_in_force: TimeInForce,
        qty: float,
        price: float | None,
        reduce_only: bool,
    ) -> None:
        if _issuer is None or seal is not _issuer:
            raise PlacementForbiddenError("only the OrderGateway can issue an ApprovedOrder")
        setter = object.__setattr__
        setter(self, "client_order_id", client_order_id)
        setter(self, "symbol", symbol)
        setter(self, "side", side)
        setter(self, "order_type", order_type)
        setter(self, "time_in_force", time_in_force)
        setter(self, "qty", qty)
        setter(self, "price", price)
        setter(self, "reduce_only", reduce_only)
        setter(self, "_seal", seal)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("ApprovedOrder is immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError("ApprovedOrder is immutable")

    def __repr__(self) -> str:
        price = "" if self.price is None else f" @ {self.price}"
        return (
            f"ApprovedOrder({self.client_order_id} {self.side} {self.qty} {self.symbol}{price} "
            f"{self.order_type} {self.time_in_force})"
        )


def require_approved(order: object) -> ApprovedOrder:
    """Brokers call this first: anything but a genuine, gateway-issued order is refused."""
    if type(order) is not ApprovedOrder:
        raise PlacementForbiddenError("brokers accept only an ApprovedOrder from the OrderGateway")
    if _issuer is None or getattr(order, "_seal", None) is not _issuer:
        raise PlacementForbiddenError("this ApprovedOrder was not issued by the OrderGateway")
    return order
