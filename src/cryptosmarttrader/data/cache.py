"""The market-data cache: Redis when configured (shared between processes), an in-process
TTL cache always.

Entries go to both. While Redis answers, reads come from Redis; when it fails the cache
says it is degraded and serves from memory, and tries Redis again every ``retry_s``, so a
Redis that comes back is used again without a restart. Values are opaque strings; their
freshness is judged by the caller from the time stored inside them, not by the TTL alone.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from redis import asyncio as redis_async
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from cryptosmarttrader.observability import metrics
from cryptosmarttrader.observability.logging import get_logger

_log = get_logger("market_data_cache")


class MemoryTtlCache:
    """At most ``max_entries`` entries, least recently used evicted first."""

    def __init__(self, max_entries: int, clock: Callable[[], float] = time.monotonic) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self._max = max_entries
        self._clock = clock
        self._entries: OrderedDict[str, tuple[float, str]] = OrderedDict()

    def get(self, key: str) -> str | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        expires, value = entry
        if self._clock() >= expires:
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return value

    def set(self, key: str, value: str, ttl_s: float) -> None:
        self._entries[key] = (self._clock() + ttl_s, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)


@dataclass(frozen=True)
class CacheStatus:
    backend: str
    """``redis`` while Redis serves, else ``memory``."""
    redis_configured: bool
    degraded: bool
    """Redis is configured but unreachable: other processes no longer share this cache."""
    last_error: str | None


class MarketDataCache:
    """Use from one event loop."""

    def __init__(
        self,
        redis_url: str | None,
        *,
        max_entries: int = 10_000,
        retry_s: float = 5.0,
        socket_timeout_s: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.memory = MemoryTtlCache(max_entries, clock)
        self._clock = clock
        self._retry_s = retry_s
        self._redis: redis_async.Redis | None = None
        if redis_url:
            # One attempt per call with a short timeout: a dead Redis must cost milliseconds,
            # and the memory cache is the retry.
            self._redis = redis_async.Redis.from_url(
                redis_url,
                socket_timeout=socket_timeout_s,
                socket_connect_timeout=socket_timeout_s,
                retry=Retry(NoBackoff(), 0),
                decode_responses=True,
            )
        self._down_since: float | None = None
        self._next_try = 0.0
        self._last_error: str | None = None
        metrics.CACHE_DEGRADED.set(0)

    def status(self) -> CacheStatus:
        up = self._redis is not None and self._down_since is None
        return CacheStatus(
            backend="redis" if up else "memory",
            redis_configured=self._redis is not None,
            degraded=self._redis is not None and self._down_since is not None,
            last_error=self._last_error,
        )

    def _redis_usable(self) -> redis_async.Redis | None:
        if self._redis is None:
            return None
        if self._down_since is not None and self._clock() < self._next_try:
            return None
        return self._redis

    def _failed(self, exc: Exception) -> None:
        self._last_error = f"{type(exc).__name__}: {str(exc)[:200]}"
        now = self._clock()
        self._next_try = now + self._retry_s
        if self._down_since is None:
            self._down_since = now
            metrics.CACHE_DEGRADED.set(1)
            _log.warning("cache_degraded", backend="memory", error=self._last_error)

    def _succeeded(self) -> None:
        if self._down_since is not None:
            self._down_since = None
            metrics.CACHE_DEGRADED.set(0)
            _log.info("cache_restored", backend="redis")

    async def get(self, key: str) -> str | None:
        client = self._redis_usable()
        if client is not None:
            try:
                value = await client.get(key)
            except (RedisError, OSError) as exc:
                self._failed(exc)
            else:
                self._succeeded()
                metrics.CACHE_LOOKUPS.labels("redis", "hit" if value else "miss").inc()
                return str(value) if value is not None else None
        value = self.memory.get(key)
        metrics.CACHE_LOOKUPS.labels("memory", "hit" if value else "miss").inc()
        return value

    async def set(self, key: str, value: str, ttl_s: float) -> None:
        self.memory.set(key, value, ttl_s)
        client = self._redis_usable()
        if client is None:
            return
        try:
            await client.set(key, value, px=max(1, int(ttl_s * 1000)))
        except (RedisError, OSError) as exc:
            self._failed(exc)
        else:
            self._succeeded()

    async def close(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()
