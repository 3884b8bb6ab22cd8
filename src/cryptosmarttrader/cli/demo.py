"""``cst demo``: the scripted session on the simulated market, rendered as a table."""

from __future__ import annotations

import os
import signal
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path

import typer
from rich.console import Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from cryptosmarttrader.api.server import ApiUnavailableError
from cryptosmarttrader.cli.api import start_background_api
from cryptosmarttrader.cli.render import (
    console,
    describe_intent,
    error_console,
    print_json,
    verdict_text,
)
from cryptosmarttrader.config.settings import default_home
from cryptosmarttrader.domain.clock import format_utc
from cryptosmarttrader.domain.kill_switch import kill_switch_dict
from cryptosmarttrader.engine.loop import Engine, StepReport
from cryptosmarttrader.observability.logging import configure_logging
from cryptosmarttrader.runtime.demo import DemoReport, demo_settings, run_demo
from cryptosmarttrader.runtime.engine_demo import EngineDemoReport, run_engine_demo
from cryptosmarttrader.runtime.system import TradingSystem


def _demo_home() -> Path:
    home = Path(os.environ["CST_HOME"]) if os.environ.get("CST_HOME") else default_home()
    return home / "demo"


def demo(
    as_json: bool = typer.Option(False, "--json", help="print the steps as JSON"),
    loops: int = typer.Option(
        60, "--loops", min=0, max=10_000, help="engine loops (simulated minutes) after the tour"
    ),
    pace: float = typer.Option(
        1.0, "--pace", min=0.0, max=60.0, help="real seconds between engine loops"
    ),
    api_port: int | None = typer.Option(
        8000,
        "--api-port",
        min=0,
        max=65535,
        help="serve the API on 127.0.0.1 at this port during the engine run (0: any free port)",
    ),
    no_api: bool = typer.Option(False, "--no-api", help="do not serve the API"),
) -> None:
    """A scripted tour of every gate, then a bounded run of the engine on the simulated market.

    Uses the embedded defaults (SQLite, paper venue, simulated clock): no network, no keys,
    and never your own database. Its files go to $CST_HOME/demo and are replaced on each run.
    Ctrl-C ends the engine run early; the summary and the report are still written.
    """
    home = _demo_home()
    configure_logging(demo_settings(home).log_file)
    report = run_demo(home)
    if not as_json:
        _render(report)
    port = None if no_api else api_port
    engine_report = (
        _run_engine(home / "engine", loops, pace, live=not as_json, api_port=port)
        if loops
        else None
    )
    if as_json:
        print_json(
            {**_as_dict(report), "engine": _engine_dict(engine_report) if engine_report else None}
        )
    elif engine_report is not None:
        _render_engine_summary(engine_report)


@contextmanager
def _api_beside(system: TradingSystem, engine: Engine, port: int) -> Iterator[str | None]:
    """The API while the demo's engine runs; a taken port costs the API, not the demo."""
    try:
        server = start_background_api(system, engine, host="127.0.0.1", port=port)
    except ApiUnavailableError as exc:
        error_console().print(f"demo: {exc}; running without the API", markup=False)
        yield None
        return
    try:
        yield server.url
    finally:
        server.stop()


def _run_engine(
    home: Path, loops: int, pace: float, *, live: bool, api_port: int | None
) -> EngineDemoReport:
    stop = threading.Event()
    previous = signal.signal(signal.SIGINT, lambda signum, frame: stop.set())
    serve = None if api_port is None else partial(_api_beside, port=api_port)
    try:
        if not live:
            return run_engine_demo(home, loops=loops, pace_s=pace, stop=stop, serve=serve)
        view = EngineView(loops)
        with Live(view.render(), console=console(), refresh_per_second=4) as screen:

            def show(step: StepReport) -> None:
                view.add(step)
                screen.update(view.render())

            return run_engine_demo(
                home, loops=loops, pace_s=pace, stop=stop, on_step=show, serve=serve
            )
    finally:
        signal.signal(signal.SIGINT, previous)


class EngineView:
    """The live terminal view of the engine run: the latest signals and orders, positions,
    equity and the kill switch."""

    def __init__(self, loops: int) -> None:
        self.loops = loops
        self.steps: list[StepReport] = []
        self.events: list[tuple[str, str, str, str, str]] = []

    def add(self, step: StepReport) -> None:
        self.steps.append(step)
        at = format_utc(step.at)[11:-1]
        for view in step.signals:
            self.events.append(
                (
                    at,
                    f"{view.kind} {view.symbol}",
                    f"conf {view.confidence:.2f}, q {view.quality_score:.2f}",
                    str(view.code),
                    "",
                )
            )
        for result in step.orders:
            decision = result.decision
            self.events.append(
                (
                    at,
                    f"{result.side} {result.symbol}",
                    f"{decision.requested_qty:g} -> {decision.approved_qty:g}",
                    f"{decision.verdict} {decision.code}",
                    result.status_label,
                )
            )

    def render(self) -> Group:
        header = Text("engine run", style="bold")
        if not self.steps:
            return Group(header + Text(": starting"))
        last = self.steps[-1]
        state = last.portfolio.state
        header += Text(
            f": loop {len(self.steps)}/{self.loops} at {format_utc(last.at)}, equity "
            f"{state.equity:,.2f} USDT, positions "
            + (
                ", ".join(f"{p.symbol} {p.qty:g}" for p in last.portfolio.positions if p.qty > 0)
                or "none"
            )
        )
        table = Table(expand=True)
        for column in ("time", "what", "size / confidence", "decision", "venue"):
            table.add_column(column)
        for event in self.events[-15:]:
            table.add_row(*event)
        switch = Text(
            "kill switch ON: orders are refused" if last.kill_switch else "kill switch off",
            style="bold red" if last.kill_switch else "green",
        )
        return Group(header, table, switch)


def _engine_dict(report: EngineDemoReport) -> dict[str, object]:
    state = report.portfolio.state
    return {
        "home": str(report.home),
        "database_url": report.database_url,
        "loops": report.totals.steps,
        "signals": dict(report.totals.signals),
        "orders": dict(report.totals.orders),
        "equity": state.equity,
        "positions": {p.symbol: p.qty for p in report.portfolio.positions if p.qty > 0},
        "kill_switch": kill_switch_dict(report.kill_switch),
        "report": str(report.report),
        "api_url": report.api_url,
    }


def _render_engine_summary(report: EngineDemoReport) -> None:
    out = console()
    totals = report.totals
    out.print()
    out.print(
        f"engine: {totals.steps} loops; signals "
        + (", ".join(f"{k} {v}" for k, v in sorted(totals.signals.items())) or "none")
        + "; orders "
        + (", ".join(f"{k} {v}" for k, v in sorted(totals.orders.items())) or "none"),
        markup=False,
    )
    out.print(f"equity {report.portfolio.state.equity:,.2f} USDT", markup=False)
    if report.kill_switch.active:
        out.print(Text(f"kill switch ACTIVE: {report.kill_switch.reason}", style="bold red"))
    out.print(f"report:   {report.report}", markup=False)
    out.print(f"inspect:  CST_HOME={report.home} cst audit --last 40", markup=False)
    if report.api_url:
        out.print(
            f"API:      served at {report.api_url} during the run; "
            f"CST_HOME={report.home} cst api serves it again",
            markup=False,
        )


def _as_dict(report: DemoReport) -> dict[str, object]:
    state = report.portfolio.state
    return {
        "home": str(report.home),
        "database_url": report.database_url,
        "log_file": str(report.log_file),
        "steps": [
            {
                "number": step.number,
                "title": step.title,
                "at_utc": format_utc(step.at),
                "note": step.note,
                "order": step.result.to_dict() if step.result else None,
            }
            for step in report.steps
        ],
        "equity": state.equity,
        "start_of_day_equity": state.start_of_day_equity,
        "positions": {p.symbol: p.qty for p in report.portfolio.positions},
        "kill_switch": kill_switch_dict(report.kill_switch),
    }


def _render(report: DemoReport) -> None:
    out = console()
    out.print(
        Text("CryptoSmartTrader demo", style="bold")
        + Text(": simulated market, paper venue, SQLite; no network, no keys")
    )
    table = Table()
    table.add_column("#", justify="right")
    table.add_column("scenario / order", ratio=1, min_width=40)
    table.add_column("decision", no_wrap=True)
    table.add_column("gate: reason code", no_wrap=True)
    table.add_column("qty", justify="right", no_wrap=True)
    table.add_column("venue", no_wrap=True)
    verdicts: Counter[str] = Counter()
    for step in report.steps:
        scenario = Text(f"{format_utc(step.at)[11:-1]}  {step.title}\n", style="bold")
        if step.result is None:
            table.add_row(str(step.number), scenario + Text(step.note or "", style="cyan"))
            continue
        decision = step.result.decision
        verdicts[decision.verdict.value] += 1
        code = decision.code.value
        table.add_row(
            str(step.number),
            scenario + Text(describe_intent(step.result), style="dim"),
            verdict_text(decision.verdict.value),
            f"{decision.gate.value}: {code}" if decision.gate else code,
            f"{decision.requested_qty:g} -> {decision.approved_qty:g}",
            step.result.status_label,
        )
    out.print(table)

    state = report.portfolio.state
    pnl = (state.equity - state.start_of_day_equity) / state.start_of_day_equity
    out.print(
        f"equity {state.equity:,.2f} USDT (day {pnl:+.2%}), gross exposure "
        f"{state.gross_exposure:,.2f}, positions: "
        + ", ".join(f"{p.symbol} {p.qty:g}" for p in report.portfolio.positions)
    )
    out.print("decisions: " + ", ".join(f"{k} {v}" for k, v in sorted(verdicts.items())))
    switch = report.kill_switch
    if switch.active:
        out.print(Text(f"kill switch ACTIVE ({switch.actor}): {switch.reason}", style="bold red"))
    out.print(f"database: {report.database_url}")
    out.print(f"JSON log: {report.log_file}")
    out.print(f"inspect:  CST_HOME={report.home} cst audit --last 40")
