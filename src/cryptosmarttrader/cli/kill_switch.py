"""``cst kill-switch status|activate|deactivate``."""

from __future__ import annotations

import getpass

import typer

from cryptosmarttrader.cli.context import CliContext
from cryptosmarttrader.cli.errors import UsageError
from cryptosmarttrader.cli.render import print_json, render_kill_switch
from cryptosmarttrader.domain.kill_switch import KillSwitchState, kill_switch_dict

kill_switch_app = typer.Typer(
    help="Stop (and resume) all trading, for every process on this database.",
    no_args_is_help=True,
)


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def _show(state: KillSwitchState, as_json: bool, changed: bool | None, headline: str) -> None:
    if as_json:
        payload = kill_switch_dict(state)
        if changed is not None:
            payload["changed"] = changed
        print_json(payload)
    else:
        render_kill_switch(state, headline)


@kill_switch_app.command()
def status(
    ctx: typer.Context, as_json: bool = typer.Option(False, "--json", help="print JSON")
) -> None:
    """Show whether the kill switch is active, since when, by whom and why."""
    cli: CliContext = ctx.obj
    with cli.open_system() as system:
        state = system.kill_switch.status()
    _show(state, as_json, None, "")


@kill_switch_app.command()
def activate(
    ctx: typer.Context,
    reason: str = typer.Option(..., "--reason", help="why trading stops (kept in the audit trail)"),
    as_json: bool = typer.Option(False, "--json", help="print JSON"),
) -> None:
    """Reject every order from now on, in every process, until deactivated."""
    cli: CliContext = ctx.obj
    if not reason.strip():
        raise UsageError("--reason must not be empty")
    with cli.open_system() as system:
        try:
            state, changed = system.kill_switch.activate(reason, _actor())
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    _show(state, as_json, changed, "activated" if changed else "already active")


@kill_switch_app.command()
def deactivate(
    ctx: typer.Context,
    reason: str | None = typer.Option(None, "--reason", help="why trading may resume"),
    as_json: bool = typer.Option(False, "--json", help="print JSON"),
) -> None:
    """Allow orders again."""
    cli: CliContext = ctx.obj
    with cli.open_system() as system:
        state, changed = system.kill_switch.deactivate(_actor(), reason)
    _show(state, as_json, changed, "deactivated" if changed else "already inactive")
