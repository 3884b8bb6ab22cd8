"""``cst paper-exchange``: the Binance-compatible paper exchange on 127.0.0.1."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import typer

from cryptosmarttrader.cli.errors import UsageError
from cryptosmarttrader.cli.render import error_console
from cryptosmarttrader.domain.candles import CandleFormatError, read_candle_file
from cryptosmarttrader.exchanges.paper.binance_dialect import DEMO_API_KEY, DEMO_API_SECRET
from cryptosmarttrader.exchanges.paper.faults import FaultRule, FaultSpecError, parse_fault
from cryptosmarttrader.exchanges.paper.market import MarketModel, SimulatedMarket
from cryptosmarttrader.exchanges.paper.replay import ReplayMarket
from cryptosmarttrader.exchanges.paper.server import (
    DEFAULT_PORT,
    DEFAULT_WEIGHT_LIMIT,
    PaperExchange,
    PaperExchangeConfig,
    serve_forever,
)
from cryptosmarttrader.observability.logging import configure_logging


def paper_exchange(
    host: str = typer.Option("127.0.0.1", "--host", help="address to bind"),
    port: int = typer.Option(DEFAULT_PORT, "--port", min=0, max=65535, help="port to bind"),
    api_key: str = typer.Option(
        DEMO_API_KEY, "--api-key", envvar="CST_PAPER_API_KEY", help="the key clients must send"
    ),
    api_secret: str = typer.Option(
        DEMO_API_SECRET,
        "--api-secret",
        envvar="CST_PAPER_API_SECRET",
        help="the HMAC secret clients sign with",
        show_default=False,
    ),
    seed: int = typer.Option(7, "--seed", min=0, help="seed of the simulated market"),
    replay: Path | None = typer.Option(
        None, "--replay", help="replay a candle CSV (timestamp_ms,open,high,low,close,volume)"
    ),
    replay_symbol: str | None = typer.Option(
        None, "--replay-symbol", help="symbol of the replayed file [default: from its name]"
    ),
    replay_timeframe: str | None = typer.Option(
        None, "--replay-timeframe", help="candle interval of the file [default: from its name]"
    ),
    speed: float = typer.Option(
        1.0, "--speed", help="replay speed: candle seconds per wall-clock second"
    ),
    weight_limit: int = typer.Option(
        DEFAULT_WEIGHT_LIMIT, "--weight-limit", min=1, help="request weight allowed per minute"
    ),
    balance: float = typer.Option(10_000.0, "--balance", help="quote balance of the account"),
    fee_rate: float = typer.Option(0.001, "--fee-rate", help="fee per fill, fraction of notional"),
    state_file: Path | None = typer.Option(
        None, "--state-file", help="keep balances and orders in this JSON file across restarts"
    ),
    faults: list[str] = typer.Option(
        [],
        "--fault",
        help="inject a fault: KIND[=PARAM]@[METHOD ]PATH[#COUNT][%PROB], repeatable "
        "(e.g. 'http_503@/api/v3/order#2')",
    ),
) -> None:
    """Serve a Binance-compatible spot REST API over the simulated market (or a replay).

    Orders and injected faults are logged as JSON lines on stderr."""
    configure_logging(None, "INFO")
    if host not in ("127.0.0.1", "localhost", "::1"):
        error_console().print(
            f"warning: binding {host}: the paper exchange is reachable beyond this machine",
            markup=False,
        )
    if not (balance > 0 and 0 <= fee_rate <= 0.05 and speed > 0):
        raise UsageError("--balance must be > 0, --fee-rate in [0, 0.05], --speed > 0")
    rules: list[FaultRule] = []
    for spec in faults:
        try:
            rules.append(parse_fault(spec))
        except FaultSpecError as exc:
            raise UsageError(str(exc)) from None
    market: MarketModel
    if replay is not None:
        try:
            series = read_candle_file(replay, symbol=replay_symbol, timeframe=replay_timeframe)
        except OSError as exc:
            raise UsageError(f"--replay {replay}: {exc.strerror or exc}") from None
        except (CandleFormatError, ValueError) as exc:
            raise UsageError(f"--replay {replay}: {exc}") from None
        market = ReplayMarket(series, start_ts=time.time(), speed=speed)
    else:
        market = SimulatedMarket(seed=seed)
    exchange = PaperExchange(
        market,
        PaperExchangeConfig(
            api_key=api_key,
            api_secret=api_secret,
            weight_limit=weight_limit,
            initial_balances={market.quote: balance},
            fee_rate=fee_rate,
            state_file=state_file,
            faults=tuple(rules),
        ),
    )

    def ready(url: str) -> None:
        source = (
            f"replay of {replay.name} at {speed:g}x"
            if replay
            else f"simulated market (seed {seed})"
        )
        typer.echo(f"paper exchange listening on {url}  ({source}; {len(market.symbols)} symbols)")
        key = f"the demo key {DEMO_API_KEY}" if api_key == DEMO_API_KEY else "your API key"
        typer.echo(f"  clients sign with {key}; stats at {url}/_paper/stats; Ctrl-C stops it")

    try:
        asyncio.run(serve_forever(exchange, host=host, port=port, ready=ready))
    except OSError as exc:
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    except KeyboardInterrupt:
        typer.echo("paper exchange stopped")
