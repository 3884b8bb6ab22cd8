"""The engine on the simulated market: signals judged, orders through the gateway, exits."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import pytest
from prometheus_client import REGISTRY
from sqlalchemy import select

from cryptosmarttrader.config.limits import RiskLimits
from cryptosmarttrader.config.settings import (
    DataSettings,
    EngineSettings,
    PaperSettings,
    VenueSettings,
    explicit_settings,
)
from cryptosmarttrader.domain.candles import CandleSeries
from cryptosmarttrader.domain.clock import ManualClock
from cryptosmarttrader.domain.orders import OrderIntent, Side, TimeInForce
from cryptosmarttrader.domain.reason_codes import ReasonCode
from cryptosmarttrader.engine.loop import Engine, EngineFailedError
from cryptosmarttrader.exchanges.paper.market import PriceShock, SimulatedMarket
from cryptosmarttrader.execution import gateway as gateway_module
from cryptosmarttrader.execution.order_ledger import apply_report
from cryptosmarttrader.runtime.engine import open_engine
from cryptosmarttrader.runtime.system import TradingSystem
from cryptosmarttrader.store.schema import audit_events, orders
from tests.conftest import POSTGRES_ADMIN_URL, new_postgres_database
from tests.factories import T0
from tests.paper_exchange import control, running_exchange
from tests.test_cli import CST, as_json, assert_one_line_error, run

SYMBOLS = ("BTC/USDT", "ETH/USDT")


def open_engine_system(
    tmp_path: Path,
    *,
    market: SimulatedMarket | None = None,
    risk: RiskLimits | None = None,
    **engine: Any,
) -> tuple[TradingSystem, Engine, ManualClock]:
    clock = ManualClock(T0)
    settings = explicit_settings(
        home=tmp_path,
        database_url=f"sqlite:///{tmp_path / 'cst.sqlite'}",
        risk=risk or RiskLimits(),
        paper=PaperSettings(),
        engine=EngineSettings(symbols=SYMBOLS, **engine),
    )
    system = TradingSystem.open(
        settings, clock=clock, market=market or SimulatedMarket(7), persist_paper_venue=False
    )
    return system, open_engine(system), clock


@pytest.fixture
def running(tmp_path: Path) -> Iterator[tuple[TradingSystem, Engine, ManualClock]]:
    system, engine, clock = open_engine_system(
        tmp_path,
        min_confidence=0.0,
        strategy="ema_cross",
        strategy_params={"fast": "3", "slow": "8"},
    )
    try:
        yield system, engine, clock
    finally:
        system.close()


def audit_rows(system: TradingSystem, kind: str) -> list[Any]:
    with system.database.engine.connect() as conn:
        return list(conn.execute(select(audit_events).where(audit_events.c.kind == kind)).all())


def run_steps(engine: Engine, clock: ManualClock, steps: int) -> list[Any]:
    reports = []
    for _ in range(steps):
        clock.advance(60.0)
        reports.append(engine.step())
    return reports


def test_signals_become_orders_through_the_gateway(
    running: tuple[TradingSystem, Engine, ManualClock],
) -> None:
    system, engine, clock = running
    reports = run_steps(engine, clock, 120)
    signals = [v for r in reports for v in r.signals]
    results = [o for r in reports for o in r.orders]
    assert signals, "the strategy never signalled"
    assert any(o.side == "buy" and o.filled_qty > 0 for o in results)
    # Each judged signal is one audit row with its reason code, each order a gateway decision.
    signal_rows = audit_rows(system, "SIGNAL")
    assert len(signal_rows) == len(signals) == sum(engine.totals.signals.values())
    assert {r.reason_code for r in signal_rows} <= {c.value for c in ReasonCode}
    decisions = audit_rows(system, "DECISION")
    assert len(decisions) == len(results)
    with system.database.engine.connect() as conn:
        stored = list(conn.execute(select(orders)).all())
    assert {o.strategy for o in stored} == {"ema_cross"}
    assert {o.time_in_force for o in stored} == {"IOC"}
    # An entry is sized by confidence: never more than position_fraction of equity.
    for result in (o for r in reports for o in r.orders):
        if result.side == "buy" and result.avg_fill_price:
            assert result.filled_qty * result.avg_fill_price <= 0.1 * 10_000 * 1.01
    # A candle is judged once: a second step in the same minute judges nothing new.
    assert engine.step().signals == ()


def test_entries_below_min_confidence_are_suppressed(tmp_path: Path) -> None:
    system, engine, clock = open_engine_system(
        tmp_path, min_confidence=1.0, strategy_params={"fast": "3", "slow": "8"}
    )
    try:
        reports = run_steps(engine, clock, 120)
    finally:
        system.close()
    entries = [v for r in reports for v in r.signals if v.kind == "entry"]
    assert entries
    assert {v.code for v in entries} == {ReasonCode.SIGNAL_LOW_CONFIDENCE}
    assert not [o for r in reports for o in r.orders if o.side == "buy"]


class GappyCandles:
    """Candles with one missing in the middle, as a flaky exchange serves them."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def candles(self, symbol: str, timeframe: str, count: int) -> CandleSeries:
        series: CandleSeries = self.inner.candles(symbol, timeframe, count)
        keep = np.ones(len(series), dtype=bool)
        keep[len(series) // 2] = False
        return series.where(keep)


def test_signals_on_bad_data_are_suppressed_with_the_reason(
    running: tuple[TradingSystem, Engine, ManualClock],
) -> None:
    _, engine, clock = running
    engine.candles = GappyCandles(engine.candles)
    reports = run_steps(engine, clock, 60)
    signals = [v for r in reports for v in r.signals]
    assert signals
    assert {v.code for v in signals} == {ReasonCode.SIGNAL_BAD_DATA}
    assert all(any("candle_gap" in f for f in v.findings) for v in signals)
    assert not [o for r in reports for o in r.orders]


def test_a_stop_loss_sells_the_position(tmp_path: Path) -> None:
    crash_at = T0 + 180
    market = SimulatedMarket(7, shocks=(PriceShock(crash_at, -0.10, "ETH/USDT"),))
    system, engine, clock = open_engine_system(
        tmp_path, market=market, strategy_params={"fast": "3", "slow": "8"}, min_confidence=1.0
    )
    try:
        snapshot = system.market_data.snapshot("ETH/USDT")
        assert snapshot is not None
        bought = system.gateway.submit(
            OrderIntent(
                "ETH/USDT",
                Side.BUY,
                0.2,
                price=round(snapshot.ask * 1.001, 2),
                time_in_force=TimeInForce.IOC,
            )
        )
        assert bought.filled_qty == pytest.approx(0.2)
        clock.set(crash_at + 1)
        report = engine.step()
        exits = [r for r in audit_rows(system, "SIGNAL") if r.symbol == "ETH/USDT"]
    finally:
        system.close()
    (sale,) = report.orders
    assert [r.reason_code for r in exits] == ["STOP_LOSS"]
    assert sale.side == "sell"
    assert sale.decision.verdict == "APPROVE"
    assert sale.filled_qty == pytest.approx(0.2)
    assert not [p for p in report.portfolio.positions if p.qty > 1e-9]


def test_the_kill_switch_trips_in_the_loop_without_an_order(tmp_path: Path) -> None:
    crash_at = T0 + 120
    market = SimulatedMarket(7, shocks=(PriceShock(crash_at, -0.60, None),))
    risk = RiskLimits(max_position=1.0, max_total_exposure=1.0)
    system, engine, clock = open_engine_system(
        tmp_path, market=market, risk=risk, stop_loss=0.9, min_confidence=1.0
    )
    try:
        snapshot = system.market_data.snapshot("BTC/USDT")
        assert snapshot is not None
        qty = round(5_000 / snapshot.ask, 5)
        system.gateway.submit(
            OrderIntent(
                "BTC/USDT",
                Side.BUY,
                qty,
                price=round(snapshot.ask * 1.001, 2),
                time_in_force=TimeInForce.IOC,
            )
        )
        clock.set(crash_at + 1)
        report = engine.step()
        state = system.kill_switch.status()
    finally:
        system.close()
    assert report.orders == ()
    assert state.active
    assert "daily loss" in (state.reason or "")


def test_a_bad_engine_configuration_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown timeframe"):
        EngineSettings(timeframe="7m")
    with pytest.raises(ValueError, match="malformed symbol"):
        EngineSettings(symbols=("BTCUSDT",))


def test_cst_run_stops_cleanly_on_sigterm_and_resumes(tmp_path: Path) -> None:
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "CST_HOME": str(tmp_path),
        "CST_ENGINE__POLL_S": "0.2",
        "CST_API__PORT": "0",
        "PYTHONUNBUFFERED": "1",
        **{k: v for k, v in os.environ.items() if k.startswith("COVERAGE_")},
    }
    process = subprocess.Popen(
        [CST, "run"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        started = process.stdout.readline()
        first_loop = process.stdout.readline()  # blocks until the engine has run a loop
        api_url = started.rsplit("API on ", 1)[1].strip()
        with urllib.request.urlopen(f"{api_url}/health", timeout=10) as answer:  # noqa: S310
            health = json.loads(answer.read())
        process.send_signal(signal.SIGTERM)
        rest, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, err
    assert started.startswith("engine: ema_cross")
    # The wall-clock market may give an entry in the first loop: equity is the start less fees.
    equity = float(first_loop.split("equity ", 1)[1].split()[0].replace(",", ""))
    assert 9_980.0 <= equity <= 10_000.0, first_loop
    assert health["components"]["engine"]["running"] is True
    assert health["components"]["reconciliation"]["clean"] is True
    assert "stopped after" in rest
    assert "Traceback" not in err
    # A restart reconciles with the venue (the paper venue's state file) and carries on.
    again = run(
        tmp_path, "run", "--max-steps", "1", "--json", CST_ENGINE__POLL_S="0.2", CST_API__PORT="0"
    )
    assert again.returncode == 0, again.stderr
    assert as_json(again)["steps"] == 1


def test_a_preview_shows_the_gates_verdict_and_stores_nothing(tmp_path: Path) -> None:
    system, engine, clock = open_engine_system(
        tmp_path, min_confidence=0.0, strategy_params={"fast": "3", "slow": "8"}
    )
    try:
        previews = []
        for _ in range(60):
            clock.advance(60.0)
            view, verdict = engine.preview("BTC/USDT")
            if view.kind == "entry":
                previews.append((view, verdict))
        with system.database.engine.connect() as conn:
            stored = conn.execute(select(orders)).all()
        signal_rows = audit_rows(system, "SIGNAL")
    finally:
        system.close()
    assert previews
    for view, verdict in previews:
        assert verdict is not None
        assert verdict.dry_run
        assert verdict.status_label == "DRY_RUN"
        assert verdict.decision.approved
        assert view.confidence > 0
    assert stored == []
    assert signal_rows == []


def test_cst_signals_lists_every_symbol_as_json(tmp_path: Path) -> None:
    listed = as_json(run(tmp_path, "signals", "--symbols", "BTC/USDT,ETH/USDT", "--json"))
    assert listed["strategy"] == "ema_cross"
    assert [s["symbol"] for s in listed["signals"]] == ["BTC/USDT", "ETH/USDT"]
    for row in listed["signals"]:
        assert 0 <= row["quality_score"] <= 1
        if row["signal"] is None:
            assert row["gates"] is None
            assert row["code"] is None


def test_cst_signals_refuses_an_unlisted_symbol(tmp_path: Path) -> None:
    result = run(tmp_path, "signals", "--symbols", "FOO/USDT")
    assert "FOO/USDT not listed" in assert_one_line_error(result)


def test_real_public_data_with_paper_fills_sends_no_order_to_the_exchange(
    tmp_path: Path,
) -> None:
    with running_exchange() as exchange:
        settings = explicit_settings(
            home=tmp_path,
            database_url=f"sqlite:///{tmp_path / 'cst.sqlite'}",
            exchange=VenueSettings(paper_exchange_url=exchange.url),
            data=DataSettings(snapshot_cache_ttl_s=0.0),
            engine=EngineSettings(symbols=SYMBOLS),
        )
        with TradingSystem.open(settings, data_exchange="paper-exchange") as system:
            engine = open_engine(system)
            snapshot = system.market_data.snapshot("ETH/USDT")
            assert snapshot is not None
            assert snapshot.source != "simulated"
            bought = system.gateway.submit(
                OrderIntent(
                    "ETH/USDT", Side.BUY, 0.1, price=snapshot.ask, time_in_force=TimeInForce.IOC
                )
            )
            held = [p.symbol for p in system.gateway.portfolio().positions if p.qty > 0]
            # The engine's signals depend on the wall clock here; whatever it does, it does
            # through the local paper venue.
            report = engine.step()
        stats = control(exchange.url, "GET", "/_paper/stats")
    assert bought.status_label == "FILLED"
    assert bought.avg_fill_price == pytest.approx(snapshot.ask, rel=1e-3)
    assert held == ["ETH/USDT"]
    assert report.portfolio.state.equity == pytest.approx(10_000, rel=0.01)
    assert stats["orders"]["placed"] == 0  # filled by the local paper venue at the real price
    assert not any(path.startswith("POST") for path in stats["requests"])
    assert (tmp_path / "paper-venue-paper-exchange.json").exists()


def test_paper_fills_on_real_data_need_the_paper_venue(tmp_path: Path) -> None:
    result = run(tmp_path, "run", "--exchange", "kraken", "--live")
    assert "use one of them" in assert_one_line_error(result)
    result = run(tmp_path, "run", "--exchange", "nowhere")
    assert "--exchange: choose from" in assert_one_line_error(result)


class MinuteStop(threading.Event):
    """``Engine.run``'s stop event whose wait between loops moves the manual clock on a minute
    instead of sleeping."""

    def __init__(self, clock: ManualClock) -> None:
        super().__init__()
        self.clock = clock

    def wait(self, timeout: float | None = None) -> bool:
        self.clock.advance(60.0)
        return self.is_set()


def loop_errors() -> float:
    return REGISTRY.get_sample_value("cst_engine_loop_errors_total") or 0.0


def test_a_failed_loop_is_reported_and_the_next_one_reconciles_first(
    running: tuple[TradingSystem, Engine, ManualClock], monkeypatch: pytest.MonkeyPatch
) -> None:
    system, engine, clock = running
    calls: list[str] = []

    def first_outcome_lost(*args: Any, **kwargs: Any) -> Any:
        calls.append("apply_report")
        if len(calls) == 1:
            raise RuntimeError("disk full")
        return apply_report(*args, **kwargs)

    # The first order reaches the venue, but its outcome cannot be written down.
    monkeypatch.setattr(gateway_module, "apply_report", first_outcome_lost)
    failures: list[str] = []
    errors_before = loop_errors()
    totals = engine.run(MinuteStop(clock), max_steps=120, on_failure=failures.append)

    assert len(failures) == 1, failures
    assert failures[0].startswith("OutcomeNotRecordedError: order ")
    assert (totals.steps, totals.errors) == (120, 1)
    assert loop_errors() - errors_before == 1
    with system.database.engine.connect() as conn:
        stored = list(conn.execute(select(orders).order_by(orders.c.id)).all())
    # The lost outcome was resolved from the venue by the next loop's reconciliation, and the
    # order was not sent again; the engine went on trading.
    assert len(stored) > 1
    assert stored[0].status == "FILLED"
    assert "PENDING_SUBMIT" not in {o.status for o in stored}
    assert len({o.signal_id for o in stored}) == len(stored)
    balances = system.broker.balances()
    held = {p.symbol.split("/")[0]: p.qty for p in system.gateway.portfolio().positions}
    for asset in {"BTC", "ETH"}:
        assert held.get(asset, 0.0) == pytest.approx(balances.get(asset, 0.0), abs=1e-9)
    assert engine.failed_in_a_row == 0


def test_failed_loops_in_a_row_stop_the_engine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    system, engine, clock = open_engine_system(tmp_path, max_failed_loops=3)
    mark_to_market = engine.gateway.mark_to_market
    fails = iter([True, True, False, True, True, True, False])

    def unreachable() -> Any:
        if next(fails):
            raise RuntimeError("database unreachable\n(background detail)")
        return mark_to_market()

    monkeypatch.setattr(engine.gateway, "mark_to_market", unreachable)
    failures: list[str] = []
    beats: list[float | None] = []
    try:
        with pytest.raises(EngineFailedError) as raised:
            engine.run(
                MinuteStop(clock),
                on_step=lambda _report: beats.append(engine.heartbeat),
                on_failure=failures.append,
            )
    finally:
        system.close()
    # Two failures, a good loop (the count starts again), then three in a row: stopped.
    assert str(raised.value) == (
        "the engine stopped after 3 failed loops in a row; "
        "the last: RuntimeError: database unreachable"
    )
    assert failures == ["RuntimeError: database unreachable"] * 5
    assert (engine.totals.steps, engine.totals.errors) == (6, 5)
    # Only the good loop renewed the heartbeat: a failing engine looks stalled.
    assert len(beats) == 1
    assert engine.heartbeat == beats[0]


@pytest.fixture
def outage_database() -> Iterator[tuple[str, str]]:
    """A PostgreSQL database of this test's own (it will refuse connections for a while)."""
    with new_postgres_database("cst_outage") as database:
        yield database


def cut_connections(name: str, *, refuse_new: bool) -> None:
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
        admin.execute(
            f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS {"false" if refuse_new else "true"}'
        )
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
            (name,),
        )


def test_cst_run_rides_out_a_database_blip_and_stops_on_an_outage(
    tmp_path: Path, outage_database: tuple[str, str]
) -> None:
    url, name = outage_database
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "CST_HOME": str(tmp_path),
        "CST_DATABASE_URL": url,
        "CST_ENGINE__POLL_S": "0.1",
        "CST_ENGINE__MAX_FAILED_LOOPS": "3",
        "PYTHONUNBUFFERED": "1",
        **{k: v for k, v in os.environ.items() if k.startswith("COVERAGE_")},
    }
    process = subprocess.Popen(
        [CST, "run", "--no-api"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    seen: list[str] = []

    def next_line() -> str:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line, f"cst run ended early: {seen}"
        seen.append(line)
        return line

    try:
        assert next_line().startswith("engine: ema_cross")
        next_line()  # a first loop ran
        # The server drops every connection once (a restart, a failover): one loop fails, the
        # next one reconnects, reconciles and trades on.
        cut_connections(name, refuse_new=False)
        while not next_line().startswith("loop failed (1 of at most 3 in a row)"):
            pass
        assert "equity" in next_line()
        # Now it stays down: three loops fail in a row and the engine stops.
        cut_connections(name, refuse_new=True)
        _, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
        cut_connections(name, refuse_new=False)
    result = subprocess.CompletedProcess(process.args, process.returncode, "", err)
    line = assert_one_line_error(result, code=1)
    assert line.startswith("error: the engine stopped after 3 failed loops in a row; the last: ")
    assert "(a restart reconciles with the venue and carries on)" in line
    # Back up: a restart reconciles and carries on.
    again = run(tmp_path, "run", "--no-api", "--max-steps", "1", "--json", CST_DATABASE_URL=url)
    assert again.returncode == 0, again.stderr
    assert as_json(again)["steps"] == 1
