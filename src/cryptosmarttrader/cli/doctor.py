"""``cst doctor``: what is wrong with this installation and how to fix it."""

from __future__ import annotations

import typer
from rich.table import Table
from rich.text import Text

from cryptosmarttrader.cli.context import CliContext
from cryptosmarttrader.cli.errors import CliError
from cryptosmarttrader.cli.render import console, print_json
from cryptosmarttrader.runtime.doctor import CheckStatus, run_checks

STYLES = {CheckStatus.OK: "green", CheckStatus.WARN: "yellow", CheckStatus.FAIL: "bold red"}


def doctor(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="print the checks as JSON"),
) -> None:
    """Check the configuration, database, cache, exchange connectivity and clock skew, and
    that credentials are present (never shown). Exits 1 when a check fails."""
    cli: CliContext = ctx.obj
    checks = run_checks(cli.settings())
    if as_json:
        print_json({"checks": [c.to_dict() for c in checks]})
    else:
        table = Table(title="cst doctor")
        for column in ("check", "status", "detail", "fix"):
            table.add_column(column, overflow="fold")
        for check in checks:
            table.add_row(
                check.name,
                Text(check.status.value, style=STYLES[check.status]),
                check.detail,
                check.fix or "",
            )
        console().print(table)
    failed = [c.name for c in checks if c.status is CheckStatus.FAIL]
    if failed:
        raise CliError(f"failed: {', '.join(failed)}")
