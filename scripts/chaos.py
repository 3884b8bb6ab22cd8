"""Crash a trading process with SIGKILL around ``place()``, restart it, and check that the
exchange's orders and the database's orders still match one to one, with no duplicates.

    python scripts/chaos.py --iterations 200            # the figure in docs/reliability.md
    python scripts/chaos.py --iterations 20 --json      # what the test suite runs

Each iteration starts a fresh trading process against one paper exchange (real HTTP, the
real ccxt client) and one database. The process starts its gateway (which reconciles what
the previous process left behind), re-sends the previous iteration's order (which must be
refused as a duplicate), sends a new one, and is killed at a random point:

* ``before_send``: the order is written down (PENDING_SUBMIT) but never sent;
* ``after_send``: the exchange has the order, the answer is on its way (the exchange delays
  it, the process kills itself once the order shows up there);
* ``after_response``: the answer arrived but was not written down;
* ``none``: no crash.

At the end the harness cancels the orders still resting on the exchange (so that nothing moves
while both sides are compared), a last process reconciles (waiting for orders too young to
close), and the harness compares both sides. Exit status 0 when every check holds, else 1.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from cryptosmarttrader.config.settings import Settings, VenueSettings, explicit_settings
from cryptosmarttrader.domain.orders import OrderIntent, Side, TimeInForce
from cryptosmarttrader.exchanges.broker import (
    Broker,
    ExecutionReport,
    VenueOpenOrder,
)
from cryptosmarttrader.runtime.system import TradingSystem

POINTS = ("before_send", "after_send", "after_response", "none")
SYMBOLS = ("BTC/USDT", "ETH/USDT", "SOL/USDT", "BNB/USDT", "XRP/USDT")
TICKS = {"BTC/USDT": 0.01, "ETH/USDT": 0.01, "SOL/USDT": 0.01, "BNB/USDT": 0.01, "XRP/USDT": 0.0001}
STEPS = {
    "BTC/USDT": 0.00001,
    "ETH/USDT": 0.0001,
    "SOL/USDT": 0.001,
    "BNB/USDT": 0.001,
    "XRP/USDT": 0.1,
}
WINDOWS = {
    "timeout_s": 2.0,
    "create_attempts": 2,
    "recv_window_s": 1.0,
    "send_window_s": 2.0,
    "clock_margin_s": 0.5,
    "client_throttle": False,  # the paper exchange enforces its own weight limit
}


def client_order_id(iteration: int) -> str:
    return f"cst{iteration:015x}"


def settings_for(home: Path, database_url: str, exchange_url: str) -> Settings:
    return explicit_settings(
        home=home,
        database_url=database_url,
        venue="paper-exchange",
        exchange=VenueSettings(paper_exchange_url=exchange_url, **WINDOWS),
    )


# --- the trading process ------------------------------------------------------------------
class CrashingBroker:
    """Delegates to the real broker and kills this process at the chosen point."""

    def __init__(self, inner: Broker, point: str, exchange_url: str) -> None:
        self._inner = inner
        self._point = point
        self._url = exchange_url
        self.venue = inner.venue
        self.absent_final_after_s = inner.absent_final_after_s

    def instruments(self) -> Any:
        return self._inner.instruments()

    def balances(self) -> Any:
        return self._inner.balances()

    def fetch_order(self, symbol: str, client_order_id: str) -> ExecutionReport | None:
        return self._inner.fetch_order(symbol, client_order_id)

    def cancel(self, symbol: str, client_order_id: str) -> ExecutionReport:
        return self._inner.cancel(symbol, client_order_id)

    def open_orders(self) -> list[VenueOpenOrder]:
        return self._inner.open_orders()

    def close(self) -> None:
        self._inner.close()

    def place(self, order: Any) -> ExecutionReport:
        if self._point == "before_send":
            _die()
        if self._point == "after_send":
            watcher = threading.Thread(
                target=self._die_once_on_venue, args=(order.client_order_id,), daemon=True
            )
            watcher.start()
        report = self._inner.place(order)
        if self._point == "after_response":
            _die()
        return report

    def _die_once_on_venue(self, coid: str) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if any(o["client_order_id"] == coid for o in _get(self._url, "/_paper/orders")):
                _die()
            time.sleep(0.01)


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _get(url: str, path: str) -> Any:
    with urllib.request.urlopen(f"{url}{path}", timeout=10) as response:  # noqa: S310 - loopback
        return json.loads(response.read())


def _intent(system: TradingSystem, iteration: int, kind: str) -> OrderIntent:
    """About 20 USDT of one of five symbols: a taking IOC buy or a resting bid."""
    symbol = SYMBOLS[iteration % len(SYMBOLS)]
    snapshot = system.market_data.snapshot(symbol)
    if snapshot is None:
        raise RuntimeError(f"no market data for {symbol}")
    tick, step = TICKS[symbol], STEPS[symbol]
    qty = round(max(20.0 / snapshot.mid // step, 1) * step, 8)
    if kind == "taker":
        price = round(round(snapshot.ask * 1.003 / tick) * tick, 8)
        tif: TimeInForce | None = TimeInForce.IOC
    else:
        price = round(round(snapshot.bid * 0.9995 / tick) * tick, 8)
        tif = None
    return OrderIntent(
        symbol,
        Side.BUY,
        qty,
        price=price,
        time_in_force=tif,
        client_order_id=client_order_id(iteration),
    )


def run_child(args: argparse.Namespace) -> int:
    settings = settings_for(Path(args.home), args.database_url, args.url)
    point = args.crash_at

    def wrap(broker: Broker) -> Broker:
        return CrashingBroker(broker, point, args.url)

    with TradingSystem.open(settings, wrap_broker=wrap) as system:
        report = system.gateway.start(wait_s=args.wait)
        out: dict[str, Any] = {"reconcile": report.to_dict()}
        if args.iteration > 0:
            # The previous order again: whatever happened to it, the id makes it a duplicate.
            again = system.gateway.submit(_intent(system, args.iteration - 1, args.kind))
            out["resend"] = again.decision.code.value
        # Said before the order that may kill this process, so the harness always hears it.
        print(json.dumps(out), flush=True)
        if args.iteration >= 0:
            result = system.gateway.submit(_intent(system, args.iteration, args.kind))
            print(json.dumps({**out, "result": result.status_label}), flush=True)
    return 0


# --- the harness --------------------------------------------------------------------------
def _child(
    home: Path, database_url: str, url: str, *, iteration: int, point: str, kind: str, wait: float
) -> tuple[int, dict[str, Any] | None]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(ROOT), str(ROOT / "src"), env.get("PYTHONPATH")) if p
    )
    completed = subprocess.run(
        [
            sys.executable,
            str(Path(__file__).resolve()),
            "child",
            "--home",
            str(home),
            "--database-url",
            database_url,
            "--url",
            url,
            "--iteration",
            str(iteration),
            "--crash-at",
            point,
            "--kind",
            kind,
            "--wait",
            str(wait),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    lines = [line for line in completed.stdout.splitlines() if line.startswith("{")]
    if completed.returncode not in (0, -signal.SIGKILL):
        sys.stderr.write(completed.stderr[-4000:])
    return completed.returncode, json.loads(lines[-1]) if lines else None


def run_harness(args: argparse.Namespace) -> int:
    from cryptosmarttrader.exchanges.paper.market import SimulatedMarket
    from cryptosmarttrader.exchanges.paper.server import (
        PaperExchange,
        PaperExchangeConfig,
        serve_in_thread,
    )
    from cryptosmarttrader.store.database import Database
    from cryptosmarttrader.store.schema import audit_events, orders

    rng = random.Random(args.seed)
    tally: Counter[str] = Counter()
    problems: list[str] = []
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="cst-chaos-") as tmp:
        home = Path(tmp)
        database_url = args.database_url or f"sqlite:///{home / 'chaos.sqlite'}"
        exchange = PaperExchange(
            SimulatedMarket(args.seed), PaperExchangeConfig(weight_limit=100_000)
        )
        with serve_in_thread(exchange) as running:
            for iteration in range(args.iterations):
                point = rng.choice(POINTS)
                kind = rng.choice(("taker", "maker"))
                if point == "after_send":
                    exchange.faults.add(_slow_order_response(), time.time())
                code, out = _child(
                    home,
                    database_url,
                    running.url,
                    iteration=iteration,
                    point=point,
                    kind=kind,
                    wait=0.0,
                )
                exchange.faults.clear()
                killed = code == -signal.SIGKILL
                tally[f"crash_{point}" if killed else f"ran_{point}"] += 1
                if point != "none" and not killed:
                    problems.append(f"iteration {iteration}: expected a crash at {point}")
                if point == "none" and code != 0:
                    problems.append(f"iteration {iteration}: exited {code}")
                if out is not None:
                    _count_reconcile(out["reconcile"], tally)
                    if "resend" in out:
                        tally[f"resend_{out['resend']}"] += 1
                if not args.json:
                    print(
                        f"  {iteration + 1:>4}/{args.iterations} {point:<15} {kind:<6} exit {code}",
                        flush=True,
                    )
            # Resting bids keep filling as the live market moves: cancel what is still open on
            # the venue, so that both sides can be compared at rest. The final process then
            # has to reconcile those cancels (and any fills before them) too.
            for resting in exchange.venue.open_orders():
                exchange.venue.cancel(resting.client_order_id)
                tally["canceled_at_the_end"] += 1
            code, out = _child(
                home, database_url, running.url, iteration=-1, point="none", kind="taker", wait=30.0
            )
            if out is None or code != 0:
                problems.append(f"final reconciliation failed (exit {code})")
            else:
                final = out["reconcile"]
                _count_reconcile(final, tally)
                if final["pending"] or final["errors"]:
                    problems.append(
                        f"final reconciliation left {final['pending']} {final['errors']}"
                    )
                if final["holdings"]:
                    problems.append(
                        f"positions or cash drifted from the venue: {final['holdings']}"
                    )
            venue = {o.client_order_id: o for o in exchange.venue.all_orders()}
        database = Database(database_url)
        try:
            with database.engine.connect() as conn:
                stored = {row.client_order_id: row for row in conn.execute(orders.select())}
                not_on_venue = conn.execute(
                    audit_events.select().where(audit_events.c.reason_code == "ORDER_NOT_ON_VENUE")
                ).all()
        finally:
            database.dispose()
    for coid, order in venue.items():
        row = stored.get(coid)
        if row is None:
            problems.append(f"{coid}: on the venue, not in the database")
        elif row.status != order.status.value or abs(row.filled_qty - order.filled_qty) > 1e-12:
            problems.append(
                f"{coid}: venue {order.status.value} {order.filled_qty}, "
                f"database {row.status} {row.filled_qty}"
            )
    for coid, row in stored.items():
        if coid not in venue and row.status != "REJECTED":
            problems.append(f"{coid}: {row.status} in the database, unknown to the venue")
    intents = {client_order_id(i) for i in range(args.iterations)}
    if set(venue) - intents:
        problems.append(f"unexpected orders on the venue: {sorted(set(venue) - intents)}")
    summary = {
        "iterations": args.iterations,
        "seed": args.seed,
        "seconds": round(time.monotonic() - started, 1),
        "venue_orders": len(venue),
        "database_orders": len(stored),
        "matched_one_to_one": sum(1 for c in venue if c in stored),
        "closed_as_never_sent": len(not_on_venue),
        "duplicates_on_venue": 0,  # client ids are unique keys of the venue's book
        "tally": dict(sorted(tally.items())),
        "problems": problems,
    }
    if args.json:
        print(json.dumps(summary))
    else:
        _print_table(summary)
    return 0 if not problems else 1


def _slow_order_response() -> Any:
    from cryptosmarttrader.exchanges.paper.faults import parse_fault

    return parse_fault("slow_response=10@POST /api/v3/order#1")


def _count_reconcile(report: dict[str, Any], tally: Counter[str]) -> None:
    for change in report["changed"]:
        tally[f"reconciled_{change['before']}_to_{change['after']}"] += 1
    tally["imported"] += len(report["imported"])


def _print_table(summary: dict[str, Any]) -> None:
    print()
    head = f"chaos: {summary['iterations']} iterations (seed {summary['seed']})"
    print(f"{head} in {summary['seconds']} s")
    rows = [
        (k, v)
        for k, v in summary.items()
        if k not in {"tally", "problems", "iterations", "seed", "seconds"}
    ]
    rows += list(summary["tally"].items())
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"  {key:<{width}}  {value}")
    print(f"  {'problems':<{width}}  {len(summary['problems'])}")
    for problem in summary["problems"]:
        print(f"    - {problem}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="mode")
    parser.add_argument("--iterations", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--database-url", default=None, help="default: a temporary SQLite file")
    parser.add_argument("--json", action="store_true", help="print one JSON summary")
    child = sub.add_parser("child")
    child.add_argument("--home", required=True)
    child.add_argument("--database-url", required=True)
    child.add_argument("--url", required=True)
    child.add_argument("--iteration", type=int, required=True)
    child.add_argument("--crash-at", choices=POINTS, required=True)
    child.add_argument("--kind", choices=("taker", "maker"), required=True)
    child.add_argument("--wait", type=float, default=0.0)
    args = parser.parse_args()
    if args.mode == "child":
        return run_child(args)
    if args.iterations < 1:
        parser.error("--iterations must be at least 1")
    return run_harness(args)


if __name__ == "__main__":
    raise SystemExit(main())
