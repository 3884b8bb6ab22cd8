"""``cst api``: the HTTP API on its own; and the API beside ``cst run`` and ``cst demo``."""

from __future__ import annotations

import typer

from cryptosmarttrader.api.app import ApiContext, create_app
from cryptosmarttrader.api.server import (
    ApiUnavailableError,
    BackgroundApi,
    bind,
    serve_forever,
    url_of,
)
from cryptosmarttrader.cli.context import CliContext
from cryptosmarttrader.cli.errors import CliError
from cryptosmarttrader.cli.render import error_console
from cryptosmarttrader.engine.loop import Engine
from cryptosmarttrader.runtime.system import TradingSystem


def api(
    ctx: typer.Context,
    host: str | None = typer.Option(None, "--host", help="address [default: api.host]"),
    port: int | None = typer.Option(
        None, "--port", min=0, max=65535, help="TCP port [default: api.port]"
    ),
    live: bool = typer.Option(False, "--live", help="confirm a real venue (binance, kraken)"),
) -> None:
    """Serve /metrics, /health and /api/v1/* over the configured database until Ctrl-C.

    Read endpoints are open (bind to loopback, the default, or put a proxy in front);
    POST /api/v1/kill-switch needs Authorization: Bearer $CST_API_TOKEN.
    """
    cli: CliContext = ctx.obj
    settings = cli.settings()
    system = cli.open_system(live=live)
    try:
        app = create_app(ApiContext(system, settings.api_token))
        sock = bind(host or settings.api.host, settings.api.port if port is None else port)
        error_console().print(f"API on {url_of(sock)} (Ctrl-C stops it)", markup=False)
        serve_forever(app, sock)
    except ApiUnavailableError as exc:
        raise CliError(str(exc)) from None
    finally:
        system.close()


def start_background_api(
    system: TradingSystem, engine: Engine, *, host: str | None = None, port: int | None = None
) -> BackgroundApi:
    """The API of ``system`` beside its running ``engine``, on ``host``/``port`` or the
    settings' ``api.*``; ApiUnavailableError if it cannot listen."""
    settings = system.settings
    app = create_app(ApiContext(system, settings.api_token, engine))
    return BackgroundApi(
        app, host or settings.api.host, settings.api.port if port is None else port
    ).start()
