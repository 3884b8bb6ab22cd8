"""A token bucket per exchange, shared by every caller in the process, that serves the most
urgent waiter first.

The bucket holds at most ``burst`` tokens and gains ``rate_per_s`` a second. A request takes
its weight in tokens; when there are not enough, it queues by (priority, arrival) and the
head of the queue is served as soon as the bucket can pay for it. Nobody overtakes the head,
so a CRITICAL request never waits behind a LOW one that arrived earlier, and a large
request cannot be starved by small ones.

Over any interval of T seconds at most ``burst + rate_per_s * T`` tokens are handed out,
which is what keeps a client within a venue's fixed-window limit of L per W seconds when
``burst + rate_per_s * W <= L``.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

# Grants compare token counts after float arithmetic on elapsed time.
_EPSILON = 1e-9


@dataclass(frozen=True)
class RateLimit:
    rate_per_s: float
    burst: float

    def __post_init__(self) -> None:
        if not (0 < self.rate_per_s < math.inf and 1 <= self.burst < math.inf):
            raise ValueError(f"rate limit needs rate > 0 and burst >= 1, got {self}")


class TokenBucketState:
    """The arithmetic of the bucket, without waiting: testable with any clock."""

    def __init__(self, limit: RateLimit, now: float) -> None:
        self.limit = limit
        self.tokens = limit.burst
        self.stamp = now
        self.paused_until = -math.inf

    def refill(self, now: float) -> None:
        if now > self.stamp:
            gained = (now - self.stamp) * self.limit.rate_per_s
            self.tokens = min(self.limit.burst, self.tokens + gained)
            self.stamp = now

    def delay_for(self, cost: float, now: float) -> float:
        """Seconds until ``cost`` tokens can be taken (0 when now). A request heavier than
        the burst goes when the bucket is full and leaves it in debt, which later requests
        wait out: the long-run rate holds either way."""
        self.refill(now)
        short = min(cost, self.limit.burst) - self.tokens
        wait = short / self.limit.rate_per_s if short > _EPSILON else 0.0
        return max(wait, self.paused_until - now, 0.0)

    def take(self, cost: float) -> None:
        self.tokens -= cost

    def pause_until(self, until: float, now: float) -> None:
        """The venue said slow down: nothing goes out before ``until`` and the bucket
        restarts empty, so the next window is not spent at once again."""
        self.refill(now)
        self.paused_until = max(self.paused_until, until)
        self.tokens = min(self.tokens, 0.0)
        self.stamp = max(self.stamp, until)


@dataclass(order=True)
class _Waiter:
    priority: int
    seq: int
    cost: float = field(compare=False)
    future: asyncio.Future[None] = field(compare=False)


class PriorityTokenBucket:
    """The bucket for one exchange; use it from one event loop."""

    def __init__(self, limit: RateLimit, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._state = TokenBucketState(limit, clock())
        self._queue: list[_Waiter] = []
        self._seq = itertools.count()
        self._timer: asyncio.TimerHandle | None = None

    async def acquire(self, cost: float, priority: int) -> float:
        """Wait until ``cost`` tokens are granted; returns the seconds waited."""
        if not 0 < cost < math.inf:
            raise ValueError(f"a request's weight must be positive, got {cost}")
        start = self._clock()
        if not self._queue and self._state.delay_for(cost, start) == 0.0:
            self._state.take(cost)
            return 0.0
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._queue, _Waiter(priority, next(self._seq), cost, future))
        self._dispatch()
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self._state.tokens += cost  # granted as we were cancelled: give it back
            self._dispatch()
            raise
        return self._clock() - start

    def pause_until(self, until_monotonic: float) -> None:
        self._state.pause_until(until_monotonic, self._clock())

    def _dispatch(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        while self._queue:
            head = self._queue[0]
            if head.future.done():  # its caller gave up
                heapq.heappop(self._queue)
                continue
            delay = self._state.delay_for(head.cost, self._clock())
            if delay > 0.0:
                loop = asyncio.get_running_loop()
                self._timer = loop.call_later(delay, self._dispatch)
                return
            heapq.heappop(self._queue)
            self._state.take(head.cost)
            head.future.set_result(None)
