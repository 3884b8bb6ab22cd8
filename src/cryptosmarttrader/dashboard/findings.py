"""What the dashboard concludes from the real state: alert conditions evaluated on the app's
own metrics (when no Prometheus is configured), signal outcomes and calibration, and
recommendations, each with the evidence behind it."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from cryptosmarttrader.dashboard.sources import Metrics
from cryptosmarttrader.runtime.health import engine_stall_after_s

STALE_DATA_S = 60.0
LOW_QUALITY = 0.5


@dataclass(frozen=True)
class Alert:
    name: str
    severity: str
    summary: str


@dataclass(frozen=True)
class Recommendation:
    title: str
    evidence: str
    action: str


def local_alerts(metrics: Metrics, now: float) -> list[Alert]:
    """The alert conditions of ``deploy/prometheus/rules.yml`` that one scrape can show,
    evaluated on its instant values (no ``for`` durations, no rates)."""
    alerts: list[Alert] = []
    if metrics.value("cst_kill_switch_active") == 1:
        alerts.append(Alert("KillSwitchActivated", "critical", "kill switch active"))
    pnl = metrics.value("cst_daily_pnl_fraction")
    limit = metrics.value("cst_daily_loss_limit_fraction")
    if pnl is not None and limit is not None and math.isfinite(pnl):
        if pnl <= -limit:
            alerts.append(Alert("DailyLossLimitReached", "critical", f"day {pnl:+.2%}"))
        elif pnl <= -0.8 * limit:
            alerts.append(Alert("DailyLossNearLimit", "high", f"day {pnl:+.2%}"))
    drawdown = metrics.value("cst_drawdown_fraction")
    max_drawdown = metrics.value("cst_max_drawdown_fraction")
    if drawdown is not None and max_drawdown is not None and drawdown >= 0.8 * max_drawdown:
        alerts.append(Alert("DrawdownHigh", "high", f"drawdown {drawdown:.2%}"))
    for labels, value in metrics.samples.get("cst_circuit_breaker_state", []):
        if value == 2:
            where = f"{labels.get('exchange')} {labels.get('endpoint')}"
            alerts.append(Alert("CircuitBreakerOpen", "high", f"breaker open: {where}"))
    if metrics.value("cst_cache_degraded") == 1:
        alerts.append(Alert("CacheDegraded", "low", "Redis unreachable, memory cache serving"))
    for labels, value in metrics.samples.get("cst_data_age_seconds", []):
        if value > STALE_DATA_S:
            alerts.append(
                Alert("MarketDataStale", "high", f"{labels.get('symbol')}: {value:.0f} s")
            )
    for labels, value in metrics.samples.get("cst_data_quality_score", []):
        if value < LOW_QUALITY:
            alerts.append(Alert("DataQualityLow", "medium", f"{labels.get('symbol')}: {value:.2f}"))
    started = metrics.value("cst_engine_started_timestamp_seconds") or 0.0
    beat = metrics.value("cst_engine_heartbeat_timestamp_seconds") or 0.0
    poll = metrics.value("cst_engine_poll_seconds") or 0.0
    if started > 0 and now - beat > engine_stall_after_s(poll):
        alerts.append(Alert("EngineLoopStalled", "critical", f"last loop {now - beat:.0f} s ago"))
    return alerts


def signal_outcomes(signals: pd.DataFrame) -> pd.DataFrame:
    """Emitted entries with what followed: the return from the entry's close to the close at
    the next judged signal of the same symbol (NaN while there is none yet)."""
    judged = signals[signals["signal"].notna()].copy()
    if judged.empty:
        return judged.assign(next_price=pd.Series(dtype=float), outcome=pd.Series(dtype=float))
    judged = judged.sort_values("at")
    judged["next_price"] = judged.groupby("symbol")["price"].shift(-1)
    judged["outcome"] = judged["next_price"] / judged["price"] - 1.0
    return judged[
        (judged["signal"] == "entry") & (judged["reason_code"] == "SIGNAL_EMITTED")
    ].reset_index(drop=True)


def calibration_gap(outcomes: pd.DataFrame) -> tuple[float, float, int] | None:
    """(mean confidence, hit rate, entries) over entries whose outcome is known."""
    known = outcomes[np.isfinite(outcomes["outcome"].astype(float))]
    if known.empty:
        return None
    return (
        float(known["confidence"].astype(float).mean()),
        float((known["outcome"].astype(float) > 0).mean()),
        len(known),
    )


def recommendations(
    decisions: pd.DataFrame,
    signals: pd.DataFrame,
    metrics: Metrics | None,
    *,
    kill_switch_reason: str | None,
) -> list[Recommendation]:
    """``decisions``: audit counts of kind DECISION (verdict, gate, reason_code, count)."""
    found: list[Recommendation] = []
    if kill_switch_reason is not None:
        found.append(
            Recommendation(
                "The kill switch is on",
                f"reason: {kill_switch_reason}",
                "Find the cause (Risk Guard page, cst audit); deactivate only once understood.",
            )
        )
    total = int(decisions["count"].sum()) if not decisions.empty else 0
    rejected = decisions[decisions["verdict"] == "REJECT"] if total else decisions
    if total >= 10 and not rejected.empty:
        by_gate = rejected.groupby("gate")["count"].sum().sort_values(ascending=False)
        gate, count = str(by_gate.index[0]), int(by_gate.iloc[0])
        if count / total >= 0.5:
            codes = rejected[rejected["gate"] == gate].sort_values("count", ascending=False)
            found.append(
                Recommendation(
                    f"The {gate} gate rejects most orders",
                    f"{count} of {total} decisions ({count / total:.0%}) rejected by {gate}, "
                    f"mostly {codes.iloc[0]['reason_code']}",
                    "Fix what the gate sees (data, sizing, limits) rather than loosening it.",
                )
            )
    if metrics is not None:
        for labels, value in metrics.samples.get("cst_circuit_breaker_transitions_total", []):
            if labels.get("state") == "open" and value >= 3:
                where = f"{labels.get('exchange')} {labels.get('endpoint')}"
                found.append(
                    Recommendation(
                        f"The {where} breaker opens often",
                        f"opened {value:.0f} times since the engine started",
                        "Check the exchange's status and lower the request rate for it.",
                    )
                )
    judged = signals[signals["signal"].notna()] if not signals.empty else signals
    if len(judged) >= 10:
        bad = int((judged["reason_code"] == "SIGNAL_BAD_DATA").sum())
        if bad / len(judged) >= 0.3:
            found.append(
                Recommendation(
                    "Signals are suppressed for bad data",
                    f"{bad} of {len(judged)} judged signals ({bad / len(judged):.0%}) were on "
                    "data that failed the quality check",
                    "See the Data page: stale candles or gaps on the affected symbols.",
                )
            )
        entries = judged[judged["signal"] == "entry"]
        low = int((entries["reason_code"] == "SIGNAL_LOW_CONFIDENCE").sum())
        if len(entries) >= 10 and low / len(entries) >= 0.5:
            found.append(
                Recommendation(
                    "Most entries fall below min_confidence",
                    f"{low} of {len(entries)} entries suppressed as SIGNAL_LOW_CONFIDENCE",
                    "Validate the strategy (cst signals validate) before lowering "
                    "engine.min_confidence.",
                )
            )
    gap = calibration_gap(signal_outcomes(signals)) if not signals.empty else None
    if gap is not None and gap[2] >= 20 and abs(gap[0] - gap[1]) > 0.15:
        found.append(
            Recommendation(
                "Confidence is badly calibrated",
                f"mean confidence {gap[0]:.2f} against a hit rate of {gap[1]:.2f} over "
                f"{gap[2]} emitted entries",
                "Re-run cst signals validate and review the strategy's parameters.",
            )
        )
    return found
