"""The kill switch as a value: whether it is active, why, and who or what changed it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class KillSwitchState:
    active: bool
    reason: str | None = None
    actor: str | None = None
    changed_at: float | None = None


KILL_SWITCH_OFF = KillSwitchState(active=False)
