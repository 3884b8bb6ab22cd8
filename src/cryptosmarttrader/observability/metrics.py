"""Every Prometheus metric the system exports, in one place (prefix ``cst_``).

Labels are bounded: ``exchange`` is a configured venue, ``endpoint`` one of the five
market-data endpoints, ``symbol`` a listed instrument, ``outcome``/``state`` small enums.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

DATA_REQUESTS = Counter(
    "cst_data_requests",
    "Market-data requests by outcome: ok, cache_hit, timeout, unavailable, rate_limited, "
    "malformed, rejected, circuit_open.",
    ["exchange", "endpoint", "outcome"],
)
DATA_REQUEST_SECONDS = Histogram(
    "cst_data_request_seconds",
    "Time of one market-data request to the exchange (one attempt), in seconds.",
    ["exchange", "endpoint"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
DATA_RETRIES = Counter(
    "cst_data_retries",
    "Market-data attempts that were retried after a retryable failure.",
    ["exchange", "endpoint"],
)
RATE_LIMIT_WAIT_SECONDS = Histogram(
    "cst_rate_limit_wait_seconds",
    "Time a request waited for the exchange's token bucket, in seconds.",
    ["exchange"],
    buckets=(0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
RATE_LIMIT_HITS = Counter(
    "cst_rate_limit_hits",
    "429/418 answers received from an exchange (the bucket was not strict enough).",
    ["exchange"],
)
BREAKER_STATE = Gauge(
    "cst_circuit_breaker_state",
    "Circuit breaker state per exchange endpoint: 0 closed, 1 half-open, 2 open.",
    ["exchange", "endpoint"],
)
BREAKER_TRANSITIONS = Counter(
    "cst_circuit_breaker_transitions",
    "Circuit breaker state changes, by the state entered.",
    ["exchange", "endpoint", "state"],
)
CACHE_LOOKUPS = Counter(
    "cst_cache_lookups",
    "Market-data cache lookups by backend (redis, memory) and result (hit, miss).",
    ["backend", "result"],
)
CACHE_DEGRADED = Gauge(
    "cst_cache_degraded",
    "1 while the configured Redis cache is unreachable and the in-process cache serves.",
)
DATA_QUALITY_SCORE = Gauge(
    "cst_data_quality_score",
    "Quality score in [0, 1] of the latest market snapshot per symbol.",
    ["exchange", "symbol"],
)
DATA_AGE_SECONDS = Gauge(
    "cst_data_age_seconds",
    "Age of the latest market snapshot per symbol when it was built, in seconds.",
    ["exchange", "symbol"],
)
