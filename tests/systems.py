"""Building real trading systems for tests, isolated from the developer's environment."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Table, func, select

from cryptosmarttrader.config.limits import ExecutionLimits, RiskLimits
from cryptosmarttrader.config.settings import PaperSettings, Settings, explicit_settings
from cryptosmarttrader.domain.clock import Clock, ManualClock
from cryptosmarttrader.domain.ports import MarketDataSource
from cryptosmarttrader.exchanges.paper.market import SimulatedMarket
from cryptosmarttrader.runtime.system import TradingSystem
from cryptosmarttrader.store.database import Database
from tests.factories import T0

MARKET = SimulatedMarket(7)


def settings_for(
    home: Path,
    db_url: str,
    *,
    risk: RiskLimits | None = None,
    execution: ExecutionLimits | None = None,
    quote_balance: float = 10_000.0,
) -> Settings:
    return explicit_settings(
        home=home,
        database_url=db_url,
        risk=risk or RiskLimits(),
        execution=execution or ExecutionLimits(),
        paper=PaperSettings(quote_balance=quote_balance),
    )


def open_system(
    home: Path,
    db_url: str,
    *,
    clock: Clock | None = None,
    market: SimulatedMarket = MARKET,
    market_data: MarketDataSource | None = None,
    **settings: Any,
) -> TradingSystem:
    return TradingSystem.open(
        settings_for(home, db_url, **settings),
        clock=clock or ManualClock(T0),
        market=market,
        market_data=market_data,
        persist_paper_venue=False,
    )


def rows(database: Database, table: Table, **where: Any) -> list[Any]:
    query = select(table)
    for column, wanted in where.items():
        query = query.where(table.c[column] == wanted)
    with database.engine.connect() as conn:
        return list(conn.execute(query.order_by(*table.primary_key.columns)).all())


def count(database: Database, table: Table) -> int:
    with database.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())
