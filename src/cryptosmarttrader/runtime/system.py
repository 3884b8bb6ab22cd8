"""The composition root: builds the trading system from settings, one object per concept."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType

from cryptosmarttrader.config.settings import LIVE_VENUES, ConfigError, Settings
from cryptosmarttrader.data.client import MarketDataError
from cryptosmarttrader.data.correlation import RollingCorrelationProvider
from cryptosmarttrader.data.feed import MarketDataFeed
from cryptosmarttrader.data.live_market import LiveDataMarket
from cryptosmarttrader.domain.clock import Clock, SystemClock
from cryptosmarttrader.domain.ports import CandleSource, MarketDataSource, PriceHistory
from cryptosmarttrader.domain.symbols import Instrument
from cryptosmarttrader.exchanges.broker import Broker
from cryptosmarttrader.exchanges.paper.market import MarketModel, SimulatedFeed, SimulatedMarket
from cryptosmarttrader.exchanges.paper.venue import PaperVenue
from cryptosmarttrader.exchanges.simulated import SimulatedBroker
from cryptosmarttrader.execution.gateway import OrderGateway
from cryptosmarttrader.execution.policy import ExecutionPolicy
from cryptosmarttrader.observability.logging import register_secret
from cryptosmarttrader.risk.guard import RiskGuard
from cryptosmarttrader.risk.kill_switch import KillSwitch
from cryptosmarttrader.runtime.market_data import open_market_data_feed, venue_config
from cryptosmarttrader.store.database import Database
from cryptosmarttrader.store.state_store import StateStore

PAPER_VENUE_FILE = "paper-venue.json"


class LiveTradingNotConfirmedError(ConfigError):
    """A real venue was configured without the explicit ``--live`` confirmation."""


@dataclass
class TradingSystem:
    settings: Settings
    clock: Clock
    database: Database
    store: StateStore
    market_data: MarketDataSource
    broker: Broker
    gateway: OrderGateway
    kill_switch: KillSwitch
    candles: CandleSource
    sim_market: SimulatedMarket | None = None
    paper_venue: PaperVenue | None = None
    data_feed: MarketDataFeed | None = None
    """The resilient client's feed of a real (or paper-exchange) venue; None on the simulator."""
    closers: tuple[Callable[[], None], ...] = ()
    """What else the system opened (the market-data feed's loop and sessions)."""

    @property
    def market(self) -> SimulatedMarket:
        """The built-in simulated market (venue ``paper`` only)."""
        if self.sim_market is None:
            raise RuntimeError(f"venue {self.settings.venue} has no built-in simulated market")
        return self.sim_market

    @property
    def venue(self) -> PaperVenue:
        """The in-process paper venue (venue ``paper`` only)."""
        if self.paper_venue is None:
            raise RuntimeError(f"venue {self.settings.venue} is not the in-process paper venue")
        return self.paper_venue

    @classmethod
    def open(
        cls,
        settings: Settings,
        *,
        clock: Clock | None = None,
        market: SimulatedMarket | None = None,
        market_data: MarketDataSource | None = None,
        persist_paper_venue: bool = True,
        live: bool = False,
        wrap_broker: Callable[[Broker], Broker] | None = None,
        data_exchange: str | None = None,
    ) -> TradingSystem:
        """Open the database (creating the schema), the venue's broker and the gateway.

        ``market_data`` replaces the venue's live data (e.g. with a lagging or faulty feed);
        ``wrap_broker`` decorates the venue's broker (the crash harness kills the process
        around ``place()`` this way).

        Venue ``paper`` (the default) trades in-process on the simulated market; with
        ``persist_paper_venue`` that venue keeps its balances and orders in
        ``$CST_HOME/paper-venue.json``, so it outlives the process like a real exchange does.
        ``paper-exchange`` trades through ccxt against ``cst paper-exchange``; ``binance`` and
        ``kraken`` place real orders and need ``live=True`` and keys.

        ``data_exchange`` (venue ``paper`` only) replaces the simulated market with that
        exchange's public data: the paper venue fills at its real prices, in its own state file.
        """
        clock = clock or SystemClock()
        for secret in (settings.api_key, settings.api_secret, settings.api_token):
            register_secret(secret.get_secret_value() if secret is not None else None)
        if settings.venue in LIVE_VENUES:
            if not live:
                raise LiveTradingNotConfirmedError(
                    f"venue {settings.venue} places real orders: confirm with --live"
                )
            if settings.api_key is None or settings.api_secret is None:
                raise ConfigError(
                    f"venue {settings.venue} needs CST_API_KEY and CST_API_SECRET "
                    "in the environment"
                )
        sim_market: SimulatedMarket | None = None
        paper_venue: PaperVenue | None = None
        closers: list[Callable[[], None]] = []
        data_feed: MarketDataFeed | None = None
        history: PriceHistory
        candles: CandleSource
        if data_exchange is not None and settings.venue != "paper":
            raise ConfigError(
                f"real data with paper fills needs venue paper; venue {settings.venue} trades "
                "on its own data"
            )

        def open_paper_venue(market: MarketModel, file_name: str) -> PaperVenue:
            return PaperVenue(
                market,
                clock,
                initial_balances={settings.quote: settings.paper.quote_balance},
                fee_rate=settings.paper.fee_rate,
                state_file=settings.home / file_name if persist_paper_venue else None,
            )

        if data_exchange is not None:
            feed = data_feed = open_market_data_feed(settings, data_exchange)
            try:
                live_market = LiveDataMarket(feed, settings.quote)
            except (ValueError, MarketDataError, TimeoutError) as exc:
                feed.close()
                raise ConfigError(f"{data_exchange}: {exc}") from None
            closers.append(feed.close)
            paper_venue = open_paper_venue(live_market, f"paper-venue-{data_exchange}.json")
            broker: Broker = SimulatedBroker(paper_venue)
            market_data = market_data or feed
            history = feed
            candles = feed
        elif settings.venue == "paper":
            sim_market = market or SimulatedMarket(seed=settings.paper.seed)
            if sim_market.quote != settings.quote:
                raise ConfigError(
                    f"quote: the simulated market trades against {sim_market.quote}, "
                    f"not {settings.quote}"
                )
            paper_venue = open_paper_venue(sim_market, PAPER_VENUE_FILE)
            broker = SimulatedBroker(paper_venue)
            simulated_feed = SimulatedFeed(sim_market, clock)
            market_data = market_data or simulated_feed
            history = sim_market
            candles = simulated_feed
        else:
            # ccxt takes a second to import: only the venues that use it pay for it.
            from cryptosmarttrader.exchanges.ccxt_broker import CcxtBroker

            broker = CcxtBroker(venue_config(settings, settings.venue))
            feed = data_feed = open_market_data_feed(settings, settings.venue)
            closers.append(feed.close)
            market_data = market_data or feed
            history = feed
            candles = feed
        if wrap_broker is not None:
            broker = wrap_broker(broker)
        try:
            database = Database(
                settings.resolved_database_url, sqlite_synchronous=settings.sqlite_synchronous
            )
            database.create_schema()
            store = StateStore(database)
            guard = RiskGuard(settings.risk, RollingCorrelationProvider(history))
            gateway = OrderGateway(
                store=store,
                broker=broker,
                market_data=market_data,
                guard=guard,
                policy=ExecutionPolicy(settings.execution),
                clock=clock,
                quote=settings.quote,
            )
        except BaseException:
            for close in (broker.close, *closers):
                close()
            raise
        return cls(
            settings=settings,
            clock=clock,
            database=database,
            store=store,
            market_data=market_data,
            broker=broker,
            gateway=gateway,
            kill_switch=KillSwitch(store, clock),
            candles=candles,
            sim_market=sim_market,
            paper_venue=paper_venue,
            data_feed=data_feed,
            closers=tuple(closers),
        )

    def close(self) -> None:
        try:
            for close in (self.broker.close, *self.closers):
                close()
        finally:
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


def known_instruments(settings: Settings) -> dict[str, Instrument] | None:
    """The venue's catalog when it is known without opening anything (the simulated venue),
    so that bad input can be refused before a database is created; None for real venues."""
    if settings.venue == "paper":
        return SimulatedMarket(seed=settings.paper.seed).instruments()
    return None
