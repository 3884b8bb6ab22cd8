"""A scripted, reproducible session on the simulated market that exercises every kind of gate.

It runs the real system (gateway, RiskGuard, ExecutionPolicy, SQLite, paper venue) on a
simulated clock starting 2026-01-05 12:00 UTC, with two scripted market drops, so every run
gives the same decisions. It always uses the embedded defaults in its own directory, whatever
``CST_*`` variables say, so it can never touch the user's real database.
"""

from __future__ import annotations

import math
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cryptosmarttrader.config.settings import Settings, explicit_settings
from cryptosmarttrader.domain.clock import ManualClock
from cryptosmarttrader.domain.kill_switch import KillSwitchState
from cryptosmarttrader.domain.market import MarketSnapshot
from cryptosmarttrader.domain.orders import OrderIntent, OrderType, Side, TimeInForce
from cryptosmarttrader.exchanges.paper.market import PriceShock, SimulatedFeed, SimulatedMarket
from cryptosmarttrader.execution.gateway import PortfolioSnapshot, SubmitResult
from cryptosmarttrader.runtime.system import TradingSystem

DEMO_START = 1_767_614_400.0  # 2026-01-05T12:00:00Z
FIRST_DROP = DEMO_START + 600
SECOND_DROP = DEMO_START + 1200
_CRASHING = ("BTC/USDT", "ETH/USDT", "SOL/USDT")


@dataclass(frozen=True, slots=True)
class DemoStep:
    number: int
    title: str
    at: float
    result: SubmitResult | None = None
    note: str | None = None
    """What happened, for steps that are not an order (kill switch, venue fills)."""


@dataclass(frozen=True, slots=True)
class DemoReport:
    home: Path
    database_url: str
    log_file: Path
    steps: tuple[DemoStep, ...]
    portfolio: PortfolioSnapshot
    kill_switch: KillSwitchState


def demo_settings(home: Path) -> Settings:
    """Embedded defaults in ``home``; ``CST_*`` variables and config files are ignored."""
    return explicit_settings(home=home)


class _LaggingFeed:
    """The simulated feed, optionally serving data that is ``lag_s`` seconds old."""

    def __init__(self, feed: SimulatedFeed) -> None:
        self._feed = feed
        self.lag_s = 0.0

    def snapshot(self, symbol: str) -> MarketSnapshot | None:
        now = self._feed.clock.now()
        return self._feed.market.snapshot(symbol, now - self.lag_s)


def run_demo(home: Path, on_step: Callable[[DemoStep], None] | None = None) -> DemoReport:
    """Run the scripted session in ``home`` (wiped first) and return what happened."""
    if home.exists():
        shutil.rmtree(home)
    home.mkdir(parents=True)
    settings = demo_settings(home)
    clock = ManualClock(DEMO_START)
    shocks = [PriceShock(FIRST_DROP, -0.20, s) for s in _CRASHING] + [
        PriceShock(SECOND_DROP, -0.15, s) for s in _CRASHING
    ]
    market = SimulatedMarket(settings.paper.seed, shocks=shocks)
    feed = _LaggingFeed(SimulatedFeed(market, clock))
    steps: list[DemoStep] = []

    with TradingSystem.open(settings, clock=clock, market=market, market_data=feed) as system:
        gateway = system.gateway
        instruments = market.instruments()

        def touch(symbol: str, side: Side) -> float:
            """The price a buy (ask) or sell (bid) would take right now."""
            snapshot = market.snapshot(symbol, clock.now())
            assert snapshot is not None
            return snapshot.ask if side is Side.BUY else snapshot.bid

        def record(title: str, *, result: SubmitResult | None = None, note: str = "") -> None:
            step = DemoStep(len(steps) + 1, title, clock.now(), result, note or None)
            steps.append(step)
            if on_step is not None:
                on_step(step)

        def order(title: str, intent: Callable[[], OrderIntent], advance: float = 5.0) -> None:
            clock.advance(advance)
            record(title, result=gateway.submit(intent()))

        def ioc(symbol: str, side: Side, qty: float, *, reduce_only: bool = False) -> OrderIntent:
            return OrderIntent(
                symbol,
                side,
                qty,
                price=touch(symbol, side),
                time_in_force=TimeInForce.IOC,
                reduce_only=reduce_only,
            )

        def kill_switch_note(state: KillSwitchState) -> str:
            return f"kill switch {'ON' if state.active else 'off'}: {state.reason} ({state.actor})"

        first_bid = OrderIntent(
            "BTC/USDT", Side.BUY, 0.005, price=touch("BTC/USDT", Side.SELL), signal_id="demo-1"
        )
        order("Post-only bid on BTC, resting at the best bid", lambda: first_bid, advance=0)
        order("Take ETH with an immediate-or-cancel limit", lambda: ioc("ETH/USDT", Side.BUY, 0.5))
        order("Oversized SOL order (20% position limit)", lambda: ioc("SOL/USDT", Side.BUY, 20))
        order("More BTC while ETH and SOL are held", lambda: ioc("BTC/USDT", Side.BUY, 0.05))
        order("Gold token, uncorrelated with crypto", lambda: ioc("PAXG/USDT", Side.BUY, 0.5))
        order("Thin market with a wide spread", lambda: ioc("MEME/USDT", Side.BUY, 50_000))
        order(
            "Market order (disabled by default)",
            lambda: OrderIntent("BTC/USDT", Side.BUY, 0.001, order_type=OrderType.MARKET),
        )
        order(
            "Post-only buy at the ask",
            lambda: OrderIntent("BTC/USDT", Side.BUY, 0.001, price=touch("BTC/USDT", Side.BUY)),
        )
        order(
            "Limit 10% below the market",
            lambda: OrderIntent(
                "BTC/USDT",
                Side.BUY,
                0.001,
                price=instruments["BTC/USDT"].floor_price(touch("BTC/USDT", Side.SELL) * 0.9),
                time_in_force=TimeInForce.GTC,
            ),
        )
        order("Retry of the first order (same intent, same id)", lambda: first_bid)
        order(
            "Malformed quantity (NaN)",
            lambda: OrderIntent("ETH/USDT", Side.BUY, math.nan, price=3000.0),
        )
        order(
            "Symbol the venue does not list",
            lambda: OrderIntent("LUNA/USDT", Side.BUY, 1.0, price=1.0),
        )
        feed.lag_s = 120.0
        order("Feed lagging by two minutes", lambda: ioc("PAXG/USDT", Side.BUY, 0.1))
        feed.lag_s = 0.0
        order(
            "Take profit on part of ETH (reduce-only)",
            lambda: ioc("ETH/USDT", Side.SELL, 0.2, reduce_only=True),
        )
        order(
            "Reduce-only sell of BNB, which is not held",
            lambda: ioc("BNB/USDT", Side.SELL, 1.0, reduce_only=True),
        )
        clock.advance(5)
        state, _ = system.kill_switch.activate("demo: operator stops trading", "operator")
        record("Operator activates the kill switch", note=kill_switch_note(state))
        order("Any order while the kill switch is active", lambda: ioc("PAXG/USDT", Side.BUY, 0.1))
        clock.advance(5)
        state, _ = system.kill_switch.deactivate("operator", "demo: resume")
        record("Operator deactivates the kill switch", note=kill_switch_note(state))

        clock.set(FIRST_DROP + 60)
        synced = gateway.reconcile()
        record(
            "BTC, ETH and SOL drop 20%: the venue reports fills",
            note="; ".join(f"{c.symbol} {c.after} {c.filled_qty:g}" for c in synced.changed)
            or "no resting order filled",
        )
        order("After the drop: buy more SOL", lambda: ioc("SOL/USDT", Side.BUY, 1.0), advance=0)
        order(
            "After the drop: cut SOL (reduce-only)",
            lambda: ioc("SOL/USDT", Side.SELL, 2.0, reduce_only=True),
        )
        clock.set(SECOND_DROP + 60)
        order(
            "A further drop: the loss reaches the kill threshold",
            lambda: ioc("SOL/USDT", Side.SELL, 2.0),
            advance=0,
        )
        order("The next order, after the automatic kill", lambda: ioc("PAXG/USDT", Side.SELL, 0.1))

        portfolio = gateway.portfolio()
        kill_switch = system.kill_switch.status()
    return DemoReport(
        home=home,
        database_url=settings.resolved_database_url,
        log_file=settings.log_file,
        steps=tuple(steps),
        portfolio=portfolio,
        kill_switch=kill_switch,
    )
