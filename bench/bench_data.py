"""Market data through a rate limit: how close to the limit, and with how many 429s.

Tickers for 100 symbols, requested all at once, through the client's token bucket set to
10 requests a second (20 weight/s at Binance's ticker weight of 2, one request at a time)
against the paper exchange over loopback HTTP, whose own limit is set to exactly that.
The theoretical minimum is (100 - 1) / 10 = 9.9 s; the goal is at most 1.05 x that and no
429. Then the same 100 tickers again from the in-process cache.

Run: ``python bench/bench_data.py``. Prints a table.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time

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


async def measure(url: str) -> dict[str, float]:
    api = CcxtPublicApi(
        CcxtVenueConfig(
            "binance", SOURCE, DEMO_API_KEY, DEMO_API_SECRET, url, 300.0, client_throttle=False
        )
    )
    limit = RateLimit(REQUESTS_PER_S * TICKER_WEIGHT, TICKER_WEIGHT)
    client = MarketDataClient(
        {SOURCE: api}, rate_limits={SOURCE: limit}, cache=MarketDataCache(None)
    )
    try:
        await client.fetch(DataRequest(SOURCE, Endpoint.MARKETS))
        await asyncio.sleep(25 / limit.rate_per_s)  # let the catalog's weight drain first
        symbols = [f"C{i:03d}/USDT" for i in range(SYMBOLS)]
        started = time.perf_counter()
        await asyncio.gather(
            *(
                client.fetch(DataRequest(SOURCE, Endpoint.TICKER, s, cache_ttl_s=60))
                for s in symbols
            )
        )
        elapsed = time.perf_counter() - started
        started = time.perf_counter()
        hits = await asyncio.gather(
            *(
                client.fetch(DataRequest(SOURCE, Endpoint.TICKER, s, cache_ttl_s=60))
                for s in symbols
            )
        )
        cache_s = time.perf_counter() - started
        assert all(h.from_cache for h in hits)
    finally:
        await client.close()
    return {"elapsed": elapsed, "cache_us": cache_s / SYMBOLS * 1e6}


def main() -> None:
    market = SimulatedMarket(7, universe())
    # The exchange's own limit: exactly the bucket's, per one-second window.
    config = PaperExchangeConfig(
        weight_limit=int(REQUESTS_PER_S * TICKER_WEIGHT) + 20, weight_window_s=1.0
    )
    exchange = PaperExchange(market, config)
    with serve_in_thread(exchange) as running:
        result = asyncio.run(measure(running.url))
        rate_limited = exchange.stats.rate_limited
    minimum = (SYMBOLS - 1) / REQUESTS_PER_S
    print(f"{'measure':<40} {'value':>12}")
    print(f"{'tickers':<40} {SYMBOLS:>12}")
    print(f"{'limit (requests/s)':<40} {REQUESTS_PER_S:>12.1f}")
    print(f"{'theoretical minimum (s)':<40} {minimum:>12.2f}")
    print(f"{'elapsed (s)':<40} {result['elapsed']:>12.2f}")
    print(f"{'elapsed / minimum':<40} {result['elapsed'] / minimum:>12.3f}")
    print(f"{'429 answers':<40} {rate_limited:>12d}")
    print(f"{'cache hit (us per ticker)':<40} {result['cache_us']:>12.1f}")


if __name__ == "__main__":
    main()
