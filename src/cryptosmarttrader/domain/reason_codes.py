"""Stable reason codes for every decision. The values are part of the audit trail: never rename."""

from __future__ import annotations

from enum import StrEnum


class ReasonCode(StrEnum):
    APPROVED = "APPROVED"
    INVALID_ORDER = "INVALID_ORDER"
    UNKNOWN_SYMBOL = "UNKNOWN_SYMBOL"
    GATE_ERROR = "GATE_ERROR"
    # RiskGuard
    KILL_SWITCH_ACTIVE = "KILL_SWITCH_ACTIVE"
    DATA_STALE = "DATA_STALE"
    DATA_INVALID = "DATA_INVALID"
    DATA_INCOMPLETE = "DATA_INCOMPLETE"
    DATA_INTEGRITY = "DATA_INTEGRITY"
    DATA_OUTLIER = "DATA_OUTLIER"
    PORTFOLIO_INVALID = "PORTFOLIO_INVALID"
    DAILY_LOSS_LIMIT = "DAILY_LOSS_LIMIT"
    DRAWDOWN_LIMIT = "DRAWDOWN_LIMIT"
    MAX_POSITIONS = "MAX_POSITIONS"
    EXPOSURE_LIMIT = "EXPOSURE_LIMIT"
    POSITION_SIZE_LIMIT = "POSITION_SIZE_LIMIT"
    REDUCE_ONLY_VIOLATION = "REDUCE_ONLY_VIOLATION"
    CORRELATION_LIMIT = "CORRELATION_LIMIT"
    # ExecutionPolicy
    DUPLICATE_ORDER = "DUPLICATE_ORDER"
    SPREAD_TOO_WIDE = "SPREAD_TOO_WIDE"
    INSUFFICIENT_DEPTH = "INSUFFICIENT_DEPTH"
    INSUFFICIENT_VOLUME = "INSUFFICIENT_VOLUME"
    SLIPPAGE_BUDGET_EXCEEDED = "SLIPPAGE_BUDGET_EXCEEDED"
    TIF_NOT_ALLOWED = "TIF_NOT_ALLOWED"
    POST_ONLY_WOULD_TAKE = "POST_ONLY_WOULD_TAKE"
    PRICE_OUT_OF_BAND = "PRICE_OUT_OF_BAND"
    # Outcomes after the gates
    BROKER_REJECTED = "BROKER_REJECTED"
    ORDER_OUTCOME_UNKNOWN = "ORDER_OUTCOME_UNKNOWN"
    ORDER_ACCEPTED = "ORDER_ACCEPTED"
    # Reconciliation
    ORDER_NOT_ON_VENUE = "ORDER_NOT_ON_VENUE"
    ORDER_IMPORTED = "ORDER_IMPORTED"
    HOLDINGS_RESYNCED = "HOLDINGS_RESYNCED"
    KILL_SWITCH_ACTIVATED = "KILL_SWITCH_ACTIVATED"
    KILL_SWITCH_DEACTIVATED = "KILL_SWITCH_DEACTIVATED"
    # Signals (the engine)
    SIGNAL_EMITTED = "SIGNAL_EMITTED"
    SIGNAL_LOW_CONFIDENCE = "SIGNAL_LOW_CONFIDENCE"
    SIGNAL_BAD_DATA = "SIGNAL_BAD_DATA"
    STOP_LOSS = "STOP_LOSS"
    TAKE_PROFIT = "TAKE_PROFIT"


REASON_DESCRIPTIONS: dict[ReasonCode, str] = {
    ReasonCode.APPROVED: "Every gate passed at the requested size.",
    ReasonCode.INVALID_ORDER: (
        "The intent itself is malformed: NaN/inf/non-positive quantity or price, malformed "
        "symbol, quantity or price off the instrument's grid, a limit order without a price, a "
        "market order with one, or a malformed client order id. Checked before any gate."
    ),
    ReasonCode.UNKNOWN_SYMBOL: "The symbol is well formed but the venue does not list it.",
    ReasonCode.GATE_ERROR: "A gate raised an exception; the order is rejected (fail closed).",
    ReasonCode.KILL_SWITCH_ACTIVE: "The kill switch is active; every order is rejected.",
    ReasonCode.DATA_STALE: (
        "No market snapshot, a snapshot older than `max_data_age_s`, or (for orders that add "
        "exposure) a held position whose mark is older than `max_data_age_s`."
    ),
    ReasonCode.DATA_INVALID: (
        "Bid, ask or last not finite or not positive, a crossed or locked book, a snapshot for "
        "another symbol, or an exchange timestamp in the future beyond the allowed clock skew."
    ),
    ReasonCode.DATA_INCOMPLETE: "Snapshot completeness below `min_data_completeness`.",
    ReasonCode.DATA_INTEGRITY: (
        "The recent candles behind the snapshot have a gap, a duplicated timestamp or "
        "timestamps out of order."
    ),
    ReasonCode.DATA_OUTLIER: (
        "The price jumped many standard deviations from its recent candle returns "
        "(`data.outlier_sigma`)."
    ),
    ReasonCode.PORTFOLIO_INVALID: (
        "Equity, start-of-day equity or peak equity is not finite or not positive: limits "
        "that are fractions of equity cannot be evaluated."
    ),
    ReasonCode.DAILY_LOSS_LIMIT: (
        "Today's (UTC) PnL is at or below -`daily_loss_limit` of start-of-day equity and the "
        "order adds exposure. At -`kill_switch_daily_loss` the kill switch activates itself "
        "and every order is rejected."
    ),
    ReasonCode.DRAWDOWN_LIMIT: (
        "Drawdown from peak equity is at or beyond `max_drawdown` and the order adds exposure. "
        "At `kill_switch_drawdown` the kill switch activates itself."
    ),
    ReasonCode.MAX_POSITIONS: (
        "The order would open a new position while open positions plus pending opening orders "
        "already number `max_positions`."
    ),
    ReasonCode.EXPOSURE_LIMIT: (
        "Gross exposure after the order would exceed `max_total_exposure` of equity. With "
        "verdict REDUCE the order was shrunk to fit; with REJECT the fitting size was below "
        "`min_order_notional` or below `min_reduce_fraction` of the request."
    ),
    ReasonCode.POSITION_SIZE_LIMIT: (
        "The symbol's exposure after the order would exceed `max_position` of equity "
        "(REDUCE to fit, or REJECT as for EXPOSURE_LIMIT)."
    ),
    ReasonCode.REDUCE_ONLY_VIOLATION: "A reduce-only order would increase the position.",
    ReasonCode.CORRELATION_LIMIT: (
        "Exposure in positions correlated at or above `correlation_threshold` with the order's "
        "symbol, plus the order, would exceed `max_correlated_exposure` of equity; an unknown "
        "correlation counts as 1.0 (REDUCE to fit, or REJECT as for EXPOSURE_LIMIT)."
    ),
    ReasonCode.DUPLICATE_ORDER: (
        "An order with this client order id was already accepted (also before a restart)."
    ),
    ReasonCode.SPREAD_TOO_WIDE: "Bid-ask spread above `max_spread_bps`.",
    ReasonCode.INSUFFICIENT_DEPTH: (
        "Quote depth within `depth_band_bps` of mid, on the book side the order consumes, is "
        "below max(`min_depth_quote`, `depth_multiple` x order notional)."
    ),
    ReasonCode.INSUFFICIENT_VOLUME: "24h quote volume below `min_volume_24h_quote`.",
    ReasonCode.SLIPPAGE_BUDGET_EXCEEDED: (
        "Estimated slippage of walking the book for this size, against mid, above "
        "`max_slippage_bps` (or the book cannot fill it), or today's estimated slippage cost "
        "would exceed `daily_slippage_budget_quote`."
    ),
    ReasonCode.TIF_NOT_ALLOWED: (
        "A market order while `allow_market_orders` is false, or a time in force that does "
        "not fit the order type."
    ),
    ReasonCode.POST_ONLY_WOULD_TAKE: (
        "A POST_ONLY buy at or above the ask, or sell at or below the bid."
    ),
    ReasonCode.PRICE_OUT_OF_BAND: (
        "Limit price more than `max_price_deviation_bps` from mid, or a resting (GTC/POST_ONLY) "
        "buy above the ask or sell below the bid."
    ),
    ReasonCode.BROKER_REJECTED: "The gates approved the order but the venue rejected it.",
    ReasonCode.ORDER_OUTCOME_UNKNOWN: (
        "The venue call failed without a definite answer; the order stays UNKNOWN until "
        "reconciliation resolves it by client order id. It is never blindly re-sent."
    ),
    ReasonCode.ORDER_ACCEPTED: "The venue accepted the order (open, partially or fully filled).",
    ReasonCode.ORDER_NOT_ON_VENUE: (
        "Reconciliation: the venue has no order with this client order id, and the order is "
        "older than the broker's `absent_final_after_s`, so no request for it can still "
        "arrive. The order is closed as REJECTED and its reservation released."
    ),
    ReasonCode.ORDER_IMPORTED: (
        "Reconciliation found an open venue order carrying our client order id prefix that "
        "the database did not know, and imported it (strategy `imported`)."
    ),
    ReasonCode.HOLDINGS_RESYNCED: (
        "Reconciliation set a position or the cash balance to what the venue holds."
    ),
    ReasonCode.KILL_SWITCH_ACTIVATED: "The kill switch was activated (by a person or a limit).",
    ReasonCode.KILL_SWITCH_DEACTIVATED: "The kill switch was deactivated.",
    ReasonCode.SIGNAL_EMITTED: (
        "A strategy signalled an entry or exit on a closed candle, on clean data and with "
        "enough confidence; the engine sends the order through the gateway."
    ),
    ReasonCode.SIGNAL_LOW_CONFIDENCE: (
        "An entry signal was suppressed: its calibrated confidence is below "
        "`engine.min_confidence`."
    ),
    ReasonCode.SIGNAL_BAD_DATA: (
        "A signal was suppressed: the candles behind it failed the quality check (stale, "
        "gaps, duplicated or out-of-order times, invalid values, an outlier)."
    ),
    ReasonCode.STOP_LOSS: (
        "The engine sells a position whose mark fell `engine.stop_loss` below its entry price."
    ),
    ReasonCode.TAKE_PROFIT: (
        "The engine sells a position whose mark rose `engine.take_profit` above its entry price."
    ),
}
