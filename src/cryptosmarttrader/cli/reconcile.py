"""``cst reconcile``: make the database agree with the venue and print what changed."""

from __future__ import annotations

import typer
from rich.table import Table

from cryptosmarttrader.cli.context import CliContext
from cryptosmarttrader.cli.errors import EXIT_FAILURE, EXIT_OK
from cryptosmarttrader.cli.render import console, print_json
from cryptosmarttrader.execution.reconciliation import ReconcileReport


def reconcile(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="print one JSON object"),
    wait: float = typer.Option(
        0.0,
        "--wait",
        min=0.0,
        max=600.0,
        help="seconds to wait for orders too young to close as never-arrived",
    ),
    live: bool = typer.Option(False, "--live", help="confirm a real venue (binance, kraken)"),
) -> None:
    """Resolve every open order by client order id, import ours the database lacks, re-sync
    positions and cash. Exit status 0 when everything is resolved, 1 when something is left."""
    cli: CliContext = ctx.obj
    with cli.open_system(live=live) as system:
        report = system.gateway.start(wait_s=wait)
    if as_json:
        print_json(report.to_dict())
    else:
        _render(report)
    raise typer.Exit(EXIT_OK if report.clean else EXIT_FAILURE)


def _render(report: ReconcileReport) -> None:
    out = console()
    out.print(
        f"checked {report.checked} open orders: {report.unchanged} unchanged, "
        f"{len(report.changed)} changed, {len(report.imported)} imported, "
        f"{len(report.pending)} pending, {len(report.holdings)} holdings re-synced, "
        f"{len(report.errors)} errors",
        markup=False,
    )
    if report.changed or report.imported:
        table = Table("client order id", "symbol", "before", "after", "filled", "note")
        for change in (*report.changed, *report.imported):
            table.add_row(
                change.client_order_id,
                change.symbol,
                change.before,
                change.after,
                f"{change.filled_qty:g}",
                change.note,
            )
        out.print(table)
    for pending in report.pending:
        out.print(
            f"pending {pending.client_order_id} ({pending.status}): {pending.reason}", markup=False
        )
    for holding in report.holdings:
        out.print(
            f"re-synced {holding.asset}: {holding.before:.10g} -> {holding.after:.10g}",
            markup=False,
        )
    if report.holdings_skipped:
        out.print(f"holdings not compared: {report.holdings_skipped}", markup=False)
    for error in report.errors:
        out.print(f"error: {error}", markup=False)
