"""A broker on ``ccxt.async_support``: the paper exchange, Binance and Kraken with one code path.

The gateway is synchronous; this broker owns an event loop on a background thread and one
pooled ccxt client on it, and runs each call there with a hard deadline.

Placing an order never re-sends blindly. The client order id goes with every create; when a
create fails in a way that leaves its outcome open (timeout, dropped connection, 5xx, a body
that is not JSON) the order is looked up by that id, and only a confirmed absence allows
another attempt, with the same id, so the venue's uniqueness check stops any double. A
refusal the venue guarantees it did not process (429/418 rate limits, a stale timestamp) is
retried after backoff, never sooner than the venue's ``Retry-After``, without a lookup; a
rejection (bad order, no funds) is final.

Every create is signed with a receive window (Binance ``recvWindow``, Kraken ``deadline``)
and no attempt starts after ``send_window_s``: a request that is still somewhere on the wire
is refused by the venue once its window is over. So an order that the venue does not know
``absent_final_after_s`` after it was written down will never arrive, which is what lets
reconciliation resolve it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar

from ccxt.base import errors as ccxt_errors
from tenacity import (
    AsyncRetrying,
    RetryError,
    retry_if_exception_type,
    stop_after_attempt,
    stop_before_delay,
    wait_exponential_jitter,
)

from cryptosmarttrader.domain.orders import OrderStatus, OrderType, Side, TimeInForce
from cryptosmarttrader.domain.symbols import Instrument, is_valid_symbol
from cryptosmarttrader.exchanges.broker import (
    BrokerError,
    BrokerFill,
    ExecutionReport,
    VenueOpenOrder,
)
from cryptosmarttrader.exchanges.ccxt_client import describe_error as _describe
from cryptosmarttrader.exchanges.ccxt_client import (
    instruments_from_markets,
    new_async_client,
)
from cryptosmarttrader.exchanges.event_loop import LoopThread
from cryptosmarttrader.exchanges.placement import ApprovedOrder, require_approved
from cryptosmarttrader.exchanges.retry_after import at_least_retry_after
from cryptosmarttrader.exchanges.venue_config import CcxtVenueConfig
from cryptosmarttrader.observability.logging import get_logger

T = TypeVar("T")

_log = get_logger("ccxt_broker")

_KRAKEN_MIN_DEADLINE_S = 2.5

# A create that failed with one of these was refused before the venue processed it.
_REFUSED = (ccxt_errors.DDoSProtection, ccxt_errors.RateLimitExceeded, ccxt_errors.InvalidNonce)
# A create that failed with one of these was processed and rejected: final.
_REJECTED = (
    ccxt_errors.InvalidOrder,
    ccxt_errors.InsufficientFunds,
    ccxt_errors.BadRequest,
    ccxt_errors.AuthenticationError,
    ccxt_errors.OperationRejected,
    ccxt_errors.ArgumentsRequired,
    ccxt_errors.NotSupported,
)

_STATUS = {
    "closed": OrderStatus.FILLED,
    "canceled": OrderStatus.CANCELED,
    "cancelled": OrderStatus.CANCELED,
    "expired": OrderStatus.EXPIRED,
    "rejected": OrderStatus.REJECTED,
}


class _AbsentError(Exception):
    """The create failed and the venue confirmed it has no such order: try again."""


class _RefusedError(Exception):
    """The venue refused the create without processing it (rate limit, stale timestamp)."""

    def __init__(self, message: str, retry_after_s: float | None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


def _num(value: object) -> float:
    return float(value) if isinstance(value, int | float) and math.isfinite(value) else 0.0


class CcxtBroker:
    def __init__(self, config: CcxtVenueConfig) -> None:
        self.config = config
        self.venue = config.venue
        # Kraken's AddOrder `deadline` must lie at least a couple of seconds ahead.
        self._recv_window_s = (
            max(config.recv_window_s, _KRAKEN_MIN_DEADLINE_S)
            if config.exchange_id == "kraken"
            else config.recv_window_s
        )
        self.absent_final_after_s = (
            config.send_window_s + self._recv_window_s + config.clock_margin_s
        )
        self._loop = LoopThread(f"ccxt-{config.venue}")
        self._exchange: Any = self._loop.run(self._create_client(), 30)
        self._instruments: dict[str, Instrument] | None = None
        self._backoff = at_least_retry_after(
            wait_exponential_jitter(
                multiplier=config.backoff_initial_s,
                max=config.backoff_max_s,
                jitter=config.backoff_initial_s,
            )
        )

    async def _create_client(self) -> Any:
        return new_async_client(self.config)

    # --- plumbing -----------------------------------------------------------------------
    def _call_s(self) -> float:
        """One call's worst case: its timeout and the longest backoff after it."""
        return self.config.timeout_s + self.config.backoff_max_s

    def _budget_s(self) -> float:
        cfg = self.config
        return cfg.send_window_s + self._call_s() * (cfg.lookup_attempts + 2) + 30

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        budget = self._budget_s()
        try:
            return self._loop.run(coro, budget)
        except TimeoutError as exc:
            raise BrokerError(f"{self.venue}: no answer within {budget:.0f} s") from exc

    async def _with_retries(self, call: Callable[[], Awaitable[T]], what: str) -> T:
        """A read-only call, retried on transient failures; BrokerError when it cannot tell."""
        cfg = self.config
        try:
            async for attempt in AsyncRetrying(
                # A Retry-After longer than the call's share of the budget ends it at once.
                stop=stop_after_attempt(cfg.lookup_attempts)
                | stop_before_delay(self._call_s() * cfg.lookup_attempts),
                wait=self._backoff,
                retry=retry_if_exception_type(ccxt_errors.OperationFailed),
                reraise=True,
            ):
                with attempt:
                    return await call()
        except ccxt_errors.BaseError as exc:
            raise BrokerError(f"{self.venue}: {what} failed: {_describe(exc)}") from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def close(self) -> None:
        try:
            self._loop.run(self._exchange.close(), 30)
        finally:
            self._loop.stop()

    # --- catalog and account ------------------------------------------------------------
    def instruments(self) -> dict[str, Instrument]:
        if self._instruments is None:
            # reload=True: ccxt would otherwise hand back its first answer, even an empty one.
            markets = self._run(
                self._with_retries(lambda: self._exchange.load_markets(True), "load markets")
            )
            instruments = instruments_from_markets(markets)
            if not instruments:
                # ccxt turns an answer that is not JSON into an empty catalog: never keep that.
                raise BrokerError(f"{self.venue}: the venue listed no tradable spot market")
            self._instruments = instruments
        return dict(self._instruments)

    def balances(self) -> dict[str, float]:
        raw = self._run(self._with_retries(self._exchange.fetch_balance, "fetch balance"))
        if not isinstance(raw.get("info"), dict | list):
            # ccxt parses a body that is not JSON into an empty balance; taking that as "no
            # money" would zero the account on the next re-sync.
            raise BrokerError(f"{self.venue}: the balance answer was not a balance")
        totals = raw.get("total") or {}
        return {str(asset): _num(qty) for asset, qty in totals.items() if _num(qty) > 0}

    # --- orders -------------------------------------------------------------------------
    def place(self, order: ApprovedOrder) -> ExecutionReport:
        approved = require_approved(order)
        return self._run(self._place(approved))

    def fetch_order(self, symbol: str, client_order_id: str) -> ExecutionReport | None:
        return self._run(self._lookup(symbol, client_order_id))

    def cancel(self, symbol: str, client_order_id: str) -> ExecutionReport:
        return self._run(self._cancel(symbol, client_order_id))

    def open_orders(self) -> list[VenueOpenOrder]:
        return self._run(self._open_orders())

    async def _place(self, order: ApprovedOrder) -> ExecutionReport:
        cfg = self.config
        started = time.monotonic()
        # Once an attempt's outcome was open, that request may still land: a later refusal or
        # rejection then proves nothing, and only reconciliation may close the order.
        errors: list[BaseException] = []
        try:
            async for attempt in AsyncRetrying(
                # No attempt after the send window, nor a wait (a Retry-After) that ends past it.
                stop=stop_after_attempt(cfg.create_attempts) | stop_before_delay(cfg.send_window_s),
                wait=self._backoff,
                retry=retry_if_exception_type((_AbsentError, _RefusedError)),
            ):
                with attempt:
                    if time.monotonic() - started > cfg.send_window_s:
                        raise BrokerError(
                            f"{self.venue}: order {order.client_order_id} not confirmed within "
                            f"the {cfg.send_window_s:g} s send window ({_describe(errors[-1])})"
                        )
                    try:
                        report = await self._create_once(order)
                    except (_AbsentError, _RefusedError) as exc:
                        errors.append(exc)
                        raise
                    if report.status is OrderStatus.REJECTED and _any_open(errors):
                        raise BrokerError(
                            f"{self.venue}: order {order.client_order_id} rejected "
                            f"({report.reason}) after an earlier attempt's outcome was open"
                        )
                    return report
        except RetryError as exc:
            last = _describe(errors[-1]) if errors else "no attempt made"
            if not _any_open(errors):
                # Every attempt was refused unprocessed: the order certainly is not there.
                return _rejected(order.client_order_id, f"venue refused every attempt: {last}")
            raise BrokerError(
                f"{self.venue}: order {order.client_order_id} outcome unknown after "
                f"{len(errors)} attempts ({last})"
            ) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    async def _create_once(self, order: ApprovedOrder) -> ExecutionReport:
        params: dict[str, Any] = {"clientOrderId": order.client_order_id}
        order_type = "market" if order.order_type is OrderType.MARKET else "limit"
        if order.order_type is OrderType.LIMIT:
            if order.time_in_force is TimeInForce.POST_ONLY:
                params["postOnly"] = True
            elif order.time_in_force is not TimeInForce.GTC:
                params["timeInForce"] = order.time_in_force.value
        if self.config.exchange_id == "kraken":
            if order.reduce_only:
                params["reduceOnly"] = True
            deadline = datetime.now(UTC).timestamp() + self._recv_window_s
            params["deadline"] = datetime.fromtimestamp(deadline, UTC).isoformat()
        try:
            raw = await self._exchange.create_order(
                order.symbol, order_type, order.side.value, order.qty, order.price, params
            )
        except _REFUSED as exc:
            retry_after = getattr(exc, "retry_after_s", None)
            _log.warning(
                "broker.create_refused",
                client_order_id=order.client_order_id,
                error=_describe(exc),
                retry_after_s=retry_after,
            )
            asked = f" (retry after {retry_after:g} s)" if retry_after is not None else ""
            raise _RefusedError(_describe(exc) + asked, retry_after) from exc
        except _REJECTED as exc:
            if _is_duplicate(exc):
                found = await self._lookup(order.symbol, order.client_order_id)
                if found is not None:
                    return found
                raise BrokerError(
                    f"{self.venue}: duplicate client order id {order.client_order_id} but no "
                    "such order on lookup"
                ) from exc
            return _rejected(order.client_order_id, _describe(exc))
        except ccxt_errors.BaseError as exc:
            _log.warning(
                "broker.create_unresolved",
                client_order_id=order.client_order_id,
                error=_describe(exc),
            )
            found = await self._lookup(order.symbol, order.client_order_id)
            if found is not None:
                return found
            raise _AbsentError(_describe(exc)) from exc
        if not _describes(raw, order.client_order_id):
            # A 200 whose body is not the order (ccxt parses HTML into an empty order).
            _log.warning("broker.create_unparsable", client_order_id=order.client_order_id)
            found = await self._lookup(order.symbol, order.client_order_id)
            if found is not None:
                return found
            raise _AbsentError("the answer to the create was not an order")
        return await self._report(raw, order.symbol)

    async def _lookup(self, symbol: str, client_order_id: str) -> ExecutionReport | None:
        """The venue's order with this client id; None only when the venue says it has none."""
        exchange = self._exchange

        async def find() -> dict[str, Any] | None:
            if self.config.exchange_id == "kraken":
                for fetch in (exchange.fetch_open_orders, exchange.fetch_closed_orders):
                    found = await fetch(None, None, None, {"clientOrderId": client_order_id})
                    if found:
                        return dict(found[0])
                return None
            try:
                raw = dict(
                    await exchange.fetch_order(None, symbol, {"clientOrderId": client_order_id})
                )
            except ccxt_errors.OrderNotFound:
                return None
            if not _describes(raw, client_order_id):
                raise ccxt_errors.BadResponse(f"lookup of {client_order_id}: not an order")
            return raw

        raw = await self._with_retries(find, f"look up {client_order_id}")
        if raw is None:
            return None
        return await self._report(raw, symbol)

    async def _cancel(self, symbol: str, client_order_id: str) -> ExecutionReport:
        try:
            raw = await self._exchange.cancel_order(
                None, symbol, {"clientOrderId": client_order_id}
            )
        except ccxt_errors.OrderNotFound:
            found = await self._lookup(symbol, client_order_id)
            if found is None:
                raise KeyError(f"unknown order {client_order_id}") from None
            return found  # already final: nothing left to cancel
        except ccxt_errors.BaseError as exc:
            raise BrokerError(
                f"{self.venue}: cancel {client_order_id} failed: {_describe(exc)}"
            ) from exc
        report = await self._report(raw, symbol)
        if report.status.is_final:
            return report
        # Some venues answer a cancel before it took effect: ask again for the final state.
        found = await self._lookup(symbol, client_order_id)
        return found if found is not None else report

    async def _open_orders(self) -> list[VenueOpenOrder]:
        raw_orders = await self._with_retries(
            lambda: self._exchange.fetch_open_orders(), "fetch open orders"
        )
        result = []
        for raw in raw_orders:
            symbol = str(raw.get("symbol"))
            if not raw.get("clientOrderId") or not is_valid_symbol(symbol):
                continue
            report = await self._report(dict(raw), symbol)
            price = raw.get("price")
            result.append(
                VenueOpenOrder(
                    symbol=symbol,
                    side=Side.BUY if raw.get("side") == "buy" else Side.SELL,
                    order_type=OrderType.MARKET if raw.get("type") == "market" else OrderType.LIMIT,
                    qty=_num(raw.get("amount")),
                    price=float(price) if isinstance(price, int | float) and price > 0 else None,
                    report=report,
                )
            )
        return result

    async def _report(self, raw: Mapping[str, Any], symbol: str) -> ExecutionReport:
        filled = _num(raw.get("filled"))
        fills: tuple[BrokerFill, ...] = ()
        if filled > 0:
            fills = await self._fills(raw, symbol)
        status_text = str(raw.get("status") or "")
        status = _STATUS.get(status_text)
        if status is None:  # open, canceling, or not said: still live
            status = OrderStatus.PARTIALLY_FILLED if filled > 0 else OrderStatus.OPEN
        average = raw.get("average")
        return ExecutionReport(
            client_order_id=str(raw.get("clientOrderId") or ""),
            status=status,
            exchange_order_id=str(raw["id"]) if raw.get("id") is not None else None,
            filled_qty=filled,
            avg_price=float(average) if isinstance(average, int | float) and average > 0 else None,
            fills=fills,
        )

    async def _fills(self, raw: Mapping[str, Any], symbol: str) -> tuple[BrokerFill, ...]:
        """Every fill of the order; they must add up to its filled quantity, because the ledger
        moves positions by fills: a status without its fills would lose them."""
        filled = _num(raw.get("filled"))
        trades = list(raw.get("trades") or [])
        if not _complete(trades, filled):
            order_id = raw.get("id")

            async def fetch() -> list[dict[str, Any]]:
                found = list(await self._exchange.fetch_order_trades(order_id, symbol))
                if not _complete(found, filled):
                    raise ccxt_errors.BadResponse(
                        f"fills of order {order_id} do not add up to its filled {filled:g}"
                    )
                return found

            trades = await self._with_retries(fetch, "fetch fills")
        fills = []
        for trade in trades:
            fee = trade.get("fee") or {}
            fills.append(
                BrokerFill(
                    trade_id=str(trade["id"]),
                    qty=_num(trade.get("amount")),
                    price=_num(trade.get("price")),
                    fee=_num(fee.get("cost")),
                    fee_asset=str(fee.get("currency") or ""),
                    ts=_num(trade.get("timestamp")) / 1000.0,
                    maker=trade.get("takerOrMaker") == "maker",
                )
            )
        return tuple(fills)


def _rejected(client_order_id: str, reason: str) -> ExecutionReport:
    return ExecutionReport(
        client_order_id=client_order_id,
        status=OrderStatus.REJECTED,
        exchange_order_id=None,
        filled_qty=0.0,
        avg_price=None,
        reason=reason[:500],
    )


def _complete(trades: list[dict[str, Any]], filled: float) -> bool:
    if any(t.get("id") is None for t in trades):
        return False
    return sum(_num(t.get("amount")) for t in trades) >= filled * (1 - 1e-9)


def _any_open(errors: list[BaseException]) -> bool:
    return any(isinstance(error, _AbsentError) for error in errors)


def _describes(raw: Mapping[str, Any], client_order_id: str) -> bool:
    return raw.get("id") is not None and raw.get("clientOrderId") == client_order_id


def _is_duplicate(exc: Exception) -> bool:
    text = str(exc).lower()
    return isinstance(exc, ccxt_errors.DuplicateOrderId) or "duplicate order" in text
