"""``cst doctor``: is this installation ready to run, and if not, what to do about it.

Each check reads, never writes (the database schema is not created, no order is sent) and
never shows a secret: credentials are reported as set or missing.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import redis
from sqlalchemy import inspect, make_url, select

from cryptosmarttrader.config.settings import LIVE_VENUES, Settings
from cryptosmarttrader.runtime.market_data import DATA_SOURCES, venue_config
from cryptosmarttrader.store.database import Database, DatabaseError, first_line
from cryptosmarttrader.store.schema import trading_control

SKEW_WARN_S = 0.5
TIMEOUT_S = 5.0


class CheckStatus(StrEnum):
    OK = "ok"
    WARN = "warn"
    FAIL = "fail"


@dataclass(frozen=True)
class Check:
    name: str
    status: CheckStatus
    detail: str
    fix: str | None = None

    def to_dict(self) -> dict[str, str | None]:
        return {
            "check": self.name,
            "status": self.status.value,
            "detail": self.detail,
            "fix": self.fix,
        }


def run_checks(settings: Settings) -> list[Check]:
    checks: list[Callable[[Settings], Check]] = [
        _configuration,
        _database,
        _cache,
        _exchange,
        check_credentials,
        _api_token,
    ]
    return [check(settings) for check in checks]


def _configuration(settings: Settings) -> Check:
    return Check(
        "configuration",
        CheckStatus.OK,
        f"venue {settings.venue}, quote {settings.quote}, home {settings.home}",
    )


def _database(settings: Settings) -> Check:
    url = make_url(settings.resolved_database_url)
    if url.get_backend_name() == "sqlite" and url.database and not Path(url.database).exists():
        # Connecting would create the file: say what the first command will do instead.
        return Check(
            "database",
            CheckStatus.OK,
            f"sqlite file {url.database} not created yet: the first command creates it",
        )
    try:
        database = Database(settings.resolved_database_url)
    except DatabaseError as exc:
        return Check("database", CheckStatus.FAIL, str(exc), "fix CST_DATABASE_URL")
    try:
        with database.engine.connect() as conn:
            if not inspect(conn).has_table(trading_control.name):
                return Check(
                    "database",
                    CheckStatus.OK,
                    f"{database.dialect} reachable, empty: the first command creates the schema",
                )
            conn.execute(select(trading_control.c.state_version)).all()
    except Exception as exc:  # noqa: BLE001 - whatever the driver says is the finding
        return Check(
            "database",
            CheckStatus.FAIL,
            f"{database.dialect} unreachable: {first_line(exc)}",
            "start the database server or fix CST_DATABASE_URL",
        )
    finally:
        database.dispose()
    return Check("database", CheckStatus.OK, f"{database.dialect} reachable, schema present")


def _cache(settings: Settings) -> Check:
    if settings.redis_url is None:
        return Check(
            "cache", CheckStatus.OK, "in-process (set CST_REDIS_URL to share one between processes)"
        )
    client = redis.Redis.from_url(
        settings.redis_url, socket_timeout=TIMEOUT_S, socket_connect_timeout=TIMEOUT_S
    )
    try:
        client.ping()
    except (redis.RedisError, OSError) as exc:
        return Check(
            "cache",
            CheckStatus.WARN,
            f"Redis unreachable ({type(exc).__name__}): the in-process cache will serve",
            "start Redis or fix CST_REDIS_URL",
        )
    finally:
        client.close()
    return Check("cache", CheckStatus.OK, "Redis answers")


def _exchange(settings: Settings) -> Check:
    if settings.venue not in DATA_SOURCES:
        return Check("exchange", CheckStatus.OK, "built-in simulated market (no network)")
    try:
        skew, latency = asyncio.run(_clock_skew(settings))
    except Exception as exc:  # noqa: BLE001 - whatever ccxt says is the finding
        return Check(
            "exchange",
            CheckStatus.FAIL,
            f"{settings.venue} unreachable: {type(exc).__name__}: {str(exc)[:200]}",
            "check the network, the exchange's status page, or exchange.paper_exchange_url",
        )
    detail = f"{settings.venue} answers in {latency * 1000:.0f} ms; clock skew {skew:+.3f} s"
    if abs(skew) >= settings.exchange.recv_window_s:
        return Check(
            "exchange",
            CheckStatus.FAIL,
            detail,
            "synchronise the clock (chrony or systemd-timesyncd): signed requests will be refused",
        )
    if abs(skew) >= SKEW_WARN_S:
        return Check("exchange", CheckStatus.WARN, detail, "synchronise the clock (NTP)")
    return Check("exchange", CheckStatus.OK, detail)


async def _clock_skew(settings: Settings) -> tuple[float, float]:
    """(exchange time - local time at the midpoint of the request, round trip), in seconds."""
    from cryptosmarttrader.exchanges.ccxt_client import new_async_client

    client = new_async_client(venue_config(settings, settings.venue))
    try:
        sent = time.time()
        server_ms = await asyncio.wait_for(client.fetch_time(), TIMEOUT_S)
        received = time.time()
    finally:
        await client.close()
    return float(server_ms) / 1000 - (sent + received) / 2, received - sent


def check_credentials(settings: Settings) -> Check:
    present = {
        "CST_API_KEY": settings.api_key is not None,
        "CST_API_SECRET": settings.api_secret is not None,
    }
    shown = ", ".join(f"{name} {'set' if ok else 'missing'}" for name, ok in present.items())
    if settings.venue in LIVE_VENUES and not all(present.values()):
        return Check(
            "credentials",
            CheckStatus.FAIL,
            shown,
            f"export the {settings.venue} API key and secret (trade-only, no withdrawal rights)",
        )
    if settings.venue not in LIVE_VENUES:
        shown += f" (not needed for venue {settings.venue})"
    return Check("credentials", CheckStatus.OK, shown)


def _api_token(settings: Settings) -> Check:
    if settings.api_token is None:
        return Check(
            "api token",
            CheckStatus.WARN,
            "CST_API_TOKEN missing: the API's kill switch control is disabled (403)",
            "export CST_API_TOKEN=$(openssl rand -hex 24)",
        )
    return Check("api token", CheckStatus.OK, "CST_API_TOKEN set")
