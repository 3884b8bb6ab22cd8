"""Building the market-data client and feed from the settings."""

from __future__ import annotations

import dataclasses

from cryptosmarttrader.config.settings import ConfigError, Settings
from cryptosmarttrader.data.cache import MarketDataCache
from cryptosmarttrader.data.circuit_breaker import BreakerConfig
from cryptosmarttrader.data.client import Backoff, MarketDataClient
from cryptosmarttrader.data.feed import FeedConfig, MarketDataFeed
from cryptosmarttrader.data.rate_limit import RateLimit
from cryptosmarttrader.data.request import MAX_TIMEOUT_S
from cryptosmarttrader.exchanges.paper.binance_dialect import DEMO_API_KEY, DEMO_API_SECRET
from cryptosmarttrader.exchanges.venue_config import CcxtVenueConfig

DATA_SOURCES = ("paper-exchange", "binance", "kraken")


def venue_config(settings: Settings, venue: str) -> CcxtVenueConfig:
    """The ccxt configuration of ``venue`` (``paper-exchange``, ``binance`` or ``kraken``);
    keys only for the configured trading venue."""
    if venue not in DATA_SOURCES:
        raise ConfigError(f"unknown exchange {venue!r}; choose from {', '.join(DATA_SOURCES)}")
    exchange = settings.exchange
    own = venue == settings.venue
    key = settings.api_key.get_secret_value() if settings.api_key and own else None
    secret = settings.api_secret.get_secret_value() if settings.api_secret and own else None
    paper = venue == "paper-exchange"
    return CcxtVenueConfig(
        exchange_id="binance" if paper else venue,
        venue=venue,
        api_key=(key or DEMO_API_KEY) if paper else key,
        api_secret=(secret or DEMO_API_SECRET) if paper else secret,
        base_url=exchange.paper_exchange_url if paper else None,
        timeout_s=exchange.timeout_s,
        create_attempts=exchange.create_attempts,
        recv_window_s=exchange.recv_window_s,
        send_window_s=exchange.send_window_s,
        clock_margin_s=exchange.clock_margin_s,
        client_throttle=exchange.client_throttle,
    )


def open_market_data_client(settings: Settings, venues: tuple[str, ...]) -> MarketDataClient:
    # ccxt takes a second to import: only the commands that fetch data pay for it.
    from cryptosmarttrader.exchanges.ccxt_public import CcxtPublicApi

    data = settings.data
    apis = {}
    for venue in venues:
        # The client's own throttle and timeout give way to the token bucket and the
        # per-request timeout, which cover the whole call.
        config = dataclasses.replace(
            venue_config(settings, venue), client_throttle=False, timeout_s=MAX_TIMEOUT_S
        )
        apis[venue] = CcxtPublicApi(config)
    return MarketDataClient(
        apis,
        rate_limits={venue: RateLimit(*data.rate_limit(venue)) for venue in venues},
        cache=MarketDataCache(
            settings.redis_url, max_entries=data.cache_max_entries, retry_s=data.redis_retry_s
        ),
        breaker=BreakerConfig(
            failures=data.breaker_failures,
            failure_rate=data.breaker_failure_rate,
            window=data.breaker_window,
            min_calls=min(data.breaker_min_calls, data.breaker_window),
            open_s=data.breaker_open_s,
        ),
        backoff=Backoff(data.backoff_initial_s, data.backoff_max_s, data.backoff_jitter_s),
    )


def open_market_data_feed(settings: Settings, venue: str) -> MarketDataFeed:
    data = settings.data
    return MarketDataFeed(
        open_market_data_client(settings, (venue,)),
        venue,
        limits=settings.risk,
        config=FeedConfig(
            book_depth=data.book_depth,
            snapshot_cache_ttl_s=data.snapshot_cache_ttl_s,
            quality_candles=data.quality_candles,
            outlier_sigma=data.outlier_sigma,
        ),
    )
