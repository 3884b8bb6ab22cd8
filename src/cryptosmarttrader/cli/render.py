"""Terminal and JSON output shared by the commands."""

from __future__ import annotations

import json
import math
import os
import sys
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from cryptosmarttrader.domain.clock import format_utc
from cryptosmarttrader.domain.decisions import Verdict
from cryptosmarttrader.domain.kill_switch import KillSwitchState
from cryptosmarttrader.execution.gateway import SubmitResult

VERDICT_STYLE = {
    Verdict.APPROVE.value: "bold green",
    Verdict.REDUCE.value: "bold yellow",
    Verdict.REJECT.value: "bold red",
}


def console() -> Console:
    """stdout console; when not a terminal, wide enough that tables stay readable in logs."""
    if sys.stdout.isatty():
        return Console()
    return Console(width=int(os.environ.get("COLUMNS", "160")), color_system=None)


def error_console() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True)


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def print_json(value: Any) -> None:
    """Strict JSON on stdout: NaN and infinities become null."""
    sys.stdout.write(json.dumps(_finite(value), allow_nan=False, default=str) + "\n")


def verdict_text(verdict: str) -> Text:
    return Text(verdict, style=VERDICT_STYLE.get(verdict, ""))


def describe_intent(result: SubmitResult) -> str:
    price = f" @ {result.price:.10g}" if isinstance(result.price, float) else ""
    tif = f" {result.time_in_force.value}" if result.time_in_force else ""
    qty = result.decision.requested_qty
    shown_qty = f"{qty:g}" if isinstance(qty, float) else str(qty)
    return f"{result.side} {shown_qty} {result.symbol}{price} {result.order_type}{tif}"


def render_submit(result: SubmitResult) -> None:
    decision = result.decision
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="dim")
    table.add_column()
    table.add_row("decision", verdict_text(decision.verdict.value))
    table.add_row("order", describe_intent(result))
    table.add_row("gate", decision.gate.value if decision.gate else "-")
    table.add_row("reason", f"{decision.code.value}: {decision.message}")
    table.add_row("qty", f"{decision.requested_qty:g} -> {decision.approved_qty:g}")
    table.add_row("client order id", result.client_order_id)
    status = result.status_label
    if result.sent:
        status += f"  filled {result.filled_qty:g}"
        if result.avg_fill_price is not None:
            status += f" @ {result.avg_fill_price:.10g}"
        if result.message:
            status += f"  ({result.message})"
    table.add_row("status", status)
    if decision.kill_switch_trigger:
        table.add_row("kill switch", Text(decision.kill_switch_trigger, style="bold red"))
    console().print(table)


def render_kill_switch(state: KillSwitchState, headline: str | None = None) -> None:
    out = console()
    if headline:
        out.print(headline)
    label = Text("ACTIVE", style="bold red") if state.active else Text("inactive", style="green")
    out.print(Text("kill switch: ").append(label))
    if state.changed_at is not None:
        out.print(f"  since  {format_utc(state.changed_at)}")
        out.print(f"  by     {state.actor or '-'}")
        out.print(f"  reason {state.reason or '-'}")
