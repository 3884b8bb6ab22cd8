"""The health model: each component says ok, degraded or unhealthy, and why.

The overall status is the worst component's. ``unhealthy`` means the system cannot do its job
(the database is unreachable, the engine stopped looping); ``degraded`` that it runs with
something wrong (an open circuit breaker, the memory cache instead of Redis, the kill switch on,
reconciliation with work left).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class HealthStatus(StrEnum):
    OK = "ok"
    DEGRADED = "degraded"
    UNHEALTHY = "unhealthy"


_RANK = {HealthStatus.OK: 0, HealthStatus.DEGRADED: 1, HealthStatus.UNHEALTHY: 2}


@dataclass(frozen=True)
class ComponentHealth:
    name: str
    status: HealthStatus
    detail: str
    facts: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status.value, "detail": self.detail, **self.facts}


@dataclass(frozen=True)
class HealthReport:
    components: Sequence[ComponentHealth]

    @property
    def status(self) -> HealthStatus:
        worst = HealthStatus.OK
        for component in self.components:
            if _RANK[component.status] > _RANK[worst]:
                worst = component.status
        return worst

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status.value,
            "components": {c.name: c.to_dict() for c in self.components},
        }
