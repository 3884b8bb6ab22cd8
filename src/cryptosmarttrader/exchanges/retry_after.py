"""A venue's ``Retry-After``: read from a 429/418 answer, and honoured when retrying."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

from tenacity import RetryCallState

Wait = Callable[[RetryCallState], float]


def retry_after_seconds(headers: Mapping[str, str] | None) -> float | None:
    """The ``Retry-After`` header in seconds; None when absent or not a sane number."""
    if not headers:
        return None
    value = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None  # the HTTP-date form: no venue we speak to sends it
    return seconds if math.isfinite(seconds) and 0 <= seconds <= 3600 else None


def at_least_retry_after(backoff: Wait) -> Wait:
    """A tenacity wait: ``backoff``, but never shorter than the ``retry_after_s`` that the
    failed attempt's exception carries (what the venue asked for)."""

    def wait(state: RetryCallState) -> float:
        seconds = float(backoff(state))
        error = state.outcome.exception() if state.outcome is not None else None
        retry_after = getattr(error, "retry_after_s", None)
        if isinstance(retry_after, int | float) and retry_after > seconds:
            return float(retry_after)
        return seconds

    return wait
