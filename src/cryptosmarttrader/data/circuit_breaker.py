"""A circuit breaker per (exchange, endpoint).

CLOSED: calls go through; the breaker opens after ``failures`` consecutive failures, or when
at least ``failure_rate`` of the last ``window`` calls failed (once ``min_calls`` were made).
OPEN: calls fail at once for ``open_s``. HALF_OPEN: one probe goes through, others still fail
fast; its success closes the breaker, its failure opens it again.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from cryptosmarttrader.observability.logging import get_logger

_log = get_logger("circuit_breaker")


class BreakerState(StrEnum):
    CLOSED = "closed"
    HALF_OPEN = "half_open"
    OPEN = "open"


STATE_VALUE = {BreakerState.CLOSED: 0, BreakerState.HALF_OPEN: 1, BreakerState.OPEN: 2}


@dataclass(frozen=True)
class BreakerConfig:
    failures: int = 5
    failure_rate: float = 0.5
    window: int = 20
    min_calls: int = 10
    open_s: float = 30.0

    def __post_init__(self) -> None:
        if not (
            self.failures >= 1
            and 0 < self.failure_rate <= 1
            and 1 <= self.min_calls <= self.window
            and self.open_s > 0
        ):
            raise ValueError(f"invalid breaker configuration {self}")


class CircuitOpenError(Exception):
    def __init__(self, name: str, retry_in_s: float) -> None:
        super().__init__(f"circuit {name} is open; next probe in {retry_in_s:.1f}s")
        self.retry_in_s = retry_in_s


StateListener = Callable[[BreakerState], None]


class CircuitBreaker:
    """Not thread-safe: use it from one event loop."""

    def __init__(
        self,
        name: str,
        config: BreakerConfig,
        *,
        clock: Callable[[], float],
        on_change: StateListener | None = None,
    ) -> None:
        self.name = name
        self.config = config
        self._clock = clock
        self._on_change = on_change
        self._state = BreakerState.CLOSED
        self._opened_at = 0.0
        self._consecutive = 0
        self._recent: deque[bool] = deque(maxlen=config.window)
        self._probe_out = False

    @property
    def state(self) -> BreakerState:
        return self._state

    def before_call(self) -> None:
        """Raise CircuitOpenError unless a call may go out now."""
        if self._state is BreakerState.CLOSED:
            return
        if self._state is BreakerState.OPEN:
            left = self._opened_at + self.config.open_s - self._clock()
            if left > 0:
                raise CircuitOpenError(self.name, left)
            self._set(BreakerState.HALF_OPEN)
        if self._probe_out:
            raise CircuitOpenError(self.name, 0.0)
        self._probe_out = True

    def call_not_made(self) -> None:
        """The call allowed by :meth:`before_call` never went out: free the probe."""
        self._probe_out = False

    def record(self, success: bool) -> None:
        if self._state is BreakerState.HALF_OPEN:
            self._probe_out = False
            if success:
                self._recent.clear()
                self._consecutive = 0
                self._set(BreakerState.CLOSED)
            else:
                self._open()
            return
        if self._state is BreakerState.OPEN:
            return  # a call that started before the breaker opened
        self._recent.append(success)
        self._consecutive = 0 if success else self._consecutive + 1
        failed = self._recent.count(False)
        if self._consecutive >= self.config.failures or (
            len(self._recent) >= self.config.min_calls
            and failed >= self.config.failure_rate * len(self._recent)
        ):
            self._open()

    def _open(self) -> None:
        self._opened_at = self._clock()
        self._set(BreakerState.OPEN)

    def _set(self, state: BreakerState) -> None:
        if state is self._state:
            return
        previous, self._state = self._state, state
        _log.warning("circuit_breaker_state", breaker=self.name, previous=previous, state=state)
        if self._on_change is not None:
            self._on_change(state)
