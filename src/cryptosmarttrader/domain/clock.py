"""Clocks: the system clock for live use, a settable one for tests, demos and replays."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Current time in UTC epoch seconds."""


class SystemClock:
    def now(self) -> float:
        return time.time()


class ManualClock:
    """A clock that moves only when told to; thread-safe."""

    def __init__(self, start: float) -> None:
        self._now = start
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return self._now

    def set(self, ts: float) -> None:
        with self._lock:
            self._now = ts

    def advance(self, seconds: float) -> float:
        with self._lock:
            self._now += seconds
            return self._now


def format_utc(ts: float | None) -> str:
    """``2026-01-05 12:00:00Z`` for an epoch timestamp; ``-`` when there is none."""
    if ts is None or ts != ts:  # None or NaN
        return "-"
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%SZ")
