"""The kill switch as a value: whether it is active, why, and who or what changed it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cryptosmarttrader.domain.clock import format_utc


@dataclass(frozen=True, slots=True)
class KillSwitchState:
    active: bool
    reason: str | None = None
    actor: str | None = None
    changed_at: float | None = None


KILL_SWITCH_OFF = KillSwitchState(active=False)


def kill_switch_dict(state: KillSwitchState) -> dict[str, Any]:
    """The state as JSON-ready data (CLI ``--json`` and the API)."""
    return {
        "active": state.active,
        "reason": state.reason,
        "actor": state.actor,
        "changed_at": state.changed_at,
        "changed_at_utc": format_utc(state.changed_at) if state.changed_at else None,
    }
