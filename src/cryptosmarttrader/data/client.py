"""The market-data client: one ``fetch(DataRequest)`` for every caller, and everything that
keeps the data coming through slow, failing and rate-limiting exchanges.

A request goes: cache (if its TTL allows) → the exchange's token bucket (by priority) →
the (exchange, endpoint) circuit breaker → the exchange, under a hard timeout per attempt;
retryable failures (timeouts, connection errors, 5xx, 429/418, malformed answers) are
retried with exponential backoff and jitter, never less than a ``Retry-After``; a 429/418
also pauses the whole exchange's bucket. Requests the exchange rejects (4xx) are not retried.
This client only reads: order placement never goes through it.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    stop_before_delay,
    wait_exponential_jitter,
)

from cryptosmarttrader.data.cache import CacheStatus, MarketDataCache
from cryptosmarttrader.data.circuit_breaker import (
    STATE_VALUE,
    BreakerConfig,
    BreakerState,
    CircuitBreaker,
    CircuitOpenError,
)
from cryptosmarttrader.data.codec import decode_payload, dumps, encode_payload, loads
from cryptosmarttrader.data.rate_limit import PriorityTokenBucket, RateLimit
from cryptosmarttrader.data.request import DataRequest, DataResponse
from cryptosmarttrader.domain.candles import CandleSeries
from cryptosmarttrader.domain.market_data import Endpoint, OrderBook, Payload, Ticker
from cryptosmarttrader.exchanges.public_api import FailureKind, PublicApiError, PublicMarketApi
from cryptosmarttrader.exchanges.retry_after import at_least_retry_after
from cryptosmarttrader.observability import metrics
from cryptosmarttrader.observability.logging import get_logger

_log = get_logger("market_data")

CIRCUIT_OPEN = "circuit_open"


class MarketDataError(Exception):
    """No data: ``kind`` is a :class:`FailureKind` value or ``circuit_open``."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class Backoff:
    """Wait before retry n (1-based): ``min(max_s, initial_s * 2**(n-1) + U(0, jitter_s))``,
    and never less than the exchange's ``Retry-After``; a ``Retry-After`` that would outlast
    the request's budget (``attempts x (timeout_s + max_s)``) ends the retries at once."""

    initial_s: float = 0.5
    max_s: float = 10.0
    jitter_s: float = 0.5


@dataclass(frozen=True)
class ClientStatus:
    cache: CacheStatus
    breakers: Mapping[tuple[str, str], BreakerState]
    last_success: Mapping[str, float]
    """Wall-clock time of the last answer from each exchange."""


Sleep = Callable[[float], Awaitable[None]]


class MarketDataClient:
    """Use from one event loop. ``apis`` maps a source name to its public API."""

    def __init__(
        self,
        apis: Mapping[str, PublicMarketApi],
        *,
        rate_limits: Mapping[str, RateLimit],
        cache: MarketDataCache,
        breaker: BreakerConfig | None = None,
        backoff: Backoff | None = None,
        wall_clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        breaker_clock: Callable[[], float] | None = None,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        missing = set(apis) - set(rate_limits)
        if missing:
            raise ValueError(f"no rate limit configured for {', '.join(sorted(missing))}")
        self._apis = dict(apis)
        self._buckets = {
            name: PriorityTokenBucket(rate_limits[name], clock=monotonic) for name in apis
        }
        self.cache = cache
        self._breaker_config = breaker or BreakerConfig()
        self._breakers: dict[tuple[str, Endpoint], CircuitBreaker] = {}
        self.backoff = backoff or Backoff()
        self.wait_before_retry = at_least_retry_after(
            wait_exponential_jitter(
                multiplier=self.backoff.initial_s,
                max=self.backoff.max_s,
                jitter=self.backoff.jitter_s,
            )
        )
        self._wall = wall_clock
        self._monotonic = monotonic
        self._breaker_clock = breaker_clock or monotonic
        self._sleep = sleep
        self._last_success: dict[str, float] = {}

    def bucket(self, source: str) -> PriorityTokenBucket:
        return self._buckets[source]

    def breaker(self, source: str, endpoint: Endpoint) -> CircuitBreaker:
        key = (source, endpoint)
        breaker = self._breakers.get(key)
        if breaker is None:

            def exported(state: BreakerState) -> None:
                metrics.BREAKER_STATE.labels(source, endpoint).set(STATE_VALUE[state])
                metrics.BREAKER_TRANSITIONS.labels(source, endpoint, state).inc()

            breaker = CircuitBreaker(
                f"{source}/{endpoint}",
                self._breaker_config,
                clock=self._breaker_clock,
                on_change=exported,
            )
            metrics.BREAKER_STATE.labels(source, endpoint).set(0)
            self._breakers[key] = breaker
        return breaker

    def status(self) -> ClientStatus:
        return ClientStatus(
            cache=self.cache.status(),
            breakers={(s, str(e)): b.state for (s, e), b in self._breakers.items()},
            last_success=dict(self._last_success),
        )

    async def fetch(self, request: DataRequest) -> DataResponse:
        """The data, from the cache or the exchange; MarketDataError when there is none."""
        api = self._apis.get(request.source)
        if api is None:
            raise MarketDataError(
                FailureKind.REJECTED,
                f"unknown source {request.source!r}; configured: {', '.join(self._apis)}",
            )
        ttl = request.cache_ttl_s or 0.0
        if ttl > 0:
            cached = await self._cached(request, ttl)
            if cached is not None:
                metrics.DATA_REQUESTS.labels(request.source, request.endpoint, "cache_hit").inc()
                return cached
        attempts = 0

        async def attempt() -> Payload:
            nonlocal attempts
            attempts += 1
            return await self._attempt(api, request)

        try:
            payload: Payload = await self._retrying(request)(attempt)
        except PublicApiError as exc:
            metrics.DATA_REQUESTS.labels(request.source, request.endpoint, exc.kind).inc()
            asked = (
                f"; the exchange asked to wait {exc.retry_after_s:g} s"
                if exc.retry_after_s is not None
                else ""
            )
            raise MarketDataError(
                exc.kind,
                f"{request.source} {request.endpoint} {request.symbol or ''}: {exc} "
                f"(after {attempts} attempt{'s' if attempts != 1 else ''}{asked})",
            ) from exc
        except CircuitOpenError as exc:
            metrics.DATA_REQUESTS.labels(request.source, request.endpoint, CIRCUIT_OPEN).inc()
            raise MarketDataError(CIRCUIT_OPEN, str(exc)) from exc
        fetched_at = self._wall()
        self._last_success[request.source] = fetched_at
        metrics.DATA_LAST_SUCCESS.labels(request.source).set(fetched_at)
        metrics.DATA_REQUESTS.labels(request.source, request.endpoint, "ok").inc()
        response = DataResponse(
            request=request,
            data=payload,
            exchange_ts=exchange_time(payload),
            fetched_at=fetched_at,
            from_cache=False,
            attempts=attempts,
        )
        if ttl > 0:
            await self._store(response, ttl)
        return response

    def _retrying(self, request: DataRequest) -> AsyncRetrying:
        def count_retry(state: RetryCallState) -> None:
            metrics.DATA_RETRIES.labels(request.source, request.endpoint).inc()

        attempts = request.attempts or 1
        # The request's worst case without a Retry-After: a wait (a Retry-After) that would end
        # past it gives up now rather than hold the caller that long.
        budget_s = attempts * ((request.timeout_s or 0.0) + self.backoff.max_s)
        return AsyncRetrying(
            stop=stop_after_attempt(attempts) | stop_before_delay(budget_s),
            wait=self.wait_before_retry,
            retry=retry_if_exception(lambda exc: isinstance(exc, PublicApiError) and exc.retryable),
            sleep=self._sleep,
            before_sleep=count_retry,
            reraise=True,
        )

    async def _attempt(self, api: PublicMarketApi, request: DataRequest) -> Payload:
        source, endpoint = request.source, request.endpoint
        breaker = self.breaker(source, endpoint)
        breaker.before_call()  # fails fast while open, before spending tokens
        bucket = self._buckets[source]
        timeout_s = request.timeout_s or 0.0
        # One deadline for the whole attempt: queueing for the rate limit counts against it.
        deadline = asyncio.get_running_loop().time() + timeout_s
        try:
            async with asyncio.timeout_at(deadline):
                waited = await bucket.acquire(
                    api.weight(endpoint, request.params), int(request.priority or 0)
                )
        except BaseException as exc:
            breaker.call_not_made()
            if isinstance(exc, TimeoutError):
                raise PublicApiError(
                    FailureKind.TIMEOUT, f"waited {timeout_s:g}s for the rate limit"
                ) from exc
            raise
        metrics.RATE_LIMIT_WAIT_SECONDS.labels(source).observe(waited)
        healthy = False
        started = self._monotonic()
        try:
            async with asyncio.timeout_at(deadline):
                payload = await api.fetch(endpoint, request.symbol, request.params)
            healthy = True
            return payload
        except TimeoutError as exc:
            raise PublicApiError(FailureKind.TIMEOUT, f"no answer within {timeout_s:g}s") from exc
        except PublicApiError as exc:
            # The exchange answered: a refusal or a rejection says nothing about its health.
            healthy = exc.kind in (FailureKind.RATE_LIMITED, FailureKind.REJECTED)
            if exc.kind is FailureKind.RATE_LIMITED:
                metrics.RATE_LIMIT_HITS.labels(source).inc()
                pause = exc.retry_after_s if exc.retry_after_s is not None else 1.0
                bucket.pause_until(self._monotonic() + pause)
                _log.warning("rate_limited", exchange=source, endpoint=endpoint, pause_s=pause)
            raise
        finally:
            breaker.record(healthy)
            metrics.DATA_REQUEST_SECONDS.labels(source, endpoint).observe(
                self._monotonic() - started
            )

    async def _cached(self, request: DataRequest, ttl: float) -> DataResponse | None:
        text = await self.cache.get(request.cache_key)
        if text is None:
            return None
        try:
            document = loads(text)
            fetched_at = float(document["fetched_at"])
            exchange_ts = document["exchange_ts"]
            data = decode_payload(request.endpoint, document["data"])
        except (ValueError, KeyError, TypeError) as exc:
            _log.warning("cache_entry_unreadable", key=request.cache_key, error=str(exc))
            return None
        age = self._wall() - fetched_at
        if not 0 <= age <= ttl:
            return None  # written under a longer TTL than this request allows
        return DataResponse(
            request=request,
            data=data,
            exchange_ts=float(exchange_ts) if exchange_ts is not None else None,
            fetched_at=fetched_at,
            from_cache=True,
            attempts=0,
        )

    async def _store(self, response: DataResponse, ttl: float) -> None:
        request = response.request
        document = {
            "data": encode_payload(request.endpoint, response.data),
            "exchange_ts": response.exchange_ts,
            "fetched_at": response.fetched_at,
        }
        await self.cache.set(request.cache_key, dumps(document), ttl)

    async def close(self) -> None:
        for api in self._apis.values():
            await api.close()
        await self.cache.close()


def exchange_time(payload: Payload) -> float | None:
    """The exchange's own time of the data: a ticker's or book's stamp, the open time of the
    last candle, the time of the last trade; None when the payload has none."""
    if isinstance(payload, Ticker | OrderBook):
        return payload.ts
    if isinstance(payload, CandleSeries):
        return float(payload.open_ts[-1]) if len(payload) else None
    if isinstance(payload, tuple):
        stamps = [t.ts for t in payload if math.isfinite(t.ts)]
        return max(stamps) if stamps else None
    return None
