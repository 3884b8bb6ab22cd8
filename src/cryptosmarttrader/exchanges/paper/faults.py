"""Fault injection for the paper exchange: what can go wrong, on which endpoint, how often.

A rule is written ``KIND[=PARAM]@[METHOD ]PATH[#COUNT][%PROBABILITY]``, e.g.
``http_503@/api/v3/order#2`` (the next two requests to that path get a 503),
``latency=250@GET /api/v3/depth`` or ``response_lost@POST /api/v3/order#1``. ``PATH`` may be
``*`` for every API path. The same rules can be added and removed at runtime over
``/_paper/faults``.
"""

from __future__ import annotations

import random
import re
import threading
from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class FaultKind(StrEnum):
    LATENCY = "latency"
    """Answer after PARAM milliseconds (default 500)."""
    HANG = "hang"
    """Hold the request PARAM seconds (default 30) before handling it: past a client's timeout.
    A signed request that waited longer than its receive window is then refused, as on Binance."""
    SLOW_RESPONSE = "slow_response"
    """Handle the request at once (an order is placed), answer after PARAM seconds (default 30)."""
    HTTP_429 = "http_429"
    """Refuse unprocessed with 429 and a ``Retry-After`` of PARAM seconds (default 1)."""
    HTTP_418 = "http_418"
    """As ``http_429``, with 418 (the IP is banned for a while)."""
    HTTP_500 = "http_500"
    HTTP_502 = "http_502"
    HTTP_503 = "http_503"
    RESET = "reset"
    """Drop the connection before handling the request."""
    TRUNCATED = "truncated"
    """Handle the request, then send only half of the body and drop the connection."""
    GARBAGE = "garbage"
    """Handle the request, then answer 200 with a body that is not JSON."""
    FROZEN = "frozen"
    """Market data stops moving: books, tickers and candles stay at the time the rule began,
    minus PARAM seconds (so a rule can start out already stale)."""
    RESPONSE_LOST = "response_lost"
    """Handle the request (an order is placed), then drop the connection without an answer."""


HTTP_STATUS = {
    FaultKind.HTTP_429: 429,
    FaultKind.HTTP_418: 418,
    FaultKind.HTTP_500: 500,
    FaultKind.HTTP_502: 502,
    FaultKind.HTTP_503: 503,
}
# Faults that happen after the request was handled (its effects, such as an order, stay).
AFTER_HANDLING = frozenset(
    {FaultKind.TRUNCATED, FaultKind.GARBAGE, FaultKind.RESPONSE_LOST, FaultKind.SLOW_RESPONSE}
)

_SPEC = re.compile(
    r"^(?P<kind>[a-z_0-9]+)(?:=(?P<param>[0-9.]+))?@(?:(?P<method>GET|POST|DELETE) )?"
    r"(?P<path>\*|/[\w/]*)(?:#(?P<count>\d+))?(?:%(?P<prob>[0-9.]+))?$"
)


class FaultSpecError(ValueError):
    pass


@dataclass
class FaultRule:
    kind: FaultKind
    path: str = "*"
    method: str | None = None
    param: float | None = None
    count: int | None = None
    """How many more times the rule fires; None: until removed."""
    probability: float = 1.0
    started_at: float = 0.0
    id: int = 0

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and self.method != method:
            return False
        return self.path in ("*", path)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind.value,
            "path": self.path,
            "method": self.method,
            "param": self.param,
            "count": self.count,
            "probability": self.probability,
            "started_at": self.started_at,
        }


def parse_fault(spec: str) -> FaultRule:
    match = _SPEC.match(spec.strip())
    if match is None:
        raise FaultSpecError(
            f"bad fault {spec!r}: expected KIND[=PARAM]@[METHOD ]PATH[#COUNT][%PROBABILITY]"
        )
    return fault_from_fields(
        kind=match["kind"],
        path=match["path"],
        method=match["method"],
        param=float(match["param"]) if match["param"] else None,
        count=int(match["count"]) if match["count"] else None,
        probability=float(match["prob"]) if match["prob"] else 1.0,
    )


def fault_from_fields(
    *,
    kind: object,
    path: object = "*",
    method: object = None,
    param: object = None,
    count: object = None,
    probability: object = 1.0,
) -> FaultRule:
    try:
        fault_kind = FaultKind(str(kind))
    except ValueError:
        known = ", ".join(k.value for k in FaultKind)
        raise FaultSpecError(f"unknown fault kind {kind!r}; known: {known}") from None
    if not isinstance(path, str) or not (path == "*" or path.startswith("/")):
        raise FaultSpecError(f"fault path must be '*' or start with '/', got {path!r}")
    if method is not None and method not in ("GET", "POST", "DELETE"):
        raise FaultSpecError(f"fault method must be GET, POST or DELETE, got {method!r}")
    if param is not None and not (isinstance(param, int | float) and 0 <= param <= 3600):
        raise FaultSpecError(f"fault parameter must be a number in [0, 3600], got {param!r}")
    if count is not None and not (isinstance(count, int) and count > 0):
        raise FaultSpecError(f"fault count must be a positive integer, got {count!r}")
    if not (isinstance(probability, int | float) and 0 < probability <= 1):
        raise FaultSpecError(f"fault probability must be in (0, 1], got {probability!r}")
    return FaultRule(
        kind=fault_kind,
        path=path,
        method=method,
        param=None if param is None else float(param),
        count=count,
        probability=float(probability),
    )


@dataclass
class FaultPlan:
    """The active rules; thread-safe, so tests can change them while the server runs."""

    seed: int = 0
    _rules: list[FaultRule] = field(default_factory=list)
    injected: Counter[str] = field(default_factory=Counter)
    _next_id: int = 1
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)  # noqa: S311 - fault dice, not crypto

    def add(self, rule: FaultRule, now: float) -> FaultRule:
        with self._lock:
            rule.id = self._next_id
            rule.started_at = now
            self._next_id += 1
            self._rules.append(rule)
            return rule

    def clear(self) -> int:
        with self._lock:
            removed = len(self._rules)
            self._rules.clear()
            return removed

    def rules(self) -> list[FaultRule]:
        with self._lock:
            return list(self._rules)

    def draw(self, method: str, path: str) -> FaultRule | None:
        """The fault to inject into this request (counting it), or None."""
        with self._lock:
            for rule in self._rules:
                if rule.kind is FaultKind.FROZEN or not rule.matches(method, path):
                    continue
                if rule.probability < 1 and self._random.random() >= rule.probability:
                    continue
                if rule.count is not None:
                    rule.count -= 1
                    if rule.count == 0:
                        self._rules.remove(rule)
                self.injected[rule.kind.value] += 1
                return rule
            return None

    def frozen_since(self, path: str) -> float | None:
        """When market data on ``path`` froze, or None while it moves."""
        with self._lock:
            for rule in self._rules:
                if rule.kind is FaultKind.FROZEN and rule.matches("GET", path):
                    self.injected[rule.kind.value] += 1
                    return rule.started_at - (rule.param or 0.0)
            return None
