"""Throughput of the order-safety core.

* decisions/s: the 15 gates (validation, 8 RiskGuard gates, 7 ExecutionPolicy gates) evaluated
  in-process on a realistic portfolio, for an order that passes every gate (the longest path)
  and for a mix of approvals, reductions and rejections. Goal: >= 100,000/s.
* submits/s: ``OrderGateway.submit()`` end to end (market snapshot, gates, the decision and the
  order written to SQLite before the venue call, the paper venue, the outcome written after).
  Goal: >= 5,000/s with SQLite persistence. Also reported with synchronous=FULL and, when a
  server answers, on PostgreSQL.

Run: ``python bench/bench_gates.py`` (``--quick`` for a short run). Prints a table.
"""

from __future__ import annotations

import argparse
import os
import platform
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import psycopg

from cryptosmarttrader.config.limits import ExecutionLimits, RiskLimits
from cryptosmarttrader.config.settings import PaperSettings, explicit_settings
from cryptosmarttrader.data.correlation import RollingCorrelationProvider
from cryptosmarttrader.domain.clock import ManualClock
from cryptosmarttrader.domain.kill_switch import KILL_SWITCH_OFF
from cryptosmarttrader.domain.orders import OrderIntent, Side, TimeInForce
from cryptosmarttrader.domain.portfolio import PortfolioState, SymbolExposure
from cryptosmarttrader.exchanges.paper.market import SimulatedMarket
from cryptosmarttrader.execution.evaluation import OrderEvaluator
from cryptosmarttrader.execution.policy import ExecutionPolicy
from cryptosmarttrader.observability.logging import configure_logging
from cryptosmarttrader.risk.guard import RiskGuard
from cryptosmarttrader.runtime.system import TradingSystem

T0 = 1_767_614_400.0
MARKET = SimulatedMarket(7)
HELD = ("ETH/USDT", "SOL/USDT", "XRP/USDT", "PAXG/USDT", "DOGE/USDT")
POSTGRES_ADMIN = os.environ.get(
    "CST_TEST_POSTGRES_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


def best_rate(run: Callable[[], int], repeats: int) -> float:
    """Operations per second of the fastest of ``repeats`` runs (the least disturbed one)."""
    best = 0.0
    for _ in range(repeats):
        start = time.perf_counter()
        operations = run()
        best = max(best, operations / (time.perf_counter() - start))
    return best


def portfolio() -> PortfolioState:
    exposures = {}
    for symbol in HELD:
        snap = MARKET.snapshot(symbol, T0)
        assert snap is not None
        qty = MARKET.instruments()[symbol].floor_qty(700.0 / snap.mid)
        exposures[symbol] = SymbolExposure(symbol, qty, 0.0, 0.0, snap.mid, T0)
    return PortfolioState.build(
        equity=10_000.0,
        cash=6_500.0,
        start_of_day_equity=10_100.0,
        peak_equity=10_400.0,
        exposures=exposures,
        as_of=T0,
    )


def intents() -> dict[str, OrderIntent]:
    btc = MARKET.snapshot("BTC/USDT", T0)
    bnb = MARKET.snapshot("BNB/USDT", T0)
    assert btc is not None
    assert bnb is not None
    return {
        "approve": OrderIntent("BNB/USDT", Side.BUY, 0.5, price=bnb.bid),
        "reduce": OrderIntent(
            "BNB/USDT", Side.BUY, 5.0, price=bnb.ask, time_in_force=TimeInForce.IOC
        ),
        "reject (risk)": OrderIntent("BTC/USDT", Side.BUY, 1.0, price=btc.bid),
        "reject (policy)": OrderIntent("BNB/USDT", Side.BUY, 0.5, price=bnb.ask),
    }


def bench_decisions(count: int, repeats: int) -> list[tuple[str, float]]:
    correlations = RollingCorrelationProvider(MARKET)
    evaluator = OrderEvaluator(
        RiskGuard(RiskLimits(), correlations), ExecutionPolicy(ExecutionLimits())
    )
    state = portfolio()
    instruments = MARKET.instruments()
    orders = intents()
    snapshots = {o.symbol: MARKET.snapshot(o.symbol, T0) for o in orders.values()}

    def not_taken(_: str) -> bool:
        return False

    def evaluate(order: OrderIntent) -> str:
        decision = evaluator.evaluate(
            order,
            instrument=instruments[order.symbol],
            snapshot=snapshots[order.symbol],
            portfolio=state,
            kill_switch=KILL_SWITCH_OFF,
            now=T0,
            id_taken=not_taken,
        ).decision
        return f"{decision.verdict.value} {decision.gate.value if decision.gate else '-'}"

    for name, order in orders.items():
        print(f"  {name:16} -> {evaluate(order)}", file=sys.stderr)

    results = []
    approve = orders["approve"]
    mix = list(orders.values())

    def approve_only() -> int:
        for _ in range(count):
            evaluate(approve)
        return count

    def mixed() -> int:
        for i in range(count):
            evaluate(mix[i & 3])
        return count

    results.append(("decisions/s, approve (all 15 gates)", best_rate(approve_only, repeats)))
    results.append(("decisions/s, mix of 4 outcomes", best_rate(mixed, repeats)))
    return results


def bench_gateway(
    label: str, db_url: str, home: Path, count: int, **extra: object
) -> tuple[str, float]:
    settings = explicit_settings(
        home=home,
        database_url=db_url,
        paper=PaperSettings(quote_balance=1e9),
        **extra,
    )
    clock = ManualClock(T0)
    symbols = ("BTC/USDT", "ETH/USDT", "SOL/USDT", "BNB/USDT", "XRP/USDT")
    with TradingSystem.open(
        settings, clock=clock, market=MARKET, persist_paper_venue=False
    ) as system:
        gateway = system.gateway
        gateway.start()
        bids = {}
        for symbol in symbols:
            snap = MARKET.snapshot(symbol, T0)
            assert snap is not None
            bids[symbol] = snap.bid
        instruments = MARKET.instruments()
        quantities = {s: instruments[s].floor_qty(500.0 / bids[s]) for s in symbols}
        sequence = [0]

        def submit_batch() -> int:
            for _ in range(count):
                n = sequence[0]
                sequence[0] += 1
                symbol = symbols[n % len(symbols)]
                result = gateway.submit(
                    OrderIntent(
                        symbol, Side.BUY, quantities[symbol], price=bids[symbol], signal_id=f"b{n}"
                    )
                )
                if result.status is None:
                    raise RuntimeError(f"benchmark order refused: {result.decision.message}")
            return count

        rate = best_rate(submit_batch, 3)
    return label, rate


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{cpu}, {os.cpu_count()} cores, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short run (CI smoke)")
    args = parser.parse_args()
    decisions = 20_000 if args.quick else 200_000
    submits = 500 if args.quick else 5_000

    with tempfile.TemporaryDirectory() as tmp:
        configure_logging(Path(tmp) / "bench.jsonl", "INFO")
        print("decision paths:", file=sys.stderr)
        rows = bench_decisions(decisions, 3 if args.quick else 5)
        rows.append(
            bench_gateway(
                "submits/s, SQLite (WAL, synchronous=NORMAL)",
                f"sqlite:///{tmp}/a.sqlite",
                Path(tmp) / "a",
                submits,
            )
        )
        rows.append(
            bench_gateway(
                "submits/s, SQLite (WAL, synchronous=FULL)",
                f"sqlite:///{tmp}/b.sqlite",
                Path(tmp) / "b",
                submits,
                sqlite_synchronous="FULL",
            )
        )
        try:
            name = f"cst_bench_{os.getpid()}"
            with psycopg.connect(POSTGRES_ADMIN, autocommit=True, connect_timeout=3) as admin:
                admin.execute(f'CREATE DATABASE "{name}"')
            base = POSTGRES_ADMIN.rsplit("/", 1)[0].replace(
                "postgresql://", "postgresql+psycopg://"
            )
            try:
                rows.append(
                    bench_gateway(
                        "submits/s, PostgreSQL (synchronous_commit=on)",
                        f"{base}/{name}",
                        Path(tmp) / "c",
                        max(200, submits // 5),
                    )
                )
            finally:
                with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as admin:
                    admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        except psycopg.OperationalError as exc:
            print(f"PostgreSQL skipped: {exc}", file=sys.stderr)

    goals = {
        "decisions/s, approve": 100_000.0,
        "decisions/s, mix": 100_000.0,
        "submits/s, SQLite (WAL, synchronous=NORMAL)": 5_000.0,
    }
    print(f"machine: {machine()}")
    print(f"date:    {datetime.now(UTC):%Y-%m-%d %H:%M} UTC{' (quick)' if args.quick else ''}")
    print()
    print(f"| {'measurement':48} | {'result':>10} | {'goal':>10} |")
    print(f"|{'-' * 50}|{'-' * 11}:|{'-' * 11}:|")
    for label, rate in rows:
        goal = next((g for prefix, g in goals.items() if label.startswith(prefix)), None)
        shown_goal = f">= {goal:,.0f}" if goal else "-"
        mark = "" if goal is None else (" ok" if rate >= goal else " MISSED")
        print(f"| {label:48} | {rate:>10,.0f} | {shown_goal:>10} |{mark}")


if __name__ == "__main__":
    main()
