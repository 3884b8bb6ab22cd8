"""Concurrent submits can never together breach a limit: threads, and separate processes."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from sqlalchemy import select

from cryptosmarttrader.config.limits import RiskLimits
from cryptosmarttrader.domain.orders import FINAL_STATUSES, OrderIntent, Side
from cryptosmarttrader.exchanges.paper.market import SimulatedMarket
from cryptosmarttrader.store.database import Database
from cryptosmarttrader.store.schema import orders
from tests.factories import T0
from tests.systems import open_system

SYMBOLS = ["BTC/USDT", "ETH/USDT", "SOL/USDT", "BNB/USDT", "XRP/USDT", "ADA/USDT", "DOGE/USDT"]
# Only gross exposure binds: 40% of 10,000 equity.
LIMITS = RiskLimits(
    max_total_exposure=0.4,
    max_position=1.0,
    max_correlated_exposure=10.0,
    max_positions=100,
    min_reduce_fraction=0.0,
)
LIMIT_QUOTE = 4_000.0


def reserved_notional(db_url: str, market: SimulatedMarket) -> float:
    """Worst-case quote value of every accepted, non-final order, marked at the test's time."""
    database = Database(db_url)
    try:
        with database.engine.connect() as conn:
            rows = conn.execute(select(orders.c.symbol, orders.c.qty, orders.c.status)).all()
    finally:
        database.dispose()
    total = 0.0
    for symbol, qty, status in rows:
        assert status not in {s.value for s in FINAL_STATUSES}
        snapshot = market.snapshot(symbol, T0)
        assert snapshot is not None
        total += qty * snapshot.mid
    return total


def small_bid(market: SimulatedMarket, symbol: str, n: int) -> OrderIntent:
    """A post-only bid worth roughly 150-400 quote, resting (so its exposure stays reserved)."""
    snapshot = market.snapshot(symbol, T0)
    assert snapshot is not None
    instrument = market.instruments()[symbol]
    qty = instrument.floor_qty((150 + 25 * (n % 11)) / snapshot.bid)
    return OrderIntent(symbol, Side.BUY, qty, price=snapshot.bid, signal_id=f"t{n}")


def test_sixteen_threads_never_breach_the_exposure_limit(db_url: str, tmp_path: Path) -> None:
    with open_system(tmp_path, db_url, risk=LIMITS) as system:
        system.gateway.start()
        counter = itertools.count()
        barrier = threading.Barrier(16)
        errors: list[BaseException] = []
        verdicts: list[str] = []

        def worker(thread: int) -> None:
            try:
                barrier.wait()
                for _ in range(8):
                    n = next(counter)
                    symbol = SYMBOLS[(thread + n) % len(SYMBOLS)]
                    result = system.gateway.submit(small_bid(system.market, symbol, n))
                    verdicts.append(result.decision.verdict.value)
            except BaseException as exc:  # noqa: BLE001 - carried to the main thread
                errors.append(exc)

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(16)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        assert len(verdicts) == 128
    total = reserved_notional(db_url, system.market)
    assert total <= LIMIT_QUOTE * (1 + 1e-9)
    # The limit was really contended: it is nearly used up and many orders were refused.
    assert total >= LIMIT_QUOTE * 0.9
    assert verdicts.count("REJECT") >= 64


WORKER = """
import json, sys
from pathlib import Path
from cryptosmarttrader.config.limits import RiskLimits
from cryptosmarttrader.observability.logging import configure_logging
from tests.factories import T0
from tests.systems import open_system
from tests.test_concurrency import LIMITS, SYMBOLS, small_bid

home, db_url, worker = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
configure_logging(home / "log.jsonl")
verdicts = []
with open_system(home, db_url, risk=LIMITS) as system:
    for n in range(20):
        symbol = SYMBOLS[(worker + n) % len(SYMBOLS)]
        result = system.gateway.submit(small_bid(system.market, symbol, worker * 1000 + n))
        verdicts.append(result.decision.verdict.value)
print(json.dumps(verdicts))
"""


@pytest.mark.slow
def test_separate_processes_never_breach_the_exposure_limit(db_url: str, tmp_path: Path) -> None:
    with open_system(tmp_path / "setup", db_url, risk=LIMITS) as system:
        system.gateway.start()
    root = Path(__file__).resolve().parents[1]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(tmp_path / f"p{i}"), db_url, str(i)],
            cwd=root,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(4)
    ]
    verdicts: list[str] = []
    for proc in procs:
        out, err = proc.communicate(timeout=240)
        assert proc.returncode == 0, err
        verdicts += json.loads(out)
    total = reserved_notional(db_url, SimulatedMarket(7))
    assert total <= LIMIT_QUOTE * (1 + 1e-9)
    assert total >= LIMIT_QUOTE * 0.9
    assert verdicts.count("REJECT") >= 20
