"""The FastAPI application: ``/metrics``, ``/health`` and ``/api/v1/*``.

Reads come from the database the engine writes (so ``cst api`` alone shows what any process
did); the one control, the kill switch, needs ``Authorization: Bearer <CST_API_TOKEN>`` and is
refused outright when no token is configured. Nothing here places an order.
"""

from __future__ import annotations

import hmac
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Generic, Literal, TypeVar

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from pydantic import BaseModel, Field, SecretStr
from sqlalchemy.exc import SQLAlchemyError

from cryptosmarttrader import __version__
from cryptosmarttrader.domain.kill_switch import kill_switch_dict
from cryptosmarttrader.engine.loop import SIGNAL_AUDIT_KIND, Engine
from cryptosmarttrader.execution.gateway import DECISION_AUDIT_KIND
from cryptosmarttrader.observability import metrics
from cryptosmarttrader.observability.health import HealthStatus
from cryptosmarttrader.observability.logging import get_logger
from cryptosmarttrader.risk.kill_switch import MAX_REASON_LENGTH, KillSwitch
from cryptosmarttrader.runtime.health import check_health
from cryptosmarttrader.runtime.system import TradingSystem
from cryptosmarttrader.store.database import DatabaseError
from cryptosmarttrader.store.queries import account_view, recent_audit, recent_orders

T = TypeVar("T")
API_ACTOR = "api"
MAX_ROWS = 1000

_log = get_logger("api")
_bearer = HTTPBearer(auto_error=False, description="the value of CST_API_TOKEN")


@dataclass(frozen=True)
class ApiContext:
    system: TradingSystem
    token: SecretStr | None
    engine: Engine | None = None
    """The engine of this process, when the API runs beside one (``cst run``, ``cst demo``)."""
    reuse_s: float = 1.0
    """How long a health report and the state behind the state gauges are reused: under a
    burst of requests each costs database reads once per this interval, not per request."""


class _Reused(Generic[T]):
    """The last value of ``compute`` while younger than ``max_age_s``; when it is older, one
    caller computes anew while the others keep getting the previous value."""

    def __init__(self, compute: Callable[[], T], max_age_s: float) -> None:
        self._compute = compute
        self._max_age_s = max_age_s
        self._value: tuple[float, T] | None = None
        self._computing = threading.Lock()

    def due(self) -> bool:
        """Whether a call now would compute (worth running off the event loop)."""
        value = self._value
        stale = value is None or time.monotonic() - value[0] >= self._max_age_s
        return stale and (value is None or not self._computing.locked())

    def __call__(self) -> T:
        value = self._value
        if value is not None and time.monotonic() - value[0] < self._max_age_s:
            return value[1]
        if value is not None and not self._computing.acquire(blocking=False):
            return value[1]
        if value is None:
            self._computing.acquire()
        try:
            fresh = self._compute()
            self._value = (time.monotonic(), fresh)
            return fresh
        finally:
            self._computing.release()


class KillSwitchChange(BaseModel):
    action: Literal["activate", "deactivate"]
    reason: str | None = Field(
        None,
        max_length=MAX_REASON_LENGTH,
        description="why; required to activate",
    )


def _refresh_state_gauges(context: ApiContext) -> None:
    """The kill switch follows the database (another process may have changed it); without an
    engine in this process nothing else marks the account, so it is exported as persisted."""
    system = context.system
    KillSwitch(system.store, system.clock).status()
    if context.engine is not None:
        return
    view = account_view(system.database)
    if view is not None:
        metrics.observe_account(
            equity=view.equity,
            start_of_day=view.start_of_day_equity,
            peak=view.peak_equity,
            gross_exposure=view.gross_exposure,
            open_positions=len(view.positions),
        )


Limit = Annotated[int, Query(ge=1, le=MAX_ROWS, description="rows, newest first")]


def create_app(context: ApiContext) -> FastAPI:
    system = context.system
    kill_switch = KillSwitch(system.store, system.clock)
    health_report = _Reused(lambda: check_health(system, context.engine), context.reuse_s)
    refresh_gauges = _Reused(lambda: _refresh_state_gauges(context), context.reuse_s)
    app = FastAPI(
        title="CryptoSmartTrader",
        version=__version__,
        description="Metrics, health, the trading state, and the kill switch.",
    )

    @app.exception_handler(SQLAlchemyError)
    @app.exception_handler(DatabaseError)
    async def database_unavailable(_request: Request, exc: Exception) -> JSONResponse:
        _log.error("api.database_error", error=type(exc).__name__)
        return JSONResponse({"detail": "the database is unavailable"}, status_code=503)

    def require_token(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> None:
        if context.token is None:
            raise HTTPException(403, "control endpoints are disabled: CST_API_TOKEN is not set")
        expected = context.token.get_secret_value().encode()
        given = (credentials.credentials if credentials else "").encode()
        if credentials is None or not hmac.compare_digest(given, expected):
            raise HTTPException(
                401, "a valid bearer token is required", {"WWW-Authenticate": "Bearer"}
            )

    @app.get("/metrics", response_class=Response, summary="Prometheus metrics (text format)")
    async def metrics_endpoint() -> Response:
        # Served on the event loop: only a due refresh (database reads) goes to a thread.
        if refresh_gauges.due():
            try:
                await run_in_threadpool(refresh_gauges)
            except Exception:  # noqa: BLE001 - counted as a database error; the rest exports
                _log.warning("api.metrics_state_unreadable")
        return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)

    @app.get("/health", summary="ok, degraded (200) or unhealthy (503), per component")
    async def health() -> JSONResponse:
        report = await run_in_threadpool(health_report) if health_report.due() else health_report()
        code = 503 if report.status is HealthStatus.UNHEALTHY else 200
        return JSONResponse(report.to_dict(), status_code=code)

    @app.get("/api/v1/status", summary="What runs, on which venue, and the account")
    def status() -> dict[str, Any]:
        engine = context.engine
        state = kill_switch.status()
        view = account_view(system.database)
        return {
            "version": __version__,
            "venue": system.settings.venue,
            "quote": system.settings.quote,
            "engine": None
            if engine is None
            else {
                "strategy": engine.strategy.name,
                "symbols": list(engine.settings.symbols),
                "timeframe": engine.settings.timeframe,
                "steps": engine.totals.steps,
                "heartbeat_age_s": None
                if engine.heartbeat is None
                else round(time.time() - engine.heartbeat, 3),
            },
            "kill_switch": kill_switch_dict(state),
            "account": None
            if view is None
            else {
                "cash": view.cash,
                "equity": view.equity,
                "start_of_day_equity": view.start_of_day_equity,
                "peak_equity": view.peak_equity,
                "open_positions": len(view.positions),
            },
        }

    @app.get("/api/v1/orders", summary="The newest orders")
    def orders(limit: Limit = 50) -> list[dict[str, Any]]:
        return recent_orders(system.database, limit)

    @app.get("/api/v1/decisions", summary="The newest gate decisions (audit trail)")
    def decisions(limit: Limit = 50) -> list[dict[str, Any]]:
        return [e.to_dict() for e in recent_audit(system.database, limit, DECISION_AUDIT_KIND)]

    @app.get("/api/v1/signals", summary="The newest judged signals (audit trail)")
    def signals(limit: Limit = 50) -> list[dict[str, Any]]:
        return [e.to_dict() for e in recent_audit(system.database, limit, SIGNAL_AUDIT_KIND)]

    @app.get("/api/v1/positions", summary="Cash, equity and open positions at their marks")
    def positions() -> dict[str, Any]:
        view = account_view(system.database)
        if view is None:
            return {"quote": system.settings.quote, "positions": []}
        return view.to_dict()

    @app.get("/api/v1/kill-switch", summary="The kill switch")
    def kill_switch_state() -> dict[str, Any]:
        return kill_switch_dict(kill_switch.status())

    @app.post(
        "/api/v1/kill-switch",
        summary="Activate or deactivate the kill switch (bearer token)",
        dependencies=[Depends(require_token)],
    )
    def change_kill_switch(change: KillSwitchChange) -> dict[str, Any]:
        try:
            if change.action == "activate":
                state, changed = kill_switch.activate(change.reason or "", API_ACTOR)
            else:
                state, changed = kill_switch.deactivate(API_ACTOR, change.reason)
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from None
        return {"changed": changed, **kill_switch_dict(state)}

    return app
