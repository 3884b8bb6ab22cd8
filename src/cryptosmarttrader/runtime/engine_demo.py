"""The engine demo: a bounded run of the real engine on the simulated market.

The clock is simulated and starts at a fixed instant, so every run sees the same market: each
loop is one closed one-minute candle, and ``pace_s`` of real time passes between loops (about a
minute for the default 60 loops; 0 runs as fast as the machine allows). A market-wide crash of
25% in the fifteenth minute, while positions are held, takes the daily loss past the kill-switch
threshold: the switch trips in the loop, and from then on signals are still judged but every
order is refused.
Like the scripted session it uses the embedded defaults in a directory of its own.
"""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from cryptosmarttrader.config.settings import EngineSettings, explicit_settings
from cryptosmarttrader.domain.clock import ManualClock, format_utc
from cryptosmarttrader.domain.kill_switch import KillSwitchState
from cryptosmarttrader.engine.loop import Engine, EngineTotals, StepReport
from cryptosmarttrader.exchanges.paper.market import PriceShock, SimulatedMarket
from cryptosmarttrader.execution.gateway import PortfolioSnapshot
from cryptosmarttrader.observability.html_report import write_html_report
from cryptosmarttrader.runtime.engine import open_engine
from cryptosmarttrader.runtime.system import TradingSystem

ENGINE_DEMO_START = 1_767_621_600.0  # 2026-01-05T14:00:00Z
DEMO_SYMBOLS = ("BTC/USDT", "ETH/USDT", "SOL/USDT", "BNB/USDT")
REPORT_FILE = "engine-report.html"
CRASH_AT = ENGINE_DEMO_START + 14.5 * 60  # while BTC and ETH are held: the kill switch trips


@dataclass(frozen=True)
class EngineDemoReport:
    home: Path
    database_url: str
    steps: tuple[StepReport, ...]
    totals: EngineTotals
    portfolio: PortfolioSnapshot
    kill_switch: KillSwitchState
    report: Path
    api_url: str | None = None


Serve = Callable[[TradingSystem, Engine], AbstractContextManager[str | None]]
"""Serves something (the API) beside the running engine; entered yields its URL or None."""


def engine_demo_settings() -> EngineSettings:
    """A fast strategy on one-minute candles, so that a minute of demo shows signals."""
    return EngineSettings(
        symbols=DEMO_SYMBOLS,
        strategy="ema_cross",
        strategy_params={"fast": "3", "slow": "8"},
        min_confidence=0.3,
        position_fraction=0.5,
        stop_loss=0.02,
        take_profit=0.03,
        history_candles=240,
    )


def run_engine_demo(
    home: Path,
    *,
    loops: int = 60,
    pace_s: float = 1.0,
    stop: threading.Event | None = None,
    on_step: Callable[[StepReport], None] | None = None,
    serve: Serve | None = None,
) -> EngineDemoReport:
    """Run the engine for ``loops`` simulated minutes in ``home`` (wiped first), with ``serve``
    (the API) running beside it."""
    if home.exists():
        shutil.rmtree(home)
    home.mkdir(parents=True)
    settings = explicit_settings(home=home, engine=engine_demo_settings())
    clock = ManualClock(ENGINE_DEMO_START)
    market = SimulatedMarket(settings.paper.seed, shocks=[PriceShock(CRASH_AT, -0.25, None)])
    stop = stop or threading.Event()
    steps: list[StepReport] = []
    with TradingSystem.open(settings, clock=clock, market=market) as system:
        engine = open_engine(system)
        system.gateway.start()

        def step_and_advance() -> None:
            report = engine.step()
            steps.append(report)
            if on_step is not None:
                on_step(report)
            clock.advance(60.0)

        served = serve(system, engine) if serve is not None else nullcontext(None)
        with served as api_url:
            engine.started_at = time.time()
            for _ in range(loops):
                step_and_advance()
                if stop.wait(pace_s):
                    break
            portfolio = system.gateway.portfolio()
            kill_switch = system.kill_switch.status()
    path = write_engine_report(home / REPORT_FILE, steps, engine.totals, kill_switch)
    return EngineDemoReport(
        home=home,
        database_url=settings.resolved_database_url,
        steps=tuple(steps),
        totals=engine.totals,
        portfolio=portfolio,
        kill_switch=kill_switch,
        report=path,
        api_url=api_url,
    )


def write_engine_report(
    path: Path, steps: list[StepReport], totals: EngineTotals, kill_switch: KillSwitchState
) -> Path:
    """Equity per loop with the orders on it, and the signals and orders by reason code."""
    figure = make_subplots(
        rows=2,
        cols=1,
        vertical_spacing=0.12,
        subplot_titles=("equity at each loop, with the orders sent", "signals and orders"),
    )
    figure.add_trace(
        go.Scatter(
            x=[format_utc(s.at) for s in steps],
            y=[s.portfolio.state.equity for s in steps],
            name="equity",
            mode="lines",
        ),
        row=1,
        col=1,
    )
    sent = [(s, o) for s in steps for o in s.orders]
    figure.add_trace(
        go.Scatter(
            x=[format_utc(s.at) for s, _ in sent],
            y=[s.portfolio.state.equity for s, _ in sent],
            text=[f"{o.side} {o.symbol} {o.decision.code} {o.status_label}" for _, o in sent],
            name="orders",
            mode="markers",
        ),
        row=1,
        col=1,
    )
    codes = sorted(set(totals.signals) | set(totals.orders))
    figure.add_trace(
        go.Bar(x=codes, y=[totals.signals.get(c, 0) for c in codes], name="signals"), row=2, col=1
    )
    figure.add_trace(
        go.Bar(x=codes, y=[totals.orders.get(c, 0) for c in codes], name="orders"), row=2, col=1
    )
    figure.update_layout(height=800, template="plotly_white", barmode="group")
    last = steps[-1].portfolio.state if steps else None
    summary = {
        "loops": totals.steps,
        "signals": dict(totals.signals),
        "orders": dict(totals.orders),
        "final equity": f"{last.equity:,.2f}" if last else "-",
        "kill switch": f"on: {kill_switch.reason}" if kill_switch.active else "off",
    }
    charts = figure.to_html(full_html=False, include_plotlyjs=True)
    return write_html_report(path, "CryptoSmartTrader engine demo", summary, charts)
