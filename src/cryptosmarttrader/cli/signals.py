"""``cst signals``: validating strategies out of sample."""

from __future__ import annotations

import json
import time
from pathlib import Path

import typer
from rich.table import Table

from cryptosmarttrader.cli.candle_file import load_candle_file
from cryptosmarttrader.cli.context import CliContext
from cryptosmarttrader.cli.errors import CliError, UsageError
from cryptosmarttrader.cli.parsing import parse_symbol
from cryptosmarttrader.cli.render import console, print_json
from cryptosmarttrader.config.settings import ConfigError
from cryptosmarttrader.domain.clock import format_utc
from cryptosmarttrader.runtime.engine import open_engine
from cryptosmarttrader.signals.strategy import STRATEGIES, StrategyError, build_strategy
from cryptosmarttrader.signals.validation import FoldMode, ValidationReport, walk_forward
from cryptosmarttrader.store.database import DatabaseError

signals_app = typer.Typer(
    help="Strategy signals: the current ones (with what the gates would say), and their "
    "out-of-sample validation."
)


@signals_app.callback(invoke_without_command=True)
def current(
    ctx: typer.Context,
    symbols: str | None = typer.Option(
        None, "--symbols", help="comma-separated [default: engine.symbols]"
    ),
    exchange: str | None = typer.Option(
        None, "--exchange", help="judge on this exchange's public data (binance, kraken)"
    ),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object"),
) -> None:
    """The newest closed candle's signal per symbol, its confidence and data quality, and the
    gates' verdict on the order the engine would send (a dry run: nothing is stored or sent)."""
    if ctx.invoked_subcommand is not None:
        return
    cli: CliContext = ctx.obj
    settings = cli.settings()
    wanted = (
        tuple(parse_symbol(s.strip()) for s in symbols.split(",") if s.strip())
        if symbols
        else settings.engine.symbols
    )
    if not wanted:
        raise UsageError("--symbols: give at least one symbol")
    system = cli.open_system(data_exchange=exchange)
    try:
        try:
            engine = open_engine(system)
        except ConfigError as exc:
            raise UsageError(str(exc)) from None
        unknown = set(wanted) - set(system.gateway.instruments)
        if unknown:
            raise UsageError(f"--symbols: {', '.join(sorted(unknown))} not listed")
        rows = []
        for symbol in wanted:
            try:
                view, verdict = engine.preview(symbol)
            except ValueError as exc:
                raise CliError(str(exc)) from None
            rows.append((view, verdict))
    except DatabaseError as exc:
        raise CliError(str(exc)) from None
    finally:
        system.close()
    if as_json:
        print_json(
            {
                "strategy": engine.strategy.name,
                "timeframe": engine.settings.timeframe,
                "signals": [
                    {**view.to_dict(), "gates": verdict.to_dict() if verdict else None}
                    for view, verdict in rows
                ],
            }
        )
        return
    table = Table(title=f"{engine.strategy.name} signals ({engine.settings.timeframe} candles)")
    for column in ("symbol", "candle", "signal", "confidence", "quality", "reason", "gates"):
        table.add_column(column)
    for view, verdict in rows:
        gates = "-"
        if verdict is not None:
            decision = verdict.decision
            gates = f"{decision.verdict} {decision.code} qty {decision.approved_qty:g}"
        table.add_row(
            view.symbol,
            format_utc(view.bar_ts),
            str(view.kind or "none"),
            f"{view.confidence:.2f}" if view.kind else "-",
            f"{view.quality_score:.2f}" + (f" ({view.findings[0]})" if view.findings else ""),
            str(view.code) if view.kind else "-",
            gates,
        )
    console().print(table)


def parse_params(pairs: list[str]) -> dict[str, str]:
    """``["fast=12", "slow=26"]`` -> ``{"fast": "12", "slow": "26"}``."""
    params: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise UsageError(f"--param: expected key=value, got {pair!r}")
        params[key.strip()] = value.strip()
    return params


@signals_app.command("validate")
def validate(
    ctx: typer.Context,
    data: Path = typer.Option(..., "--data", help="candle CSV"),
    strategy: str = typer.Option("ema_cross", "--strategy", help=", ".join(STRATEGIES)),
    param: list[str] = typer.Option([], "--param", help="strategy parameter, k=v; repeatable"),
    symbol: str | None = typer.Option(None, "--symbol", help="default: from the file name"),
    timeframe: str | None = typer.Option(None, "--timeframe", help="default: from the file name"),
    folds: int = typer.Option(5, "--folds", help="test blocks after the first training block"),
    mode: FoldMode = typer.Option(FoldMode.EXPANDING, "--mode", help="expanding or rolling"),
    horizon: int = typer.Option(12, "--horizon", help="bars an entry is judged over"),
    fee: float = typer.Option(0.001, "--fee", help="fee per fill, fraction of notional"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object"),
) -> None:
    """Walk-forward evaluation of a strategy's entries, with confidence calibrated on the
    folds before each test fold."""
    cli: CliContext = ctx.obj
    settings = cli.settings()
    try:
        chosen = build_strategy(strategy, parse_params(param))
    except StrategyError as exc:
        raise UsageError(str(exc)) from None
    series = load_candle_file(data, symbol, timeframe)
    try:
        report = walk_forward(series, chosen, folds=folds, mode=mode, horizon=horizon, fee=fee)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    result = {
        "symbol": series.symbol,
        "candles": len(series),
        "validated_at": time.time(),
        **report.to_dict(),
    }
    _save_latest(settings.validation_file, result)
    if as_json:
        print_json(result)
    else:
        _render(report, series.symbol)


def _save_latest(path: Path, result: dict[str, object]) -> None:
    """Keep the report for the dashboard; written whole or not at all."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps(result, default=str), encoding="utf-8")
    partial.replace(path)


def _pct(value: object) -> str:
    return "-" if not isinstance(value, float) else f"{value:+.3%}"


def _rate(value: object) -> str:
    return "-" if not isinstance(value, float) else f"{value:.1%}"


def _num(value: object) -> str:
    return "-" if not isinstance(value, float) else f"{value:.4f}"


def _render(report: ValidationReport, symbol: str) -> None:
    out = console()
    table = Table(
        title=f"{report.strategy} on {symbol}: walk-forward ({report.mode}), "
        f"horizon {report.horizon} bars, fee {report.fee:g}"
    )
    for column in (
        "fold",
        "test from",
        "signals",
        "hit rate",
        "mean return",
        "Brier",
        "Brier (base rate)",
        "random hit rate",
        "random return",
        "buy & hold",
    ):
        table.add_column(column, justify="right")
    for fold in report.folds:
        row = fold.to_dict()
        random_entry = row["random_entry"]
        assert isinstance(random_entry, dict)
        table.add_row(
            str(fold.index),
            format_utc(fold.test_start_ts),
            str(row["signals"]),
            _rate(row["hit_rate"]),
            _pct(row["mean_return"]),
            _num(row["brier"]),
            _num(row["brier_base_rate"]),
            _rate(random_entry["hit_rate"]),
            _pct(random_entry["mean_return"]),
            _pct(row["buy_and_hold_return"]),
        )
    overall = report.overall()
    table.add_row(
        "all",
        "",
        str(overall["signals"]),
        _rate(overall["hit_rate"]),
        _pct(overall["mean_return"]),
        _num(overall["brier"]),
        "",
        "",
        _pct(overall["random_entry_mean_return"]),
        _pct(overall["buy_and_hold_mean_return"]),
    )
    out.print(table)
    reliability = Table(title="reliability (all folds): confidence against what happened")
    for column in ("confidence", "signals", "mean confidence", "hit rate"):
        reliability.add_column(column, justify="right")
    bins = overall["reliability"]
    assert isinstance(bins, list)
    for b in bins:
        reliability.add_row(
            f"{b['low']:.1f}–{b['high']:.1f}",
            str(b["signals"]),
            f"{b['mean_confidence']:.3f}",
            f"{b['hit_rate']:.3f}",
        )
    out.print(reliability)
