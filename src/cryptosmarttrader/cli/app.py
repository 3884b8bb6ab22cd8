"""The ``cst`` command: every face error becomes one line on stderr and an exit status."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import typer

from cryptosmarttrader import __version__
from cryptosmarttrader.cli.api import api
from cryptosmarttrader.cli.audit import audit
from cryptosmarttrader.cli.backtest import backtest
from cryptosmarttrader.cli.context import CliContext
from cryptosmarttrader.cli.dashboard import dashboard
from cryptosmarttrader.cli.data import data_app
from cryptosmarttrader.cli.demo import demo
from cryptosmarttrader.cli.doctor import doctor
from cryptosmarttrader.cli.errors import EXIT_FAILURE, EXIT_USAGE, CliError
from cryptosmarttrader.cli.kill_switch import kill_switch_app
from cryptosmarttrader.cli.order import order
from cryptosmarttrader.cli.paper_exchange import paper_exchange
from cryptosmarttrader.cli.reconcile import reconcile
from cryptosmarttrader.cli.render import error_console, print_json
from cryptosmarttrader.cli.run import run
from cryptosmarttrader.cli.signals import signals_app
from cryptosmarttrader.observability.logging import get_logger
from cryptosmarttrader.store.database import redact_url

app = typer.Typer(
    name="cst",
    help="CryptoSmartTrader: every order through one RiskGuard, one ExecutionPolicy, one gateway.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        sys.stdout.write(f"cst {__version__}\n")
        raise typer.Exit(0)


@app.callback()
def root(
    ctx: typer.Context,
    config: Path | None = typer.Option(
        None,
        "--config",
        help="TOML or YAML config file [default: $CST_CONFIG, $CST_HOME/config.toml]",
    ),
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="print the version"
    ),
) -> None:
    ctx.obj = CliContext(config_path=config)


@app.command("config")
def show_config(ctx: typer.Context) -> None:
    """Print the effective configuration as JSON (database password hidden)."""
    cli: CliContext = ctx.obj
    settings = cli.settings()
    data = settings.model_dump(mode="json")
    data["database_url"] = redact_url(settings.resolved_database_url)
    print_json(data)


app.command("order", context_settings={"ignore_unknown_options": True})(order)
app.add_typer(kill_switch_app, name="kill-switch")
app.command("audit")(audit)
app.command("demo")(demo)
app.command("reconcile")(reconcile)
app.command("paper-exchange")(paper_exchange)
app.add_typer(data_app, name="data")
app.command("backtest")(backtest)
app.add_typer(signals_app, name="signals")
app.command("run")(run)
app.command("api")(api)
app.command("dashboard")(dashboard)
app.command("doctor")(doctor)


def main(argv: Sequence[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    errors = error_console()
    try:
        code = app(args=args or ["--help"], standalone_mode=False, prog_name="cst")
    except CliError as exc:
        errors.print(f"error: {exc.message}", markup=False)
        code = exc.exit_code
    except typer.TyperException as exc:
        message = " ".join(exc.format_message().split())
        errors.print(f"error: {message}", markup=False)
        code = getattr(exc, "exit_code", EXIT_USAGE)
    except (typer.Abort, KeyboardInterrupt):
        errors.print("aborted", markup=False)
        code = 130
    except Exception as exc:  # noqa: BLE001 - last resort: one line, details in the log
        get_logger("cli").exception("cli.crashed", argv=args)
        errors.print(
            f"error: internal error ({type(exc).__name__}: {exc}); details in the JSON log",
            markup=False,
        )
        code = EXIT_FAILURE
    raise SystemExit(code if isinstance(code, int) else 0)
