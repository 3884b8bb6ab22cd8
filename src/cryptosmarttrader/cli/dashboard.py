"""``cst dashboard``: the Streamlit dashboard on 127.0.0.1:8501 (``dashboard.*`` settings)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import typer

from cryptosmarttrader.cli.context import CliContext
from cryptosmarttrader.cli.errors import CliError
from cryptosmarttrader.cli.render import error_console

APP = Path(__file__).resolve().parents[1] / "dashboard" / "app.py"


def dashboard(
    ctx: typer.Context,
    port: int | None = typer.Option(
        None, "--port", min=1, max=65535, help="TCP port [default: dashboard.port]"
    ),
) -> None:
    """Serve the dashboard: the database's state, and a running engine's API when reachable
    (dashboard.api_url), until Ctrl-C."""
    cli: CliContext = ctx.obj
    settings = cli.settings()
    chosen = settings.dashboard.port if port is None else port
    command = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(APP),
        "--server.address",
        settings.dashboard.host,
        "--server.port",
        str(chosen),
        "--server.headless",
        "true",
        "--browser.gatherUsageStats",
        "false",
        "--global.developmentMode",
        "false",
        "--client.toolbarMode",
        "minimal",
    ]
    env = dict(os.environ)
    if cli.config_path is not None:
        env["CST_CONFIG"] = str(cli.config_path)
    error_console().print(
        f"dashboard on http://{settings.dashboard.host}:{chosen} (Ctrl-C stops it)", markup=False
    )
    try:
        result = subprocess.run(command, env=env, check=False)  # noqa: S603 - fixed command
    except KeyboardInterrupt:
        return
    if result.returncode not in (0, -2, 130):
        raise CliError(f"the dashboard stopped with status {result.returncode}")
