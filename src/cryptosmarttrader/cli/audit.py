"""``cst audit``: the newest decisions and events from the audit trail."""

from __future__ import annotations

import typer
from rich.table import Table
from rich.text import Text

from cryptosmarttrader.cli.context import CliContext
from cryptosmarttrader.cli.render import console, print_json, verdict_text
from cryptosmarttrader.domain.clock import format_utc
from cryptosmarttrader.store.queries import recent_audit


def audit(
    ctx: typer.Context,
    last: int = typer.Option(20, "--last", min=1, max=10_000, help="how many rows"),
    as_json: bool = typer.Option(False, "--json", help="print a JSON array"),
) -> None:
    """Show the newest audit rows (decisions, order results, kill switch changes)."""
    cli: CliContext = ctx.obj
    with cli.open_system() as system:
        entries = recent_audit(system.database, last)
    if as_json:
        print_json([entry.to_dict() for entry in entries])
        return
    table = Table(title=f"last {len(entries)} audit rows (UTC)")
    for column in ("time", "kind", "client order id"):
        table.add_column(column, no_wrap=True)
    for column in ("order", "decision"):
        table.add_column(column)
    table.add_column("message", min_width=30, ratio=1)
    for entry in entries:
        qty = entry.requested_qty if entry.requested_qty is not None else entry.approved_qty
        order = " ".join(
            part
            for part in (
                entry.side or "",
                f"{qty:g}" if qty is not None else "",
                entry.symbol or "",
            )
            if part
        )
        decision = Text(entry.reason_code)
        if entry.verdict:
            gate = f" {entry.gate}:" if entry.gate else ""
            decision = verdict_text(entry.verdict).append(f"{gate} {entry.reason_code}")
        table.add_row(
            format_utc(entry.at)[5:],
            entry.kind,
            entry.client_order_id or "-",
            order or "-",
            decision,
            entry.message,
        )
    console().print(table)
