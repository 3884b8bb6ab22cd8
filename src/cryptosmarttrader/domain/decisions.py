"""Gate outcomes, the combined decision, and the one loop that runs a chain of gates.

The value types here are immutable ``NamedTuple``s rather than frozen dataclasses: every
order builds several of them, and a frozen dataclass costs four times as much to construct
(docs/performance.md).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import Generic, NamedTuple, Protocol, TypeVar

from cryptosmarttrader.domain.reason_codes import ReasonCode


class Verdict(StrEnum):
    APPROVE = "APPROVE"
    REDUCE = "REDUCE"
    REJECT = "REJECT"


class GateName(StrEnum):
    VALIDATION = "validation"
    # RiskGuard, in evaluation order
    KILL_SWITCH = "kill_switch"
    DATA_QUALITY = "data_quality"
    DAILY_LOSS = "daily_loss"
    DRAWDOWN = "drawdown"
    POSITION_COUNT = "position_count"
    TOTAL_EXPOSURE = "total_exposure"
    SINGLE_POSITION = "single_position"
    CORRELATION = "correlation"
    # ExecutionPolicy, in evaluation order
    IDEMPOTENCY = "idempotency"
    SPREAD = "spread"
    DEPTH = "depth"
    VOLUME = "volume"
    SLIPPAGE = "slippage"
    TIME_IN_FORCE = "time_in_force"
    PRICE_BAND = "price_band"


Numbers = Mapping[str, float]


class GateOutcome(NamedTuple):
    """A gate's verdict when it did something: REJECT, or REDUCE to ``qty``."""

    gate: GateName
    verdict: Verdict
    code: ReasonCode
    qty: float
    message: str
    numbers: Numbers


def reject(gate: GateName, code: ReasonCode, message: str, **numbers: float) -> GateOutcome:
    return GateOutcome(gate, Verdict.REJECT, code, 0.0, message, numbers)


def reduce(
    gate: GateName, code: ReasonCode, qty: float, message: str, **numbers: float
) -> GateOutcome:
    return GateOutcome(gate, Verdict.REDUCE, code, qty, message, numbers)


ContextT_contra = TypeVar("ContextT_contra", contravariant=True)


class Gate(Protocol[ContextT_contra]):
    name: GateName

    def check(self, ctx: ContextT_contra, qty: float) -> GateOutcome | None:
        """Return None to pass ``qty`` unchanged, or a REJECT/REDUCE outcome."""


ContextT = TypeVar("ContextT")


class ChainResult(NamedTuple):
    qty: float
    outcomes: tuple[GateOutcome, ...]

    @property
    def rejected(self) -> GateOutcome | None:
        if self.outcomes and self.outcomes[-1].verdict is Verdict.REJECT:
            return self.outcomes[-1]
        return None


class GateChain(Generic[ContextT]):
    """Runs gates in order: REDUCE continues with the smaller size, the first REJECT stops.

    A gate that raises is a REJECT with ``GATE_ERROR``: the system fails closed.
    """

    __slots__ = ("gates",)

    def __init__(self, gates: Sequence[Gate[ContextT]]) -> None:
        self.gates = tuple(gates)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(gate.name.value for gate in self.gates)

    def run(self, ctx: ContextT, qty: float) -> ChainResult:
        outcomes: list[GateOutcome] = []
        for gate in self.gates:
            try:
                outcome = gate.check(ctx, qty)
            except Exception as exc:  # noqa: BLE001 - any failure inside a gate must reject
                outcomes.append(
                    reject(gate.name, ReasonCode.GATE_ERROR, f"{type(exc).__name__}: {exc}")
                )
                break
            if outcome is None:
                continue
            outcomes.append(outcome)
            if outcome.verdict is Verdict.REJECT:
                break
            qty = outcome.qty
        return ChainResult(qty, tuple(outcomes))


class Decision(NamedTuple):
    """The combined verdict of validation, the RiskGuard and the ExecutionPolicy for one intent."""

    verdict: Verdict
    gate: GateName | None
    code: ReasonCode
    requested_qty: float
    approved_qty: float
    message: str
    numbers: Numbers
    outcomes: tuple[GateOutcome, ...] = ()
    kill_switch_trigger: str | None = None

    @property
    def approved(self) -> bool:
        return self.verdict is not Verdict.REJECT

    @classmethod
    def from_outcomes(
        cls,
        requested_qty: float,
        outcomes: Sequence[GateOutcome],
        *,
        approve_numbers: Numbers,
        kill_switch_trigger: str | None = None,
    ) -> Decision:
        if outcomes and outcomes[-1].verdict is Verdict.REJECT:
            last = outcomes[-1]
            return cls(
                Verdict.REJECT,
                last.gate,
                last.code,
                requested_qty,
                0.0,
                last.message,
                last.numbers,
                tuple(outcomes),
                kill_switch_trigger,
            )
        if outcomes:
            last = outcomes[-1]
            merged: dict[str, float] = dict(approve_numbers)
            for outcome in outcomes:
                merged.update(outcome.numbers)
            message = "; ".join(o.message for o in outcomes)
            return cls(
                Verdict.REDUCE,
                last.gate,
                last.code,
                requested_qty,
                last.qty,
                message,
                merged,
                tuple(outcomes),
                kill_switch_trigger,
            )
        return cls(
            Verdict.APPROVE,
            None,
            ReasonCode.APPROVED,
            requested_qty,
            requested_qty,
            "all gates passed",
            approve_numbers,
            (),
            kill_switch_trigger,
        )
