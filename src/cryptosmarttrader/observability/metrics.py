"""Every Prometheus metric the system exports, in one place (prefix ``cst_``).

Counters are exported with the ``_total`` suffix prometheus-client adds. Process metrics
(``process_*``, ``python_*``) come from prometheus-client's default collectors.

Labels are bounded: ``exchange`` is a configured venue, ``endpoint`` one of the five
market-data endpoints, ``symbol`` a listed instrument, ``outcome``/``state`` small enums.
"""

from __future__ import annotations

import math

from prometheus_client import Counter, Gauge, Histogram

from cryptosmarttrader.domain.portfolio import PortfolioState

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
DATA_LAST_SUCCESS = Gauge(
    "cst_data_last_success_timestamp_seconds",
    "Unix time of the last successful market-data answer from the exchange (not the cache).",
    ["exchange"],
)

# --- orders: the gateway ------------------------------------------------------------------
ORDER_DECISIONS = Counter(
    "cst_order_decisions",
    "Orders judged by the gateway (dry runs excluded), by verdict (APPROVE, REDUCE, REJECT), "
    "deciding gate (none when every gate passed) and reason code.",
    ["verdict", "gate", "reason_code"],
)
ORDERS_SUBMITTED = Counter(
    "cst_orders_submitted",
    "Approved orders handed to the exchange.",
    ["exchange"],
)
ORDER_RESULTS = Counter(
    "cst_order_results",
    "The exchange's answer to orders handed to it, by resulting order status (FILLED, "
    "PARTIALLY_FILLED, OPEN, CANCELED, EXPIRED, REJECTED, UNKNOWN).",
    ["exchange", "status"],
)
ORDER_ERRORS = Counter(
    "cst_order_errors",
    "Orders whose placement raised (timeout, network, exchange error): outcome unknown until "
    "reconciliation.",
    ["exchange"],
)
GATE_OUTCOMES = Counter(
    "cst_gate_outcomes",
    "Gates that acted on an order: REDUCE (smaller size) or REJECT, by gate and reason code. "
    "The 8 RiskGuard and 7 ExecutionPolicy gates plus validation.",
    ["gate", "verdict", "reason_code"],
)
DECISION_SECONDS = Histogram(
    "cst_decision_seconds",
    "Time to judge one order: state transaction, validation, 15 gates, decision persisted.",
    buckets=(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5),
)
ORDER_ROUNDTRIP_SECONDS = Histogram(
    "cst_order_roundtrip_seconds",
    "Time of one order placement at the exchange, from sending to its answer, in seconds.",
    ["exchange"],
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
SLIPPAGE_ESTIMATED_BPS = Histogram(
    "cst_slippage_estimated_bps",
    "Slippage the execution policy estimated from the book for approved orders, in basis points.",
    buckets=(0, 1, 2, 5, 10, 20, 50, 100, 200, 500),
)
SLIPPAGE_REALIZED_BPS = Histogram(
    "cst_slippage_realized_bps",
    "Adverse difference between the average fill price and the reference price at decision "
    "time, in basis points (negative: price improvement).",
    buckets=(-50, -10, -5, 0, 1, 2, 5, 10, 20, 50, 100, 200, 500),
)

# --- portfolio and risk -------------------------------------------------------------------
EQUITY = Gauge("cst_equity", "Account equity marked to market, in the quote currency.")
DAILY_PNL_FRACTION = Gauge(
    "cst_daily_pnl_fraction",
    "Profit or loss since UTC midnight as a fraction of the start-of-day equity (-0.02 = -2%).",
)
DRAWDOWN_FRACTION = Gauge(
    "cst_drawdown_fraction", "Fall of equity from its peak, as a fraction of the peak (0..1)."
)
GROSS_EXPOSURE_FRACTION = Gauge(
    "cst_gross_exposure_fraction",
    "Gross exposure (held and pending positions at mark) as a fraction of equity.",
)
OPEN_POSITIONS = Gauge("cst_open_positions", "Symbols with a non-zero position.")
DAILY_LOSS_LIMIT_FRACTION = Gauge(
    "cst_daily_loss_limit_fraction",
    "The configured daily loss limit, as a fraction of the start-of-day equity.",
)
MAX_DRAWDOWN_FRACTION = Gauge(
    "cst_max_drawdown_fraction", "The configured drawdown limit, as a fraction of the peak."
)
KILL_SWITCH_ACTIVE = Gauge("cst_kill_switch_active", "1 while the kill switch is on.")
KILL_SWITCH_ACTIVATIONS = Counter(
    "cst_kill_switch_activations",
    "Times the kill switch was turned on, by who did it (risk_guard, cli, api, ...).",
    ["actor"],
)

# --- signals and the engine ----------------------------------------------------------------
SIGNALS = Counter(
    "cst_signals",
    "Signals judged by the engine, by kind (entry, exit) and what became of them "
    "(SIGNAL_EMITTED, SIGNAL_LOW_CONFIDENCE, SIGNAL_BAD_DATA).",
    ["kind", "reason_code"],
)
LAST_SIGNAL_TIMESTAMP = Gauge(
    "cst_last_signal_timestamp_seconds", "Unix time of the last signal the engine emitted."
)
ENGINE_HEARTBEAT = Gauge(
    "cst_engine_heartbeat_timestamp_seconds", "Unix time at which the last engine loop ended."
)
ENGINE_STARTED = Gauge(
    "cst_engine_started_timestamp_seconds", "Unix time at which the running engine started."
)
ENGINE_POLL_SECONDS = Gauge(
    "cst_engine_poll_seconds", "The configured pause between two engine loops, in seconds."
)
ENGINE_LOOP_SECONDS = Histogram(
    "cst_engine_loop_seconds",
    "Duration of one engine loop, in seconds.",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
ENGINE_LOOP_ERRORS = Counter(
    "cst_engine_loop_errors",
    "Problems in engine loops: a symbol whose candles could not be read, a loop that failed.",
)

# --- reconciliation and the database -------------------------------------------------------
RECONCILIATION_RUNS = Counter(
    "cst_reconciliation_runs", "Reconciliations of orders and holdings with the exchange."
)
RECONCILIATION_MISMATCHES = Counter(
    "cst_reconciliation_mismatches",
    "Differences reconciliation found between the database and the exchange, by kind "
    "(order_changed, order_imported, order_pending, holding_resynced, error).",
    ["kind"],
)
DATABASE_ERRORS = Counter(
    "cst_database_errors",
    "Database operations that failed with a driver error, by operation (read, write).",
    ["operation"],
)


def _ratio(numerator: float, denominator: float) -> float:
    """NaN when the ratio means nothing (a rule comparing NaN never fires on garbage)."""
    if not (math.isfinite(numerator) and math.isfinite(denominator)) or denominator <= 0:
        return math.nan
    return numerator / denominator


def observe_account(
    *, equity: float, start_of_day: float, peak: float, gross_exposure: float, open_positions: int
) -> None:
    """Export the account's equity and the risk fractions computed from it."""
    EQUITY.set(equity)
    DAILY_PNL_FRACTION.set(_ratio(equity, start_of_day) - 1.0)
    DRAWDOWN_FRACTION.set(1.0 - _ratio(equity, peak))
    GROSS_EXPOSURE_FRACTION.set(_ratio(gross_exposure, equity))
    OPEN_POSITIONS.set(open_positions)


def observe_portfolio(state: PortfolioState, open_positions: int, kill_switch: bool) -> None:
    """Export the marked portfolio and the kill switch as the gates see them."""
    observe_account(
        equity=state.equity,
        start_of_day=state.start_of_day_equity,
        peak=state.peak_equity,
        gross_exposure=state.gross_exposure,
        open_positions=open_positions,
    )
    KILL_SWITCH_ACTIVE.set(1 if kill_switch else 0)
