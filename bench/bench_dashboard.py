"""Dashboard page time on a database with 100,000+ audit rows.

Fills a SQLite database through the real gateway until it holds 100,000 audit rows: IOC buys
and sells on the simulated market, each a DECISION row and, when sent, an ORDER_RESULT row, the
account marked every 100 orders. Then runs every page of the dashboard with Streamlit's
AppTest (the script's full run, as a browser request triggers it; no engine API reachable)
and prints the time of each.
Goal: every page under 2 s. Run: ``python bench/bench_dashboard.py [--audit-rows N]``.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from sqlalchemy import func, select
from streamlit.testing.v1 import AppTest

from cryptosmarttrader.config.settings import explicit_settings
from cryptosmarttrader.domain.clock import ManualClock
from cryptosmarttrader.domain.orders import OrderIntent, Side, TimeInForce
from cryptosmarttrader.exchanges.paper.market import SimulatedMarket
from cryptosmarttrader.observability.logging import configure_logging
from cryptosmarttrader.runtime.system import TradingSystem
from cryptosmarttrader.store.schema import audit_events

APP = Path(__file__).resolve().parents[1] / "src" / "cryptosmarttrader" / "dashboard" / "app.py"
SLUGS = (
    "overview",
    "risk-guard",
    "execution",
    "data",
    "signals",
    "alerts",
    "ci-quality",
    "recommendations",
)


def audit_rows(system: TradingSystem) -> int:
    with system.database.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(audit_events)).scalar_one())


def seed(home: Path, target: int) -> int:
    clock = ManualClock(1_767_621_600.0)
    settings = explicit_settings(home=home)
    with TradingSystem.open(
        settings, clock=clock, market=SimulatedMarket(7), persist_paper_venue=False
    ) as system:
        gateway = system.gateway
        gateway.start()
        started = time.perf_counter()
        n = 0
        while n % 1000 or audit_rows(system) < target:
            snapshot = system.market_data.snapshot("BTC/USDT")
            assert snapshot is not None
            side = Side.BUY if n % 2 == 0 else Side.SELL
            price = snapshot.ask * 1.001 if side is Side.BUY else snapshot.bid * 0.999
            gateway.submit(
                OrderIntent(
                    "BTC/USDT",
                    side,
                    0.001,
                    price=round(price, 2),
                    time_in_force=TimeInForce.IOC,
                    signal_id=f"bench-{n}",
                    reduce_only=side is Side.SELL,
                )
            )
            clock.advance(1.0)
            if n % 100 == 0:
                gateway.mark_to_market()
            n += 1
            if n % 10_000 == 0:
                print(f"  {n:,} orders, {time.perf_counter() - started:.0f} s", flush=True)
        return audit_rows(system)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--audit-rows", type=int, default=100_000)
    args = parser.parse_args()
    configure_logging(None, "WARNING")
    with tempfile.TemporaryDirectory() as directory:
        home = Path(directory)
        print(f"filling a database with {args.audit_rows:,} audit rows through the gateway ...")
        rows = seed(home, args.audit_rows)
        os.environ["CST_HOME"] = str(home)
        os.environ["CST_DASHBOARD__API_URL"] = "http://127.0.0.1:9"
        print(f"{rows:,} audit rows")
        print(f"{'page':<18} {'seconds':>8} {'goal':>8}")
        worst = 0.0
        for slug in SLUGS:
            app = AppTest.from_file(str(APP), default_timeout=120)
            app.query_params["page"] = slug
            started = time.perf_counter()
            app.run()
            elapsed = time.perf_counter() - started
            assert not app.exception, [e.value for e in app.exception]
            worst = max(worst, elapsed)
            print(f"{slug:<18} {elapsed:>8.2f} {'< 2 s':>8}")
        print(f"slowest page {worst:.2f} s: goal {'met' if worst < 2 else 'missed'}")


if __name__ == "__main__":
    main()
