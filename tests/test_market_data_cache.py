"""The cache with a real Redis: stopped mid-run → in-process fallback and degraded;
restarted → used again, and shared between clients (processes)."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from cryptosmarttrader.data.cache import MarketDataCache, MemoryTtlCache
from cryptosmarttrader.data.client import MarketDataClient
from cryptosmarttrader.data.request import DataRequest
from cryptosmarttrader.domain.market_data import Endpoint
from cryptosmarttrader.exchanges.paper.server import RunningExchange
from tests.conftest import service_missing
from tests.market_data import SOURCE, paper_client, using
from tests.paper_exchange import control, running_exchange


class RedisServer:
    """A redis-server of the test's own on a free loopback port, to stop and start at will."""

    def __init__(self, workdir: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            service_missing("redis-server is not installed")
        self.binary = str(binary)
        self.workdir = workdir
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port, socket_connect_timeout=0.2)
        deadline = time.monotonic() + 10
        while True:  # polling until the server answers, not a fixed sleep
            try:
                client.ping()
                return
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)
            finally:
                client.close()

    def stop(self) -> None:
        assert self.process is not None
        self.process.terminate()
        self.process.wait(timeout=10)

    def keys(self) -> list[bytes]:
        with redis.Redis(port=self.port) as client:
            return list(client.keys("cst:md:*"))


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    server.start()
    yield server
    if server.process is not None and server.process.poll() is None:
        server.stop()


@pytest.fixture
def exchange() -> Iterator[RunningExchange]:
    with running_exchange() as running:
        yield running


def ticker(symbol: str) -> DataRequest:
    return DataRequest(SOURCE, Endpoint.TICKER, symbol, cache_ttl_s=60)


def test_redis_stopped_falls_back_and_degrades_then_recovers(
    redis_server: RedisServer, exchange: RunningExchange
) -> None:
    cache = MarketDataCache(redis_server.url, retry_s=0.0)

    async def body(client: MarketDataClient) -> dict[str, Any]:
        seen: dict[str, Any] = {}
        await client.fetch(ticker("BTC/USDT"))
        seen["up"] = (client.status().cache, redis_server.keys())
        redis_server.stop()
        eth = await client.fetch(ticker("ETH/USDT"))  # Redis is gone: memory serves
        btc = await client.fetch(ticker("BTC/USDT"))
        seen["down"] = (client.status().cache, eth.from_cache, btc.from_cache)
        redis_server.start()
        await client.fetch(ticker("SOL/USDT"))
        seen["back"] = (client.status().cache, redis_server.keys())
        return seen

    seen = asyncio.run(using(paper_client(exchange.url, cache=cache), body))
    status, keys = seen["up"]
    assert (status.backend, status.degraded) == ("redis", False)
    assert len(keys) == 1
    status, eth_cached, btc_cached = seen["down"]
    assert (status.backend, status.degraded) == ("memory", True)
    assert status.last_error
    assert not eth_cached
    assert btc_cached  # the in-process copy written alongside Redis
    status, keys = seen["back"]
    assert (status.backend, status.degraded) == ("redis", False)
    assert [k for k in keys if b"SOL/USDT" in k]


def test_redis_is_shared_between_clients(
    redis_server: RedisServer, exchange: RunningExchange
) -> None:
    async def first(client: MarketDataClient) -> Any:
        return await client.fetch(ticker("BTC/USDT"))

    async def second(client: MarketDataClient) -> Any:
        return await client.fetch(ticker("BTC/USDT"))

    fetched = asyncio.run(
        using(paper_client(exchange.url, cache=MarketDataCache(redis_server.url)), first)
    )
    shared = asyncio.run(
        using(paper_client(exchange.url, cache=MarketDataCache(redis_server.url)), second)
    )
    stats = control(exchange.url, "GET", "/_paper/stats")
    assert shared.from_cache
    assert shared.exchange_ts == fetched.exchange_ts
    assert shared.fetched_at == fetched.fetched_at
    assert stats["requests"]["GET /api/v3/ticker/24hr"] == 1


def test_a_cached_entry_older_than_the_request_allows_is_not_served(
    exchange: RunningExchange,
) -> None:
    async def body(client: MarketDataClient) -> Any:
        await client.fetch(ticker("BTC/USDT"))
        return await client.fetch(
            DataRequest(SOURCE, Endpoint.TICKER, "BTC/USDT", cache_ttl_s=1e-6)
        )

    again = asyncio.run(using(paper_client(exchange.url), body))
    assert not again.from_cache


def test_memory_cache_expires_and_evicts_least_recently_used() -> None:
    now = [0.0]
    cache = MemoryTtlCache(2, clock=lambda: now[0])
    cache.set("a", "1", 10)
    cache.set("b", "2", 10)
    assert cache.get("a") == "1"
    cache.set("c", "3", 10)  # evicts b, the least recently used
    assert cache.get("b") is None
    assert cache.get("a") == "1"
    now[0] = 10.0
    assert cache.get("a") is None
    assert len(cache) == 1
