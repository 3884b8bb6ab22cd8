"""``cst demo``: the scripted session on the simulated market, rendered as a table."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import typer
from rich.table import Table
from rich.text import Text

from cryptosmarttrader.cli.render import (
    console,
    describe_intent,
    kill_switch_dict,
    print_json,
    verdict_text,
)
from cryptosmarttrader.config.settings import default_home
from cryptosmarttrader.domain.clock import format_utc
from cryptosmarttrader.observability.logging import configure_logging
from cryptosmarttrader.runtime.demo import DemoReport, demo_settings, run_demo


def _demo_home() -> Path:
    home = Path(os.environ["CST_HOME"]) if os.environ.get("CST_HOME") else default_home()
    return home / "demo"


def demo(as_json: bool = typer.Option(False, "--json", help="print the steps as JSON")) -> None:
    """Run a scripted session on the simulated market through every gate.

    Uses the embedded defaults (SQLite, paper venue, simulated clock): no network, no keys,
    and never your own database. Its files go to $CST_HOME/demo and are replaced on each run.
    """
    home = _demo_home()
    configure_logging(demo_settings(home).log_file)
    report = run_demo(home)
    if as_json:
        print_json(_as_dict(report))
    else:
        _render(report)


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
