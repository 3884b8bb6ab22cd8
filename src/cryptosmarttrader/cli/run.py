"""``cst run``: the trading engine, until stopped (Ctrl-C or SIGTERM) or for N loops."""

from __future__ import annotations

import signal
import threading
from types import FrameType

import typer

from cryptosmarttrader.api.server import ApiUnavailableError, BackgroundApi
from cryptosmarttrader.cli.api import start_background_api
from cryptosmarttrader.cli.context import CliContext
from cryptosmarttrader.cli.errors import CliError, UsageError
from cryptosmarttrader.cli.render import console, print_json
from cryptosmarttrader.config.settings import ConfigError
from cryptosmarttrader.domain.clock import format_utc
from cryptosmarttrader.engine.loop import EngineFailedError, EngineTotals, StepReport
from cryptosmarttrader.runtime.engine import open_engine
from cryptosmarttrader.store.database import DatabaseError


def run(
    ctx: typer.Context,
    max_steps: int | None = typer.Option(
        None, "--max-steps", min=1, help="stop after this many loops [default: run until stopped]"
    ),
    live: bool = typer.Option(False, "--live", help="confirm real orders on binance or kraken"),
    exchange: str | None = typer.Option(
        None, "--exchange", help="paper fills on this exchange's public data (binance, kraken)"
    ),
    as_json: bool = typer.Option(False, "--json", help="print one JSON summary at the end"),
    serve_api: bool = typer.Option(
        True, "--api/--no-api", help="serve the HTTP API (api.host:api.port) while running"
    ),
) -> None:
    """Run the engine on the configured venue (the simulated market by default), or with
    --exchange on a real exchange's public data with paper fills (no keys, nothing sent).

    Each loop marks positions to market, applies stop-loss and take-profit, and acts on the
    signals of newly closed candles, every order through the gateway. SIGINT or SIGTERM stops
    it after the current loop; a restart reconciles with the venue and carries on. A failed
    loop is reported and the next one reconciles first; engine.max_failed_loops failures in a
    row stop it (exit 1).
    """
    cli: CliContext = ctx.obj
    system = cli.open_system(live=live, data_exchange=exchange)
    stop = threading.Event()

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    out = console()
    server: BackgroundApi | None = None
    try:
        try:
            engine = open_engine(system)
            if serve_api:
                server = start_background_api(system, engine)
            report = system.gateway.start()
        except ConfigError as exc:
            raise UsageError(str(exc)) from None
        except ApiUnavailableError as exc:
            raise CliError(f"{exc} (choose another with CST_API__PORT, or --no-api)") from None
        if not as_json:
            out.print(
                f"engine: {engine.strategy.name} on {', '.join(engine.settings.symbols)} "
                f"({engine.settings.timeframe}), venue {system.settings.venue}"
                f"{f' on {exchange} data' if exchange else ''}; "
                f"reconciliation {'clean' if report.clean else 'left work: see cst reconcile'}"
                f"{f'; API on {server.url}' if server else ''}",
                markup=False,
            )

        def show(step: StepReport) -> None:
            if not as_json:
                _print_step(step)

        def show_failure(message: str) -> None:
            if not as_json:
                out.print(
                    f"loop failed ({engine.failed_in_a_row} of at most "
                    f"{engine.settings.max_failed_loops} in a row): {message}",
                    markup=False,
                )

        totals = engine.run(stop, max_steps=max_steps, on_step=show, on_failure=show_failure)
    except DatabaseError as exc:
        raise CliError(str(exc)) from None
    except EngineFailedError as exc:
        raise CliError(f"{exc} (a restart reconciles with the venue and carries on)") from None
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if server is not None:
            server.stop()
        system.close()
    if as_json:
        print_json(_totals(totals))
    else:
        out.print(f"stopped after {totals.steps} loops: {_totals(totals)}", markup=False)


def _totals(totals: EngineTotals) -> dict[str, object]:
    return {
        "steps": totals.steps,
        "signals": dict(totals.signals),
        "orders": dict(totals.orders),
        "errors": totals.errors,
    }


def _print_step(step: StepReport) -> None:
    out = console()
    state = step.portfolio.state
    parts = [f"{format_utc(step.at)} equity {state.equity:,.2f}"]
    parts.extend(
        f"{view.symbol} {view.kind} conf {view.confidence:.2f} q {view.quality_score:.2f} "
        f"{view.code}"
        for view in step.signals
    )
    for result in step.orders:
        decision = result.decision
        parts.append(
            f"{result.side} {result.symbol} {decision.verdict} {decision.code} "
            f"{result.status_label} {result.filled_qty:g}"
        )
    parts.extend(f"error: {error}" for error in step.errors)
    out.print(" | ".join(parts), markup=False)
