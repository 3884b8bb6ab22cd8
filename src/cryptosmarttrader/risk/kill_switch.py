"""The kill switch: persisted, seen by every process on the same database, audited."""

from __future__ import annotations

from cryptosmarttrader.domain.clock import Clock
from cryptosmarttrader.domain.kill_switch import KillSwitchState
from cryptosmarttrader.domain.reason_codes import ReasonCode
from cryptosmarttrader.observability import metrics
from cryptosmarttrader.observability.logging import get_logger
from cryptosmarttrader.store.state_store import AuditRecord, StateStore, StateTransaction

AUDIT_KIND = "KILL_SWITCH"
MAX_REASON_LENGTH = 500

_log = get_logger("kill_switch")


def record_kill_switch(tx: StateTransaction, state: KillSwitchState) -> None:
    """Persist a kill switch change with its audit row, inside the caller's transaction."""
    tx.set_kill_switch(state)
    code = ReasonCode.KILL_SWITCH_ACTIVATED if state.active else ReasonCode.KILL_SWITCH_DEACTIVATED
    message = (
        f"kill switch activated by {state.actor}: {state.reason}"
        if state.active
        else f"kill switch deactivated by {state.actor}"
        + (f": {state.reason}" if state.reason else "")
    )
    tx.insert_audit(
        AuditRecord(
            at=state.changed_at or 0.0,
            kind=AUDIT_KIND,
            reason_code=code.value,
            message=message,
            details={"active": state.active, "actor": state.actor, "reason": state.reason},
        )
    )
    metrics.KILL_SWITCH_ACTIVE.set(1 if state.active else 0)
    if state.active:
        metrics.KILL_SWITCH_ACTIVATIONS.labels(state.actor or "unknown").inc()
    log = _log.warning if state.active else _log.info
    log(
        "kill_switch.changed",
        active=state.active,
        actor=state.actor,
        reason=state.reason,
        reason_code=code.value,
    )


class KillSwitch:
    def __init__(self, store: StateStore, clock: Clock) -> None:
        self._store = store
        self._clock = clock

    def status(self) -> KillSwitchState:
        with self._store.read() as tx:
            state = tx.control.kill_switch
        # Another process may have changed it: what this process exports follows the database.
        metrics.KILL_SWITCH_ACTIVE.set(1 if state.active else 0)
        return state

    def activate(self, reason: str, actor: str) -> tuple[KillSwitchState, bool]:
        """Activate; returns the state and whether it changed (False if it was already on)."""
        reason = reason.strip()
        if not reason:
            raise ValueError("a reason is required to activate the kill switch")
        if len(reason) > MAX_REASON_LENGTH:
            raise ValueError(f"the reason is longer than {MAX_REASON_LENGTH} characters")
        with self._store.write() as tx:
            current = tx.control.kill_switch
            if current.active:
                return current, False
            state = KillSwitchState(True, reason, actor, self._clock.now())
            record_kill_switch(tx, state)
            return state, True

    def deactivate(self, actor: str, reason: str | None = None) -> tuple[KillSwitchState, bool]:
        with self._store.write() as tx:
            current = tx.control.kill_switch
            if not current.active:
                return current, False
            state = KillSwitchState(False, reason, actor, self._clock.now())
            record_kill_switch(tx, state)
            return state, True
