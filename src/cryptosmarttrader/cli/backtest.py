"""``cst backtest``: replay candles (a file, or stored ones) through a strategy and the same
gates as live trading."""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from cryptosmarttrader.backtest.report import write_report
from cryptosmarttrader.backtest.runner import BacktestConfig, BacktestResult, Sizing, run_backtest
from cryptosmarttrader.cli.candle_file import load_candle_file, timeframe_option
from cryptosmarttrader.cli.context import CliContext
from cryptosmarttrader.cli.data import open_candle_store
from cryptosmarttrader.cli.errors import CliError, UsageError
from cryptosmarttrader.cli.parsing import parse_symbol
from cryptosmarttrader.cli.render import console, error_console, print_json
from cryptosmarttrader.cli.signals import parse_params
from cryptosmarttrader.config.limits import unrestricted_limits
from cryptosmarttrader.domain.candles import CandleSeries
from cryptosmarttrader.observability.logging import configure_logging
from cryptosmarttrader.signals.strategy import STRATEGIES, StrategyError, build_strategy
from cryptosmarttrader.store.database import DatabaseError

RISK_PROFILES = ("default", "unrestricted")


def backtest(
    ctx: typer.Context,
    data: Path | None = typer.Option(
        None, "--data", help="candle CSV: timestamp_ms,open,high,low,close,volume"
    ),
    stored: str | None = typer.Option(
        None, "--stored", help="instead of --data: stored candles of this source (cst data list)"
    ),
    symbol: str | None = typer.Option(None, "--symbol", help="default: from the file name"),
    timeframe: str | None = typer.Option(None, "--timeframe", help="default: from the file name"),
    strategy: str = typer.Option("ema_cross", "--strategy", help=", ".join(STRATEGIES)),
    param: list[str] = typer.Option([], "--param", help="strategy parameter, k=v; repeatable"),
    cash: float = typer.Option(10_000.0, "--cash", help="starting cash, quote currency"),
    fee: float = typer.Option(0.001, "--fee", help="fee as a fraction of each fill's notional"),
    sizing: Sizing = typer.Option(Sizing.ALL_IN, "--sizing", help="all-in or fraction"),
    fraction: float = typer.Option(
        0.1, "--fraction", help="with --sizing fraction: share of equity at full confidence"
    ),
    risk_profile: str = typer.Option(
        "default", "--risk-profile", help="default (the configured limits) or unrestricted"
    ),
    spread_bps: float = typer.Option(
        1.0, "--spread-bps", help="spread synthesized around each open for the gates"
    ),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object"),
    report: Path | None = typer.Option(
        None, "--report", help="also write a self-contained HTML report to this file"
    ),
) -> None:
    """Replay candles through a strategy and the same order gateway and gates as live trading.

    A signal on bar t fills at bar t+1's open; the last position is marked at the last close.
    """
    cli: CliContext = ctx.obj
    settings = cli.settings()
    if risk_profile not in RISK_PROFILES:
        raise UsageError(f"--risk-profile: choose from {', '.join(RISK_PROFILES)}")
    try:
        chosen = build_strategy(strategy, parse_params(param))
        risk, execution = (
            unrestricted_limits()
            if risk_profile == "unrestricted"
            else (settings.risk, settings.execution)
        )
        config = BacktestConfig(
            strategy=chosen,
            risk=risk,
            execution=execution,
            cash=cash,
            fee=fee,
            sizing=sizing,
            fraction=fraction,
            spread_bps=spread_bps,
        )
    except (StrategyError, ValueError) as exc:
        raise UsageError(str(exc)) from None
    if (data is None) == (stored is None):
        raise UsageError("give either --data FILE or --stored SOURCE")
    if data is not None:
        series = load_candle_file(data, symbol, timeframe)
        origin = str(data)
    else:
        assert stored is not None
        series = _stored_candles(cli, stored, symbol, timeframe)
        origin = f"{stored} {series.symbol} {timeframe} in the database (see cst data list)"
    if len(series) < 2:
        raise UsageError(f"{origin}: {len(series)} candles; a backtest needs at least two")
    # Each order's decision is in the backtest's own audit trail; the log keeps warnings only.
    configure_logging(settings.log_file, "WARNING")
    show_progress = not as_json and sys.stderr.isatty()
    try:
        if show_progress:
            with Progress(
                TextColumn("backtest"),
                BarColumn(),
                TaskProgressColumn(),
                TimeElapsedColumn(),
                console=error_console(),
                transient=True,
            ) as bar:
                task = bar.add_task("replay", total=len(series))
                result = run_backtest(
                    series, config, progress=lambda done, _: bar.update(task, completed=done)
                )
        else:
            result = run_backtest(series, config)
    except DatabaseError as exc:
        raise CliError(str(exc)) from None
    written: Path | None = None
    if report is not None:
        try:
            written = write_report(result, series, report)
        except OSError as exc:
            raise CliError(f"--report {report}: {exc.strerror or exc}") from None
    if as_json:
        print_json({**result.summary(), "report": str(written) if written else None})
    else:
        _render(result, risk_profile)
        if written is not None:
            console().print(f"report: {written}", markup=False)


def _stored_candles(
    cli: CliContext, source: str, symbol: str | None, timeframe: str | None
) -> CandleSeries:
    """Candles from the configured database, as ``cst data import|download`` stored them."""
    if symbol is None or timeframe is None:
        raise UsageError("--stored needs --symbol and --timeframe")
    wanted_symbol, wanted_timeframe = parse_symbol(symbol), timeframe_option(timeframe)
    database, store = open_candle_store(cli)
    try:
        return store.load(source, wanted_symbol, wanted_timeframe)
    except DatabaseError as exc:
        raise CliError(str(exc)) from None
    finally:
        database.dispose()


def _render(result: BacktestResult, risk_profile: str) -> None:
    table = Table(title=f"{result.strategy} on {result.symbol} ({risk_profile} limits)")
    table.add_column("measure")
    table.add_column("value", justify="right")
    win_rate = "-" if result.win_rate is None else f"{result.win_rate:.1%}"
    rows = [
        ("candles", f"{result.candles:,}"),
        ("trades", f"{result.trades:,}"),
        ("final equity", f"{result.final_equity:,.4f}"),
        ("return", f"{result.return_pct:+.2f}%"),
        ("max drawdown", f"{result.max_drawdown_pct:.2f}%"),
        ("sharpe (annualized)", f"{result.sharpe:.2f}"),
        ("win rate", win_rate),
        ("orders through the gateway", f"{result.orders_evaluated:,}"),
        ("elapsed", f"{result.elapsed_s:.2f}s ({result.candles_per_s:,.0f} candles/s)"),
    ]
    for name, value in rows:
        table.add_row(name, value)
    out = console()
    out.print(table)
    if result.rejections:
        rejected = ", ".join(f"{code} {count}" for code, count in result.rejections.items())
        out.print(f"rejected: {rejected}", markup=False)
