"""The composition root: builds the trading system from settings, one object per concept."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from cryptosmarttrader.config.settings import Settings
from cryptosmarttrader.data.correlation import RollingCorrelationProvider
from cryptosmarttrader.domain.clock import Clock, SystemClock
from cryptosmarttrader.domain.ports import MarketDataSource
from cryptosmarttrader.exchanges.paper.market import SimulatedFeed, SimulatedMarket
from cryptosmarttrader.exchanges.paper.venue import PaperVenue
from cryptosmarttrader.exchanges.simulated import SimulatedBroker
from cryptosmarttrader.execution.gateway import OrderGateway
from cryptosmarttrader.execution.policy import ExecutionPolicy
from cryptosmarttrader.risk.guard import RiskGuard
from cryptosmarttrader.risk.kill_switch import KillSwitch
from cryptosmarttrader.store.database import Database
from cryptosmarttrader.store.state_store import StateStore

PAPER_VENUE_FILE = "paper-venue.json"


@dataclass
class TradingSystem:
    settings: Settings
    clock: Clock
    database: Database
    store: StateStore
    market: SimulatedMarket
    market_data: MarketDataSource
    venue: PaperVenue
    broker: SimulatedBroker
    gateway: OrderGateway
    kill_switch: KillSwitch

    @classmethod
    def open(
        cls,
        settings: Settings,
        *,
        clock: Clock | None = None,
        market: SimulatedMarket | None = None,
        market_data: MarketDataSource | None = None,
        persist_paper_venue: bool = True,
    ) -> TradingSystem:
        """Open the database (creating the schema), the paper venue and the gateway.

        ``market_data`` replaces the live simulated feed (e.g. with a lagging or faulty one).

        With ``persist_paper_venue`` the simulated venue keeps its balances and orders in
        ``$CST_HOME/paper-venue.json``, so it outlives the process like a real exchange does.
        """
        clock = clock or SystemClock()
        database = Database(
            settings.resolved_database_url, sqlite_synchronous=settings.sqlite_synchronous
        )
        database.create_schema()
        store = StateStore(database)
        market = market or SimulatedMarket(seed=settings.paper.seed)
        state_file: Path | None = settings.home / PAPER_VENUE_FILE if persist_paper_venue else None
        venue = PaperVenue(
            market,
            clock,
            initial_balances={market.quote: settings.paper.quote_balance},
            fee_rate=settings.paper.fee_rate,
            state_file=state_file,
        )
        broker = SimulatedBroker(venue)
        market_data = market_data or SimulatedFeed(market, clock)
        guard = RiskGuard(settings.risk, RollingCorrelationProvider(market))
        gateway = OrderGateway(
            store=store,
            broker=broker,
            market_data=market_data,
            guard=guard,
            policy=ExecutionPolicy(settings.execution),
            clock=clock,
            quote=market.quote,
        )
        return cls(
            settings=settings,
            clock=clock,
            database=database,
            store=store,
            market=market,
            market_data=market_data,
            venue=venue,
            broker=broker,
            gateway=gateway,
            kill_switch=KillSwitch(store, clock),
        )

    def close(self) -> None:
        self.store.close()
        self.database.dispose()

    def __enter__(self) -> TradingSystem:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
