"""``cst data``: candle history — download from an exchange, import a CSV file, list."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime
from pathlib import Path

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from cryptosmarttrader.cli.candle_file import load_candle_file, timeframe_option
from cryptosmarttrader.cli.context import CliContext
from cryptosmarttrader.cli.errors import CliError, UsageError
from cryptosmarttrader.cli.parsing import parse_symbol
from cryptosmarttrader.cli.render import console, error_console, print_json
from cryptosmarttrader.config.settings import ConfigError
from cryptosmarttrader.data.client import MarketDataError
from cryptosmarttrader.data.history import DownloadResult, HistoryError, download, plan_download
from cryptosmarttrader.domain.candles import TIMEFRAME_SECONDS, timeframe_of
from cryptosmarttrader.domain.clock import format_utc
from cryptosmarttrader.observability.logging import configure_logging
from cryptosmarttrader.runtime.market_data import DATA_SOURCES, open_market_data_client
from cryptosmarttrader.store.candle_store import CandleStore, find_gaps
from cryptosmarttrader.store.database import Database, DatabaseError

data_app = typer.Typer(
    help="Candle history: download, import and list what is stored.", no_args_is_help=True
)


def open_candle_store(cli: CliContext) -> tuple[Database, CandleStore]:
    """The configured database (schema created) and its candle store; the caller disposes of
    the database."""
    settings = cli.settings()
    configure_logging(settings.log_file, settings.log_level)
    try:
        database = Database(settings.resolved_database_url)
        database.create_schema()
    except DatabaseError as exc:
        raise CliError(str(exc)) from None
    return database, CandleStore(database)


def _date(text: str) -> int:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(f"--since: {text!r} is not a date like 2024-01-31") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


@data_app.command("download")
def download_command(
    ctx: typer.Context,
    exchange: str = typer.Option(..., "--exchange", help="paper-exchange, binance or kraken"),
    symbols: str = typer.Option(..., "--symbols", help="comma-separated, e.g. BTC/USDT,ETH/USDT"),
    timeframe: str = typer.Option("1h", "--timeframe", help="candle interval"),
    since: str = typer.Option(..., "--since", help="first day (UTC), e.g. 2024-01-01"),
) -> None:
    """Fetch candle history page by page; a second run resumes after the last stored candle."""
    cli: CliContext = ctx.obj
    wanted = [parse_symbol(s.strip()) for s in symbols.split(",") if s.strip()]
    if not wanted:
        raise UsageError("--symbols: give at least one symbol")
    if exchange not in DATA_SOURCES:
        raise UsageError(f"--exchange: choose from {', '.join(DATA_SOURCES)}")
    timeframe = timeframe_option(timeframe)
    since_ms = _date(since)
    settings = cli.settings()
    database, store = open_candle_store(cli)
    try:
        client = open_market_data_client(settings, (exchange,))
    except ConfigError as exc:
        raise UsageError(str(exc)) from None
    out = console()
    results: list[DownloadResult] = []

    async def run() -> None:
        try:
            with Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                console=error_console(),
                transient=False,
            ) as progress:
                for symbol in wanted:
                    plan = plan_download(store, exchange, symbol, timeframe, since_ms)
                    note = " (resuming)" if plan.resumed else ""
                    task = progress.add_task(f"{symbol} {timeframe}{note}", total=plan.expected)

                    def advance(count: int, task: TaskID = task) -> None:
                        progress.advance(task, count)

                    results.append(
                        await download(client, store, exchange, timeframe, plan, on_page=advance)
                    )
        finally:
            await client.close()

    try:
        asyncio.run(run())
    except (MarketDataError, HistoryError) as exc:
        raise CliError(f"{exc} (what was downloaded so far is kept; run again to resume)") from None
    except DatabaseError as exc:
        raise CliError(str(exc)) from None
    finally:
        database.dispose()
    for result in results:
        out.print(
            f"{result.symbol}: {result.fetched} candles fetched in {result.pages} requests, "
            f"{result.new} new",
            markup=False,
        )


@data_app.command("import")
def import_command(
    ctx: typer.Context,
    file: Path = typer.Argument(..., help="CSV: timestamp_ms,open,high,low,close,volume"),
    symbol: str | None = typer.Option(None, "--symbol", help="default: from the file name"),
    timeframe: str | None = typer.Option(None, "--timeframe", help="default: from the file name"),
    source: str = typer.Option("file", "--source", help="name the candles are stored under"),
) -> None:
    """Load a candle CSV (the format of the shared data folder).

    Rows already stored are skipped, so importing twice changes nothing.
    """
    cli: CliContext = ctx.obj
    if not source or len(source) > 32:
        raise UsageError("--source: 1 to 32 characters")
    series = load_candle_file(file, symbol, timeframe)
    timeframe = timeframe_of(series.interval_s)
    assert timeframe is not None  # read_candle_file accepts only known timeframes
    database, store = open_candle_store(cli)
    try:
        new = store.insert(source, timeframe, series)
    except DatabaseError as exc:
        raise CliError(str(exc)) from None
    finally:
        database.dispose()
    step_ms = TIMEFRAME_SECONDS[timeframe] * 1000
    gaps = find_gaps((series.open_ts * 1000).round().astype("int64"), step_ms)
    console().print(
        f"{file.name}: {len(series)} candles of {series.symbol} {timeframe}, {new} new, "
        f"{len(series) - new} already stored; {len(gaps)} gaps "
        f"({sum(g.missing for g in gaps)} missing candles)",
        markup=False,
    )


@data_app.command("list")
def list_command(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="print one JSON object"),
) -> None:
    """What candle history is stored: coverage, count and gaps per series."""
    cli: CliContext = ctx.obj
    database, store = open_candle_store(cli)
    try:
        coverage = store.coverage()
    except DatabaseError as exc:
        raise CliError(str(exc)) from None
    finally:
        database.dispose()
    if as_json:
        print_json(
            {
                "series": [
                    {
                        **{k: v for k, v in dataclasses.asdict(c).items() if k != "gaps"},
                        "missing": c.missing,
                        "gaps": [dataclasses.asdict(g) for g in c.gaps],
                    }
                    for c in coverage
                ]
            }
        )
        return
    out = console()
    if not coverage:
        out.print("no candles stored; use `cst data import` or `cst data download`", markup=False)
        return
    table = Table("source", "symbol", "timeframe", "first", "last", "candles", "gaps", "missing")
    for c in coverage:
        table.add_row(
            c.source,
            c.symbol,
            c.timeframe,
            format_utc(c.first_ms / 1000),
            format_utc(c.last_ms / 1000),
            str(c.count),
            str(len(c.gaps)),
            str(c.missing),
        )
    out.print(table)
