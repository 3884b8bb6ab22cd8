"""What ``/health`` reports: every component of a running system checked for real."""

from __future__ import annotations

import time

from cryptosmarttrader.data.circuit_breaker import BreakerState
from cryptosmarttrader.engine.loop import Engine
from cryptosmarttrader.observability.health import ComponentHealth, HealthReport, HealthStatus
from cryptosmarttrader.risk.kill_switch import KillSwitch
from cryptosmarttrader.runtime.system import TradingSystem

OK, DEGRADED, UNHEALTHY = HealthStatus.OK, HealthStatus.DEGRADED, HealthStatus.UNHEALTHY
ENGINE_MIN_STALL_S = 30.0
"""An engine loop may take this long at least before the engine counts as stalled."""


def engine_stall_after_s(poll_s: float) -> float:
    """Heartbeat age past which the engine counts as stalled: three missed loops, at least
    :data:`ENGINE_MIN_STALL_S` (the alert rule ``EngineLoopStalled`` uses the same figure)."""
    return max(3 * poll_s, ENGINE_MIN_STALL_S)


def check_health(system: TradingSystem, engine: Engine | None) -> HealthReport:
    """``engine`` is None when the process serves the API without trading (``cst api``)."""
    now = time.time()
    return HealthReport(
        (
            *_database_and_kill_switch(system),
            *_exchange_and_cache(system, now),
            _engine(engine, now),
            _reconciliation(system),
        )
    )


def _database_and_kill_switch(system: TradingSystem) -> tuple[ComponentHealth, ...]:
    try:
        state = KillSwitch(system.store, system.clock).status()
    except Exception as exc:  # noqa: BLE001 - any failure to read state is the finding
        return (
            ComponentHealth(
                "database", UNHEALTHY, f"unreachable ({type(exc).__name__})", {"reachable": False}
            ),
            ComponentHealth("kill_switch", UNHEALTHY, "unknown: the database is unreachable"),
        )
    database = ComponentHealth(
        "database", OK, f"reachable ({system.database.dialect})", {"reachable": True}
    )
    if state.active:
        kill = ComponentHealth(
            "kill_switch",
            DEGRADED,
            f"active since {state.changed_at}: no order is sent",
            {"active": True, "reason": state.reason, "actor": state.actor},
        )
    else:
        kill = ComponentHealth("kill_switch", OK, "off", {"active": False})
    return database, kill


def _exchange_and_cache(system: TradingSystem, now: float) -> tuple[ComponentHealth, ...]:
    feed = system.data_feed
    if feed is None:
        return (
            ComponentHealth(
                "exchange", OK, "built-in simulated market (no network)", {"venue": "paper"}
            ),
            ComponentHealth("cache", OK, "not used by the simulated market", {"backend": "none"}),
        )
    status = feed.client.status()
    breakers = {f"{s}/{e}": state.value for (s, e), state in sorted(status.breakers.items())}
    last = status.last_success.get(feed.source)
    not_closed = [name for name, state in breakers.items() if state != BreakerState.CLOSED]
    facts = {
        "source": feed.source,
        "breakers": breakers,
        "last_success_age_s": None if last is None else round(now - last, 3),
    }
    if not_closed:
        exchange = ComponentHealth(
            "exchange", DEGRADED, f"circuit breaker not closed: {', '.join(not_closed)}", facts
        )
    elif last is None:
        exchange = ComponentHealth("exchange", OK, "no answer needed yet", facts)
    else:
        exchange = ComponentHealth("exchange", OK, "answering", facts)
    cache_status = status.cache
    cache_facts = {
        "backend": cache_status.backend,
        "redis_configured": cache_status.redis_configured,
    }
    if cache_status.degraded:
        cache = ComponentHealth(
            "cache",
            DEGRADED,
            f"Redis unreachable, in-process cache serving ({cache_status.last_error})",
            cache_facts,
        )
    else:
        cache = ComponentHealth("cache", OK, cache_status.backend, cache_facts)
    return exchange, cache


def _engine(engine: Engine | None, now: float) -> ComponentHealth:
    if engine is None:
        return ComponentHealth("engine", OK, "not running in this process", {"running": False})
    limit = engine_stall_after_s(engine.settings.poll_s)
    since = engine.heartbeat or engine.started_at
    if since is None:
        return ComponentHealth("engine", OK, "starting", {"running": False})
    age = now - since
    facts = {"running": True, "heartbeat_age_s": round(age, 3), "stall_after_s": limit}
    if age > limit:
        return ComponentHealth("engine", UNHEALTHY, f"no loop for {age:.0f} s", facts)
    return ComponentHealth("engine", OK, f"looping every {engine.settings.poll_s:g} s", facts)


def _reconciliation(system: TradingSystem) -> ComponentHealth:
    report = system.gateway.last_reconcile
    if report is None:
        return ComponentHealth("reconciliation", OK, "not run by this process", {"clean": None})
    facts = {
        "clean": report.clean,
        "pending": len(report.pending),
        "errors": len(report.errors),
        "holdings_skipped": report.holdings_skipped,
    }
    if report.clean:
        return ComponentHealth("reconciliation", OK, "clean", facts)
    return ComponentHealth(
        "reconciliation",
        DEGRADED,
        f"{len(report.pending)} orders unresolved, {len(report.errors)} errors",
        facts,
    )
