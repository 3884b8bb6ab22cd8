"""Helpers for market-data tests: a client on the paper exchange over real HTTP."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from cryptosmarttrader.data.cache import MarketDataCache
from cryptosmarttrader.data.circuit_breaker import BreakerConfig
from cryptosmarttrader.data.client import Backoff, MarketDataClient
from cryptosmarttrader.data.rate_limit import RateLimit
from cryptosmarttrader.exchanges.ccxt_public import CcxtPublicApi
from cryptosmarttrader.exchanges.paper.binance_dialect import DEMO_API_KEY, DEMO_API_SECRET
from cryptosmarttrader.exchanges.venue_config import CcxtVenueConfig

SOURCE = "paper-exchange"
ROOMY = RateLimit(rate_per_s=10_000.0, burst=10_000.0)


def paper_api(url: str) -> CcxtPublicApi:
    return CcxtPublicApi(
        CcxtVenueConfig(
            exchange_id="binance",
            venue=SOURCE,
            api_key=DEMO_API_KEY,
            api_secret=DEMO_API_SECRET,
            base_url=url,
            timeout_s=300.0,
            client_throttle=False,
        )
    )


class RecordedSleeps:
    """Stands in for asyncio.sleep in the retry loop: records each wait, returns at once."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def paper_client(
    url: str,
    *,
    limit: RateLimit = ROOMY,
    cache: MarketDataCache | None = None,
    breaker: BreakerConfig | None = None,
    backoff: Backoff | None = None,
    **kwargs: Any,
) -> MarketDataClient:
    return MarketDataClient(
        {SOURCE: paper_api(url)},
        rate_limits={SOURCE: limit},
        cache=cache or MarketDataCache(None),
        breaker=breaker,
        backoff=backoff,
        **kwargs,
    )


async def using(
    client: MarketDataClient, body: Callable[[MarketDataClient], Awaitable[Any]]
) -> Any:
    try:
        return await body(client)
    finally:
        await client.close()
