"""The market-data client against the paper exchange over real HTTP with the real ccxt client."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest
from prometheus_client import REGISTRY

from cryptosmarttrader.data.circuit_breaker import BreakerConfig, BreakerState
from cryptosmarttrader.data.client import Backoff, MarketDataClient, MarketDataError
from cryptosmarttrader.data.rate_limit import RateLimit
from cryptosmarttrader.data.request import DataRequest, Priority
from cryptosmarttrader.domain.candles import CandleSeries
from cryptosmarttrader.domain.market_data import Endpoint, OrderBook, Ticker
from cryptosmarttrader.domain.symbols import Instrument
from cryptosmarttrader.exchanges.paper.server import RunningExchange
from cryptosmarttrader.exchanges.public_api import FailureKind
from tests.market_data import SOURCE, RecordedSleeps, paper_client, using
from tests.paper_exchange import control, running_exchange

TICKER_PATH = "GET /api/v3/ticker/24hr"


@pytest.fixture
def exchange() -> Iterator[RunningExchange]:
    with running_exchange() as running:
        yield running


def fault(url: str, **rule: object) -> None:
    control(url, "POST", "/_paper/faults", rule)


def requests_to(url: str, key: str) -> int:
    stats: dict[str, Any] = control(url, "GET", "/_paper/stats")
    return int(stats["requests"].get(key, 0))


def ticker(symbol: str = "BTC/USDT", **kwargs: Any) -> DataRequest:
    return DataRequest(SOURCE, Endpoint.TICKER, symbol, **kwargs)


def test_every_endpoint_answers_with_its_shape_and_the_exchange_time(
    exchange: RunningExchange,
) -> None:
    async def body(client: MarketDataClient) -> dict[Endpoint, Any]:
        requests = [
            ticker(),
            DataRequest(SOURCE, Endpoint.ORDER_BOOK, "ETH/USDT", {"limit": 20}),
            DataRequest(SOURCE, Endpoint.OHLCV, "BTC/USDT", {"timeframe": "1m", "limit": 30}),
            DataRequest(SOURCE, Endpoint.TRADES, "BTC/USDT", {"limit": 10}),
            DataRequest(SOURCE, Endpoint.MARKETS),
        ]
        responses = await asyncio.gather(*(client.fetch(r) for r in requests))
        return {r.request.endpoint: r for r in responses}

    before = time.time()
    got = asyncio.run(using(paper_client(exchange.url), body))
    after = time.time()
    tick = got[Endpoint.TICKER]
    assert isinstance(tick.data, Ticker)
    assert 0 < tick.data.bid < tick.data.ask
    assert tick.exchange_ts is not None
    assert before - 2 <= tick.exchange_ts <= after
    assert before <= tick.fetched_at <= after
    assert not tick.from_cache
    book = got[Endpoint.ORDER_BOOK].data
    assert isinstance(book, OrderBook)
    assert len(book.bids) == 20
    assert book.bids[0][0] < book.asks[0][0]
    assert book.ts is None  # Binance's depth endpoint has no time
    candles = got[Endpoint.OHLCV]
    assert isinstance(candles.data, CandleSeries)
    assert len(candles.data) == 30
    assert candles.exchange_ts == candles.data.open_ts[-1]
    assert got[Endpoint.TRADES].data == ()  # nothing traded on a fresh exchange
    markets = got[Endpoint.MARKETS].data
    assert isinstance(markets, dict)
    assert isinstance(markets["BTC/USDT"], Instrument)


def test_a_cache_hit_keeps_the_original_exchange_time_and_fetch_time(
    exchange: RunningExchange,
) -> None:
    async def body(client: MarketDataClient) -> tuple[Any, Any, Any]:
        first = await client.fetch(ticker(cache_ttl_s=60))
        second = await client.fetch(ticker(cache_ttl_s=60))
        uncached = await client.fetch(ticker(cache_ttl_s=0))
        return first, second, uncached

    first, second, uncached = asyncio.run(using(paper_client(exchange.url), body))
    assert second.from_cache
    assert second.exchange_ts == first.exchange_ts
    assert second.fetched_at == first.fetched_at
    assert second.data == first.data
    assert not uncached.from_cache
    assert requests_to(exchange.url, TICKER_PATH) == 2


def test_the_timeout_fires_within_ten_percent_of_its_setting(exchange: RunningExchange) -> None:
    fault(exchange.url, kind="hang", path="/api/v3/ticker/24hr", param=20)

    async def body(client: MarketDataClient) -> tuple[float, MarketDataError]:
        await client.fetch(DataRequest(SOURCE, Endpoint.MARKETS))  # catalog outside the clock
        started = time.monotonic()
        with pytest.raises(MarketDataError) as caught:
            await client.fetch(ticker(timeout_s=1.5, attempts=1, cache_ttl_s=0))
        return time.monotonic() - started, caught.value

    elapsed, error = asyncio.run(using(paper_client(exchange.url), body))
    assert error.kind == "timeout"
    assert 1.5 <= elapsed <= 1.65


def test_waiting_for_the_rate_limit_counts_against_the_timeout(exchange: RunningExchange) -> None:
    async def body(client: MarketDataClient) -> tuple[float, MarketDataError]:
        await client.fetch(DataRequest(SOURCE, Endpoint.MARKETS))  # 20 of the 30 tokens
        await client.bucket(SOURCE).acquire(10, Priority.LOW)  # the rest
        started = time.monotonic()
        with pytest.raises(MarketDataError) as caught:
            # A ticker costs 2: two seconds away at one token a second.
            await client.fetch(ticker(timeout_s=1.0, attempts=1, cache_ttl_s=0))
        elapsed = time.monotonic() - started
        assert client.breaker(SOURCE, Endpoint.TICKER).state is BreakerState.CLOSED
        return elapsed, caught.value

    limit = RateLimit(rate_per_s=1.0, burst=30.0)
    elapsed, error = asyncio.run(using(paper_client(exchange.url, limit=limit), body))
    assert error.kind == "timeout"
    assert "rate limit" in str(error)
    assert 1.0 <= elapsed <= 1.1
    assert requests_to(exchange.url, TICKER_PATH) == 0


def test_one_deadline_covers_the_rate_limit_wait_and_the_call(exchange: RunningExchange) -> None:
    fault(exchange.url, kind="hang", path="/api/v3/ticker/24hr", param=20)

    async def body(client: MarketDataClient) -> tuple[float, MarketDataError]:
        await client.fetch(DataRequest(SOURCE, Endpoint.MARKETS))
        await client.bucket(SOURCE).acquire(8.6, Priority.LOW)  # 1.4 tokens left
        started = time.monotonic()
        with pytest.raises(MarketDataError) as caught:
            # 0.6 s in the queue, then the exchange hangs: 0.4 s are left for the call.
            await client.fetch(ticker(timeout_s=1.0, attempts=1, cache_ttl_s=0))
        return time.monotonic() - started, caught.value

    limit = RateLimit(rate_per_s=1.0, burst=30.0)
    elapsed, error = asyncio.run(using(paper_client(exchange.url, limit=limit), body))
    assert error.kind == "timeout"
    assert 1.0 <= elapsed <= 1.1
    assert requests_to(exchange.url, TICKER_PATH) == 1


def test_retries_follow_the_backoff_formula_then_succeed(exchange: RunningExchange) -> None:
    fault(exchange.url, kind="http_503", path="/api/v3/ticker/24hr", count=3)
    sleeps = RecordedSleeps()
    backoff = Backoff(initial_s=0.5, max_s=1.2, jitter_s=0.25)

    async def body(client: MarketDataClient) -> Any:
        return await client.fetch(ticker(attempts=4, cache_ttl_s=0))

    response = asyncio.run(using(paper_client(exchange.url, backoff=backoff, sleep=sleeps), body))
    assert response.attempts == 4
    assert requests_to(exchange.url, TICKER_PATH) == 4
    # wait n = min(max, initial * 2**(n-1) + U(0, jitter))
    assert 0.5 <= sleeps.waits[0] <= 0.75
    assert 1.0 <= sleeps.waits[1] <= 1.2
    assert sleeps.waits[2] == pytest.approx(1.2)
    assert len(sleeps.waits) == 3


def test_retry_after_is_honoured_and_pauses_the_exchange(exchange: RunningExchange) -> None:
    fault(exchange.url, kind="http_429", path="/api/v3/ticker/24hr", count=1)
    sleeps = RecordedSleeps()
    backoff = Backoff(initial_s=0.05, max_s=0.1, jitter_s=0.0)

    async def body(client: MarketDataClient) -> tuple[Any, float]:
        await client.fetch(DataRequest(SOURCE, Endpoint.MARKETS))
        started = time.monotonic()
        response = await client.fetch(ticker(attempts=2, cache_ttl_s=0))
        return response, time.monotonic() - started

    response, waited = asyncio.run(
        using(paper_client(exchange.url, backoff=backoff, sleep=sleeps), body)
    )
    assert response.attempts == 2
    assert sleeps.waits == [1.0]  # the paper exchange's Retry-After, not the 0.05 s backoff
    # The retry's sleep was recorded, not slept: the second second comes from the exchange's
    # bucket, which the 429 paused for every caller until Retry-After had passed.
    assert waited >= 1.0


def test_a_retry_after_longer_than_the_request_budget_ends_the_retries(
    exchange: RunningExchange,
) -> None:
    fault(exchange.url, kind="http_429", param=120, path="/api/v3/ticker/24hr", count=1)
    sleeps = RecordedSleeps()
    backoff = Backoff(initial_s=0.05, max_s=0.1, jitter_s=0.0)

    async def body(client: MarketDataClient) -> MarketDataError:
        await client.fetch(DataRequest(SOURCE, Endpoint.MARKETS))
        with pytest.raises(MarketDataError) as raised:
            # Budget: 3 x (1 s + 0.1 s); the exchange asks for two minutes.
            await client.fetch(ticker(attempts=3, timeout_s=1.0, cache_ttl_s=0))
        return raised.value

    error = asyncio.run(using(paper_client(exchange.url, backoff=backoff, sleep=sleeps), body))
    assert sleeps.waits == []  # no waiting at all: the caller hears at once
    assert error.kind is FailureKind.RATE_LIMITED
    assert "(after 1 attempt; the exchange asked to wait 120 s)" in str(error)
    assert requests_to(exchange.url, "GET /api/v3/ticker/24hr") == 1


def test_a_request_the_exchange_rejects_is_not_retried(exchange: RunningExchange) -> None:
    sleeps = RecordedSleeps()

    async def body(client: MarketDataClient) -> list[MarketDataError]:
        errors = []
        for request in (
            DataRequest(SOURCE, Endpoint.OHLCV, "NOPE/USDT", attempts=5, cache_ttl_s=0),
            # Binance serves only 5, 10, 20, 50, 100, ... levels: a 400 from the exchange.
            DataRequest(SOURCE, Endpoint.ORDER_BOOK, "BTC/USDT", {"limit": 7}, attempts=5),
        ):
            with pytest.raises(MarketDataError) as caught:
                await client.fetch(request)
            errors.append(caught.value)
        return errors

    errors = asyncio.run(using(paper_client(exchange.url, sleep=sleeps), body))
    assert [e.kind for e in errors] == ["rejected", "rejected"]
    assert all("after 1 attempt" in str(e) for e in errors)
    assert sleeps.waits == []
    assert requests_to(exchange.url, "GET /api/v3/depth") == 1


def _breaker_state(endpoint: str) -> float | None:
    return REGISTRY.get_sample_value(
        "cst_circuit_breaker_state", {"exchange": SOURCE, "endpoint": endpoint}
    )


def test_breaker_opens_fails_fast_half_opens_with_one_probe_and_closes(
    exchange: RunningExchange,
) -> None:
    now = [1000.0]
    config = BreakerConfig(failures=3, failure_rate=1.0, window=10, min_calls=10, open_s=30.0)
    fault(exchange.url, kind="http_500", path="/api/v3/ticker/24hr")
    request = ticker(attempts=1, cache_ttl_s=0)

    async def body(client: MarketDataClient) -> list[Any]:
        await client.fetch(DataRequest(SOURCE, Endpoint.MARKETS))
        kinds = []
        for _ in range(3):
            with pytest.raises(MarketDataError) as caught:
                await client.fetch(request)
            kinds.append(caught.value.kind)
        breaker = client.breaker(SOURCE, Endpoint.TICKER)
        opened = (breaker.state, _breaker_state("ticker"))
        served = requests_to(exchange.url, TICKER_PATH)
        with pytest.raises(MarketDataError) as fast:
            await client.fetch(request)
        fast_fail = (fast.value.kind, requests_to(exchange.url, TICKER_PATH) - served)
        now[0] += 30.0
        control(exchange.url, "DELETE", "/_paper/faults")
        probe, second = await asyncio.gather(
            client.fetch(request), client.fetch(request), return_exceptions=True
        )
        return [kinds, opened, fast_fail, probe, second, breaker.state, _breaker_state("ticker")]

    kinds, opened, fast_fail, probe, second, state, exported = asyncio.run(
        using(paper_client(exchange.url, breaker=config, breaker_clock=lambda: now[0]), body)
    )
    assert kinds == ["unavailable"] * 3
    assert opened == (BreakerState.OPEN, 2.0)
    assert fast_fail == ("circuit_open", 0)  # failed without reaching the exchange
    assert isinstance(probe.data, Ticker)
    assert isinstance(second, MarketDataError)
    assert second.kind == "circuit_open"  # only one probe while half-open
    assert state is BreakerState.CLOSED
    assert exported == 0.0


def test_within_its_limit_the_client_never_sees_a_429_under_many_callers() -> None:
    # The exchange allows 100 weight per 1 s window. The bucket spends at most its burst (10),
    # the catalog's debt beyond the burst (10) and a second's refill (60) in any window: 80,
    # which leaves room for requests that arrive bunched by the network or a busy server.
    with running_exchange(weight_limit=100, weight_window_s=1.0) as exchange:
        limit = RateLimit(rate_per_s=60.0, burst=10.0)
        symbols = ["BTC/USDT", "ETH/USDT", "SOL/USDT"]

        async def body(client: MarketDataClient) -> list[Any]:
            await client.fetch(DataRequest(SOURCE, Endpoint.MARKETS))

            async def caller(i: int) -> Any:
                return await client.fetch(
                    ticker(symbols[i % 3], cache_ttl_s=0, attempts=1, timeout_s=60)
                )

            return list(await asyncio.gather(*(caller(i) for i in range(120))))

        responses = asyncio.run(using(paper_client(exchange.url, limit=limit), body))
        stats = control(exchange.url, "GET", "/_paper/stats")
    assert len(responses) == 120
    assert all(r.attempts == 1 for r in responses)
    assert stats["rate_limited"] == 0


def test_a_bucket_looser_than_the_exchange_does_get_429s() -> None:
    # The check above can fail: the same load with a bucket that overspends is refused.
    with running_exchange(weight_limit=100, weight_window_s=60.0) as exchange:
        loose = RateLimit(rate_per_s=1000.0, burst=1000.0)

        async def body(client: MarketDataClient) -> list[Any]:
            return list(
                await asyncio.gather(
                    *(client.fetch(ticker(cache_ttl_s=0, attempts=1)) for _ in range(80)),
                    return_exceptions=True,
                )
            )

        results = asyncio.run(using(paper_client(exchange.url, limit=loose), body))
        stats = control(exchange.url, "GET", "/_paper/stats")
    assert stats["rate_limited"] > 0
    assert any(isinstance(r, MarketDataError) and r.kind == "rate_limited" for r in results)


def test_garbage_and_truncated_answers_are_retried_as_malformed(exchange: RunningExchange) -> None:
    fault(exchange.url, kind="garbage", path="/api/v3/depth", count=1)
    fault(exchange.url, kind="truncated", path="/api/v3/klines", count=1)
    sleeps = RecordedSleeps()

    async def body(client: MarketDataClient) -> tuple[Any, Any]:
        book = await client.fetch(
            DataRequest(SOURCE, Endpoint.ORDER_BOOK, "BTC/USDT", cache_ttl_s=0)
        )
        candles = await client.fetch(
            DataRequest(SOURCE, Endpoint.OHLCV, "BTC/USDT", {"limit": 5}, cache_ttl_s=0)
        )
        return book, candles

    book, candles = asyncio.run(using(paper_client(exchange.url, sleep=sleeps), body))
    assert book.attempts == 2
    assert candles.attempts == 2
    assert len(sleeps.waits) == 2


def test_critical_requests_are_served_before_low_ones_when_the_bucket_is_short(
    exchange: RunningExchange,
) -> None:
    # One token a second at most 1 at once: every request but the first queues.
    order: list[str] = []

    async def body(client: MarketDataClient) -> None:
        bucket = client.bucket(SOURCE)
        await bucket.acquire(1, Priority.LOW)  # empty the bucket

        async def wait(name: str, priority: Priority) -> None:
            await bucket.acquire(1, priority)
            order.append(name)

        low = [asyncio.create_task(wait(f"low{i}", Priority.LOW)) for i in range(2)]
        await asyncio.sleep(0)  # the LOW requests are queued first
        critical = asyncio.create_task(wait("critical", Priority.CRITICAL))
        await asyncio.gather(*low, critical)

    limit = RateLimit(rate_per_s=20.0, burst=1.0)
    asyncio.run(using(paper_client(exchange.url, limit=limit), body))
    assert order == ["critical", "low0", "low1"]


def test_rate_limit_waiting_is_exported(exchange: RunningExchange) -> None:
    def waited() -> float:
        value = REGISTRY.get_sample_value("cst_rate_limit_wait_seconds_sum", {"exchange": SOURCE})
        return value or 0.0

    async def body(client: MarketDataClient) -> tuple[float, float]:
        started = time.monotonic()
        await client.fetch(DataRequest(SOURCE, Endpoint.MARKETS))
        refilling = time.monotonic() - started  # the bucket refills while the catalog loads
        before = waited()
        await asyncio.gather(*(client.fetch(ticker(cache_ttl_s=0)) for _ in range(4)))
        return before, refilling

    # After the catalog (20, which empties the bucket), 2 weight per ticker at 10 a second:
    # waits of 0.2, 0.4, 0.6 and 0.8 s, each shortened by what refilled meanwhile.
    limit = RateLimit(rate_per_s=10.0, burst=20.0)
    before, refilling = asyncio.run(using(paper_client(exchange.url, limit=limit), body))
    assert 2.0 - 4 * refilling - 0.05 <= waited() - before <= 2.0 + 0.2
