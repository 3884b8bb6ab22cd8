"""``cst order buy|sell SYMBOL QTY``: one order through every gate."""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Mapping

import typer

from cryptosmarttrader.cli.context import CliContext
from cryptosmarttrader.cli.errors import EXIT_FAILURE, EXIT_OK, CliError, UsageError
from cryptosmarttrader.cli.parsing import (
    parse_order_type,
    parse_positive,
    parse_side,
    parse_symbol,
    parse_time_in_force,
)
from cryptosmarttrader.cli.render import print_json, render_submit
from cryptosmarttrader.domain.orders import OrderIntent, OrderStatus, OrderType, Side
from cryptosmarttrader.domain.symbols import Instrument
from cryptosmarttrader.domain.validation import validate_intent
from cryptosmarttrader.execution.gateway import OutcomeNotRecordedError
from cryptosmarttrader.runtime.system import known_instruments

MANUAL_STRATEGY = "manual"


def order(
    ctx: typer.Context,
    side: str = typer.Argument(..., help="buy or sell"),
    symbol: str = typer.Argument(..., help="BASE/QUOTE, e.g. BTC/USDT"),
    qty: str = typer.Argument(..., help="quantity in base units, e.g. 0.01"),
    price: str | None = typer.Option(
        None, "--price", help="limit price [default: best bid for a buy, best ask for a sell]"
    ),
    order_type: str = typer.Option("limit", "--type", help="limit or market"),
    tif: str | None = typer.Option(
        None, "--tif", help="GTC, IOC, FOK or POST_ONLY [default: POST_ONLY for limit orders]"
    ),
    client_order_id: str | None = typer.Option(
        None,
        "--client-order-id",
        help="your own id (1-18 of [A-Za-z0-9._:/-], or a UUID); resending it is refused",
    ),
    reduce_only: bool = typer.Option(False, "--reduce-only", help="only ever reduce a position"),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="evaluate every gate; reserve, store and send nothing"
    ),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object"),
    live: bool = typer.Option(
        False, "--live", help="confirm real orders on a real venue (CST_VENUE=binance|kraken)"
    ),
) -> None:
    """Send one order through the RiskGuard, the ExecutionPolicy and the venue.

    Exit status: 0 accepted (or approved in a dry run), 1 rejected, 2 bad input.
    """
    cli: CliContext = ctx.obj
    settings = cli.settings()
    parsed_side = parse_side(side)
    parsed_symbol = parse_symbol(symbol)
    parsed_qty = parse_positive("quantity", qty)
    parsed_type = parse_order_type(order_type)
    parsed_tif = parse_time_in_force(tif) if tif is not None else None
    parsed_price = parse_positive("--price", price) if price is not None else None
    if parsed_type is OrderType.MARKET and parsed_price is not None:
        raise UsageError("--price is only for limit orders")

    intent = OrderIntent(
        symbol=parsed_symbol,
        side=parsed_side,
        qty=parsed_qty,
        order_type=parsed_type,
        price=parsed_price,
        time_in_force=parsed_tif,
        strategy=MANUAL_STRATEGY,
        # Two identical commands are two orders; an explicit id makes a resend a duplicate.
        signal_id="cli" if client_order_id else f"cli-{secrets.token_hex(6)}",
        reduce_only=reduce_only,
        client_order_id=client_order_id,
    )
    catalog = known_instruments(settings)
    if catalog is not None:  # refuse bad input before anything is opened or written
        _validate(intent, catalog, settings.venue)
    with cli.open_system(live=live) as system:
        if parsed_type is OrderType.LIMIT and parsed_price is None:
            _validate(intent, system.gateway.instruments, settings.venue)
            snapshot = system.market_data.snapshot(parsed_symbol)
            if snapshot is None:
                raise CliError(f"no market data for {parsed_symbol}: pass --price")
            price_now = snapshot.bid if parsed_side is Side.BUY else snapshot.ask
            intent = dataclasses.replace(intent, price=price_now)
        _validate(intent, system.gateway.instruments, settings.venue)
        try:
            result = system.gateway.submit(intent, dry_run=dry_run)
        except OutcomeNotRecordedError as exc:
            raise CliError(str(exc)) from None
    if as_json:
        print_json(result.to_dict())
    else:
        render_submit(result)
    accepted = result.decision.approved and result.status is not OrderStatus.REJECTED
    raise typer.Exit(EXIT_OK if accepted else EXIT_FAILURE)


def _validate(intent: OrderIntent, instruments: Mapping[str, Instrument], venue: str) -> None:
    """One line and exit 2 for input no venue would take; a limit order's missing price is
    filled in from the market later, so only its quantity is checked here."""
    instrument = instruments.get(intent.symbol)
    if instrument is None:
        listed = ", ".join(sorted(instruments)[:40])
        raise UsageError(f"unknown symbol {intent.symbol}: the {venue} venue lists {listed}")
    if intent.order_type is OrderType.LIMIT and intent.price is None:
        intent = dataclasses.replace(intent, order_type=OrderType.MARKET, time_in_force=None)
    invalid = validate_intent(intent, instrument)
    if invalid is not None:
        raise UsageError(invalid.message)
