"""Market data through a rate limit: how close to the limit, and with how many 429s.

Tickers for 100 symbols, requested all at once, through the client's token bucket set to
10 requests a second (20 weight/s at Binance's ticker weight of 2, one request of burst)
against the paper exchange over loopback HTTP, whose own limit is what such a client may send
in any one-second window: one second's weight plus the burst. The theoretical minimum is
(100 - 1) / 10 = 9.9 s; the goal is at most 1.05 x that and no 429. Then the same 100 tickers
again from the cache: in-process, or Redis when ``CST_REDIS_URL`` is set.

Run: ``python bench/bench_data.py`` (or ``CST_REDIS_URL=redis://127.0.0.1:6379/15 python
bench/bench_data.py``). Prints a table.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import time

import redis

from cryptosmarttrader.data.cache import MarketDataCache
from cryptosmarttrader.data.client import MarketDataClient
from cryptosmarttrader.data.rate_limit import RateLimit
from cryptosmarttrader.data.request import DataRequest
from cryptosmarttrader.domain.market_data import Endpoint
from cryptosmarttrader.exchanges.ccxt_public import CcxtPublicApi
from cryptosmarttrader.exchanges.paper.binance_dialect import DEMO_API_KEY, DEMO_API_SECRET
from cryptosmarttrader.exchanges.paper.market import (
    DEFAULT_UNIVERSE,
    SimulatedAsset,
    SimulatedMarket,
)
from cryptosmarttrader.exchanges.paper.server import (
    PaperExchange,
    PaperExchangeConfig,
    serve_in_thread,
)
from cryptosmarttrader.exchanges.venue_config import CcxtVenueConfig

SYMBOLS = 100
REQUESTS_PER_S = 10.0
TICKER_WEIGHT = 2.0
SOURCE = "paper-exchange"


def universe() -> list[SimulatedAsset]:
    assets = []
    for i in range(SYMBOLS):
        template = DEFAULT_UNIVERSE[i % len(DEFAULT_UNIVERSE)]
        assets.append(dataclasses.replace(template, symbol=f"C{i:03d}/USDT"))
    return assets


def ticker_requests() -> list[DataRequest]:
    # Timeout above the 9.9 s the last request queues for: this measures the limit, not timeouts.
    return [
        DataRequest(SOURCE, Endpoint.TICKER, f"C{i:03d}/USDT", timeout_s=60.0, cache_ttl_s=60.0)
        for i in range(SYMBOLS)
    ]


async def measure(url: str, redis_url: str | None) -> dict[str, float]:
    api = CcxtPublicApi(
        CcxtVenueConfig(
            "binance",
            SOURCE,
            api_key=DEMO_API_KEY,
            api_secret=DEMO_API_SECRET,
            base_url=url,
            client_throttle=False,
        )
    )
    limit = RateLimit(REQUESTS_PER_S * TICKER_WEIGHT, TICKER_WEIGHT)
    client = MarketDataClient(
        {SOURCE: api}, rate_limits={SOURCE: limit}, cache=MarketDataCache(redis_url)
    )
    try:
        await client.fetch(DataRequest(SOURCE, Endpoint.MARKETS))
        # The simulator builds a day of prices on the first ticker; done while the clock is
        # stopped, so that the exchange's warm-up does not bunch the timed requests together.
        await client.fetch(DataRequest(SOURCE, Endpoint.TICKER, "C000/USDT", cache_ttl_s=0.0))
        # The catalog's and the warm-up's weight (22) are paid for before the clock starts.
        await asyncio.sleep(30 / limit.rate_per_s)
        started = time.perf_counter()
        fetched = await asyncio.gather(*(client.fetch(r) for r in ticker_requests()))
        elapsed = time.perf_counter() - started
        started = time.perf_counter()
        hits = await asyncio.gather(*(client.fetch(r) for r in ticker_requests()))
        cache_s = time.perf_counter() - started
        if any(f.from_cache for f in fetched) or not all(h.from_cache for h in hits):
            raise SystemExit("cache state is not what the benchmark assumes")
    finally:
        await client.close()
    return {"elapsed": elapsed, "cache_us": cache_s / SYMBOLS * 1e6}


def main() -> None:
    redis_url = os.environ.get("CST_REDIS_URL") or None
    if redis_url:  # entries left by an earlier run would be hits in the timed phase
        with redis.Redis.from_url(redis_url) as connection:
            connection.delete(*(r.cache_key for r in ticker_requests()))
    market = SimulatedMarket(7, universe())
    # The exchange's own limit: what the bucket may send in any one-second window.
    config = PaperExchangeConfig(
        weight_limit=int(REQUESTS_PER_S * TICKER_WEIGHT + TICKER_WEIGHT), weight_window_s=1.0
    )
    exchange = PaperExchange(market, config)
    with serve_in_thread(exchange) as running:
        result = asyncio.run(measure(running.url, redis_url))
        rate_limited = exchange.stats.rate_limited
    minimum = (SYMBOLS - 1) / REQUESTS_PER_S
    print(f"{'measure':<40} {'value':>12}")
    print(f"{'tickers':<40} {SYMBOLS:>12}")
    print(f"{'limit (requests/s)':<40} {REQUESTS_PER_S:>12.1f}")
    print(f"{'theoretical minimum (s)':<40} {minimum:>12.2f}")
    print(f"{'elapsed (s)':<40} {result['elapsed']:>12.2f}")
    print(f"{'elapsed / minimum':<40} {result['elapsed'] / minimum:>12.3f}")
    print(f"{'429 answers':<40} {rate_limited:>12d}")
    backend = "redis" if redis_url else "in-process"
    print(f"{f'cache hit, {backend} (us per ticker)':<40} {result['cache_us']:>12.1f}")


if __name__ == "__main__":
    main()
