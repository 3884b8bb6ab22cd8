"""The paper venue: accounts, order matching and fees over the simulated market.

It behaves like a spot exchange: balances are checked and locked, market and marketable limit
orders take liquidity from the simulated book level by level, POST_ONLY orders that would
take are rejected, IOC/FOK remainders expire, and resting orders fill at their limit price
once the simulated price trades through them. Client order ids are unique per account.

State lives in memory, or in a JSON file (``state_file``) shared by every process that opens
the same file: an exclusive file lock is held around each operation and the file is replaced
atomically, so the venue outlives the process that placed an order.
"""

from __future__ import annotations

import dataclasses
import fcntl
import json
import math
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np

from cryptosmarttrader.domain.clock import Clock
from cryptosmarttrader.domain.market import BookLevel, MarketSnapshot
from cryptosmarttrader.domain.orders import OrderStatus, OrderType, Side, TimeInForce
from cryptosmarttrader.domain.symbols import Instrument
from cryptosmarttrader.exchanges.broker import BrokerFill
from cryptosmarttrader.exchanges.paper.market import MarketModel

_MAX_LOOKBACK_S = 7 * 86_400.0


class Rejection(StrEnum):
    """Why the venue refused an order (the paper exchange maps each to an API error)."""

    DUPLICATE = "duplicate"
    UNKNOWN_SYMBOL = "unknown_symbol"
    FILTER = "filter"
    NO_MARKET = "no_market"
    WOULD_TAKE = "would_take"
    INSUFFICIENT_BALANCE = "insufficient_balance"


@dataclass
class Balance:
    free: float = 0.0
    locked: float = 0.0


@dataclass
class VenueOrder:
    client_order_id: str
    exchange_order_id: str
    symbol: str
    side: Side
    order_type: OrderType
    time_in_force: TimeInForce
    qty: float
    price: float | None
    status: OrderStatus
    created_ts: float
    checked_ts: float
    filled_qty: float = 0.0
    cost: float = 0.0
    fee: float = 0.0
    locked: float = 0.0
    reason: str | None = None
    rejection: Rejection | None = None
    fills: list[BrokerFill] = field(default_factory=list)

    @property
    def remaining(self) -> float:
        return max(self.qty - self.filled_qty, 0.0)

    @property
    def avg_price(self) -> float | None:
        return self.cost / self.filled_qty if self.filled_qty > 0 else None


@dataclass
class _State:
    balances: dict[str, Balance]
    orders: dict[str, VenueOrder] = field(default_factory=dict)
    next_order_id: int = 1
    next_trade_id: int = 1
    resting: set[str] = field(default_factory=set)
    """Client ids of orders that are on the book (kept so matching never scans history)."""
    synced_at: float = float("-inf")


class PaperVenue:
    def __init__(
        self,
        market: MarketModel,
        clock: Clock,
        *,
        initial_balances: dict[str, float] | None = None,
        fee_rate: float = 0.001,
        state_file: Path | None = None,
    ) -> None:
        self.market = market
        self.clock = clock
        self.fee_rate = fee_rate
        self._instruments = market.instruments()
        self._initial = dict(initial_balances or {"USDT": 10_000.0})
        self._state = self._fresh_state()
        self._state_file = state_file
        self._file_stamp: tuple[int, int] | None = None
        self._lock = threading.RLock()

    def _fresh_state(self) -> _State:
        return _State(balances={asset: Balance(free=qty) for asset, qty in self._initial.items()})

    def instruments(self) -> dict[str, Instrument]:
        return dict(self._instruments)

    # --- persistence -------------------------------------------------------------------
    @contextmanager
    def _session(self) -> Iterator[_State]:
        with self._lock:
            if self._state_file is None:
                self._sync(self._state)
                yield self._state
                return
            self._state_file.parent.mkdir(parents=True, exist_ok=True)
            lock_path = self._state_file.with_suffix(self._state_file.suffix + ".lock")
            with lock_path.open("a") as lock_handle:
                fcntl.flock(lock_handle, fcntl.LOCK_EX)
                try:
                    self._reload_if_changed()
                    self._sync(self._state)
                    yield self._state
                    self._save()
                finally:
                    fcntl.flock(lock_handle, fcntl.LOCK_UN)

    def _stamp(self) -> tuple[int, int] | None:
        assert self._state_file is not None
        try:
            stat = self._state_file.stat()
        except FileNotFoundError:
            return None
        return stat.st_mtime_ns, stat.st_size

    def _reload_if_changed(self) -> None:
        assert self._state_file is not None
        stamp = self._stamp()
        if stamp is None:
            self._state = self._fresh_state()
        elif stamp != self._file_stamp:
            self._state = _decode_state(json.loads(self._state_file.read_text(encoding="utf-8")))
        self._file_stamp = stamp

    def _save(self) -> None:
        assert self._state_file is not None
        tmp = self._state_file.with_suffix(self._state_file.suffix + ".tmp")
        tmp.write_text(json.dumps(_encode_state(self._state)), encoding="utf-8")
        os.replace(tmp, self._state_file)
        self._file_stamp = self._stamp()

    # --- public operations -------------------------------------------------------------
    def submit(
        self,
        *,
        client_order_id: str,
        symbol: str,
        side: Side,
        order_type: OrderType,
        time_in_force: TimeInForce,
        qty: float,
        price: float | None,
    ) -> VenueOrder:
        now = self.clock.now()
        with self._session() as state:
            existing = state.orders.get(client_order_id)
            order = VenueOrder(
                client_order_id=client_order_id,
                exchange_order_id=str(state.next_order_id),
                symbol=symbol,
                side=side,
                order_type=order_type,
                time_in_force=time_in_force,
                qty=qty,
                price=price,
                status=OrderStatus.NEW,
                created_ts=now,
                checked_ts=now,
            )
            if existing is not None:
                _reject(order, Rejection.DUPLICATE, "duplicate client order id")
                return order
            self._accept(state, order, now)
            if order.status is OrderStatus.REJECTED:
                return order  # as on a real exchange, a rejected order leaves no trace
            state.next_order_id += 1
            state.orders[client_order_id] = order
            return dataclasses.replace(order, fills=list(order.fills))

    def order(self, client_order_id: str) -> VenueOrder | None:
        with self._session() as state:
            order = state.orders.get(client_order_id)
            return None if order is None else dataclasses.replace(order, fills=list(order.fills))

    def order_by_exchange_id(self, exchange_order_id: str) -> VenueOrder | None:
        with self._session() as state:
            for order in state.orders.values():
                if order.exchange_order_id == exchange_order_id:
                    return dataclasses.replace(order, fills=list(order.fills))
            return None

    def all_orders(self) -> list[VenueOrder]:
        """Every order the venue kept (rejected ones leave no trace), oldest first."""
        with self._session() as state:
            return [
                dataclasses.replace(order, fills=list(order.fills))
                for order in sorted(state.orders.values(), key=lambda o: int(o.exchange_order_id))
            ]

    def cancel(self, client_order_id: str) -> VenueOrder | None:
        with self._session() as state:
            order = state.orders.get(client_order_id)
            if order is None:
                return None
            if not order.status.is_final:
                self._release(state, order)
                order.status = OrderStatus.CANCELED
                state.resting.discard(client_order_id)
            return dataclasses.replace(order, fills=list(order.fills))

    def open_orders(self) -> list[VenueOrder]:
        with self._session() as state:
            return [
                dataclasses.replace(state.orders[coid], fills=list(state.orders[coid].fills))
                for coid in sorted(
                    state.resting, key=lambda c: int(state.orders[c].exchange_order_id)
                )
            ]

    def balances(self) -> dict[str, Balance]:
        with self._session() as state:
            return {asset: Balance(b.free, b.locked) for asset, b in state.balances.items()}

    # --- matching ----------------------------------------------------------------------
    def _accept(self, state: _State, order: VenueOrder, now: float) -> None:
        instrument = self._instruments.get(order.symbol)
        if instrument is None:
            _reject(order, Rejection.UNKNOWN_SYMBOL, f"unknown symbol {order.symbol}")
            return
        problem = _filter_problem(order, instrument)
        if problem is not None:
            _reject(order, Rejection.FILTER, problem)
            return
        snapshot = self.market.snapshot(order.symbol, now)
        if snapshot is None:
            _reject(order, Rejection.NO_MARKET, "no market")
            return
        takeable = _takeable_levels(order, snapshot)
        crosses = bool(takeable) if order.order_type is OrderType.LIMIT else True
        if order.time_in_force is TimeInForce.POST_ONLY and crosses:
            _reject(order, Rejection.WOULD_TAKE, "order would immediately match and take")
            return
        if order.time_in_force is TimeInForce.FOK and _available(takeable) < order.qty:
            order.status = OrderStatus.EXPIRED
            order.reason = "fill or kill: not enough liquidity"
            return
        problem = self._funds_problem(state, order, instrument, takeable)
        if problem is not None:
            _reject(order, Rejection.INSUFFICIENT_BALANCE, problem)
            return
        self._take(state, order, instrument, takeable, now)
        if order.remaining <= 0:
            order.status = OrderStatus.FILLED
        elif order.order_type is OrderType.MARKET or order.time_in_force in (
            TimeInForce.IOC,
            TimeInForce.FOK,
        ):
            order.status = OrderStatus.EXPIRED
        else:
            self._rest(state, order, instrument)

    def _funds_problem(
        self,
        state: _State,
        order: VenueOrder,
        instrument: Instrument,
        takeable: list[BookLevel],
    ) -> str | None:
        if order.side is Side.BUY:
            if order.price is not None:
                needed = order.qty * order.price * (1 + self.fee_rate)
            else:
                needed = _cost_of(takeable, order.qty) * (1 + self.fee_rate)
            have = state.balances.get(instrument.quote, Balance()).free
            asset = instrument.quote
        else:
            needed = order.qty
            have = state.balances.get(instrument.base, Balance()).free
            asset = instrument.base
        if have + 1e-12 < needed:
            return f"insufficient balance: need {needed:.8g} {asset}, have {have:.8g}"
        return None

    def _take(
        self,
        state: _State,
        order: VenueOrder,
        instrument: Instrument,
        takeable: list[BookLevel],
        now: float,
    ) -> None:
        for price, level_qty in takeable:
            qty = min(level_qty, order.remaining)
            if qty <= 0:
                break
            self._fill(state, order, instrument, qty, price, now, from_locked=False)

    def _rest(self, state: _State, order: VenueOrder, instrument: Instrument) -> None:
        assert order.price is not None
        order.status = OrderStatus.PARTIALLY_FILLED if order.filled_qty > 0 else OrderStatus.OPEN
        if order.side is Side.BUY:
            order.locked = order.remaining * order.price * (1 + self.fee_rate)
            balance = state.balances.setdefault(instrument.quote, Balance())
        else:
            order.locked = order.remaining
            balance = state.balances.setdefault(instrument.base, Balance())
        balance.free -= order.locked
        balance.locked += order.locked
        state.resting.add(order.client_order_id)

    def _release(self, state: _State, order: VenueOrder) -> None:
        instrument = self._instruments[order.symbol]
        asset = instrument.quote if order.side is Side.BUY else instrument.base
        balance = state.balances.setdefault(asset, Balance())
        balance.locked -= order.locked
        balance.free += order.locked
        order.locked = 0.0

    def _fill(
        self,
        state: _State,
        order: VenueOrder,
        instrument: Instrument,
        qty: float,
        price: float,
        now: float,
        *,
        from_locked: bool,
    ) -> None:
        notional = qty * price
        fee = notional * self.fee_rate
        base = state.balances.setdefault(instrument.base, Balance())
        quote = state.balances.setdefault(instrument.quote, Balance())
        if order.side is Side.BUY:
            if from_locked:
                release = min(order.locked, notional + fee)
                quote.locked -= release
                order.locked -= release
                quote.free += release - (notional + fee)
            else:
                quote.free -= notional + fee
            base.free += qty
        else:
            if from_locked:
                base.locked -= qty
                order.locked -= qty
            else:
                base.free -= qty
            quote.free += notional - fee
        order.filled_qty += qty
        if order.qty - order.filled_qty <= order.qty * 1e-9:
            order.filled_qty = order.qty  # float residue of summing level quantities
        order.cost += notional
        order.fee += fee
        order.fills.append(
            BrokerFill(
                trade_id=str(state.next_trade_id),
                qty=qty,
                price=price,
                fee=fee,
                fee_asset=instrument.quote,
                ts=now,
                maker=from_locked,
            )
        )
        state.next_trade_id += 1

    def _sync(self, state: _State) -> None:
        """Fill resting orders the traded price has moved through since they were last checked.

        Each second the price spends beyond an order's limit fills it by at most the market's
        per-second trade capacity, so large orders fill partially, at their limit price.
        """
        now = self.clock.now()
        if now < state.synced_at + 1.0:
            return  # prices move once a second: one pass per second sees every move
        state.synced_at = now
        for coid in sorted(state.resting, key=lambda c: int(state.orders[c].exchange_order_id)):
            order = state.orders[coid]
            first = max(order.checked_ts + 1.0, now - _MAX_LOOKBACK_S)
            if now < first:
                continue
            assert order.price is not None
            seconds = np.arange(math.floor(first), math.floor(now) + 1, dtype=np.float64)
            traded = self.market.prices(order.symbol, seconds)
            beyond = traded < order.price if order.side is Side.BUY else traded > order.price
            through = int(np.count_nonzero(beyond))
            order.checked_ts = now
            if through == 0:
                continue
            instrument = self._instruments[order.symbol]
            capacity = through * self.market.trade_capacity_quote(order.symbol) / order.price
            qty = min(order.remaining, max(instrument.qty_step, instrument.floor_qty(capacity)))
            self._fill(state, order, instrument, qty, order.price, now, from_locked=True)
            if order.remaining > 0:
                order.status = OrderStatus.PARTIALLY_FILLED
                continue
            order.status = OrderStatus.FILLED
            self._release(state, order)
            state.resting.discard(coid)


def _reject(order: VenueOrder, kind: Rejection, reason: str) -> None:
    order.status = OrderStatus.REJECTED
    order.rejection = kind
    order.reason = reason


def _filter_problem(order: VenueOrder, instrument: Instrument) -> str | None:
    if order.qty < instrument.min_qty or not instrument.qty_on_step(order.qty):
        return f"filter failure: quantity {order.qty} off the lot step {instrument.qty_step}"
    if order.order_type is OrderType.LIMIT:
        if order.price is None or not instrument.price_on_tick(order.price):
            return f"filter failure: price {order.price} off the tick {instrument.price_tick}"
        if order.qty * order.price < instrument.min_notional:
            return f"filter failure: notional below {instrument.min_notional}"
    return None


def _takeable_levels(order: VenueOrder, snapshot: MarketSnapshot) -> list[BookLevel]:
    levels = snapshot.levels_taken_by(order.side)
    if order.price is None:
        return list(levels)
    if order.side is Side.BUY:
        return [level for level in levels if level[0] <= order.price]
    return [level for level in levels if level[0] >= order.price]


def _available(levels: list[BookLevel]) -> float:
    return sum(qty for _, qty in levels)


def _cost_of(levels: list[BookLevel], qty: float) -> float:
    cost = 0.0
    remaining = qty
    for price, level_qty in levels:
        take = min(level_qty, remaining)
        cost += take * price
        remaining -= take
        if remaining <= 0:
            break
    return cost


def _encode_state(state: _State) -> dict[str, Any]:
    return {
        "balances": {k: dataclasses.asdict(v) for k, v in state.balances.items()},
        "orders": [dataclasses.asdict(o) for o in state.orders.values()],
        "next_order_id": state.next_order_id,
        "next_trade_id": state.next_trade_id,
    }


def _decode_state(data: dict[str, Any]) -> _State:
    orders: dict[str, VenueOrder] = {}
    for raw in data["orders"]:
        raw = dict(raw)
        raw["side"] = Side(raw["side"])
        raw["order_type"] = OrderType(raw["order_type"])
        raw["time_in_force"] = TimeInForce(raw["time_in_force"])
        raw["status"] = OrderStatus(raw["status"])
        raw["rejection"] = None
        raw["fills"] = [BrokerFill(**fill) for fill in raw["fills"]]
        order = VenueOrder(**raw)
        orders[order.client_order_id] = order
    return _State(
        balances={k: Balance(**v) for k, v in data["balances"].items()},
        orders=orders,
        next_order_id=int(data["next_order_id"]),
        next_trade_id=int(data["next_trade_id"]),
        resting={c for c, o in orders.items() if not o.status.is_final},
    )
