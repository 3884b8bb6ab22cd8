"""``streamlit run`` entry of the dashboard (``cst dashboard`` starts it).

Every number comes from the database the engine writes, the engine's API (``/health``,
``/metrics``, the kill switch) and, when configured, Prometheus. The page is chosen in the
sidebar or by ``?page=`` in the URL.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

from cryptosmarttrader.config.settings import ConfigError, Settings, load_settings
from cryptosmarttrader.dashboard.findings import (
    local_alerts,
    recommendations,
    signal_outcomes,
)
from cryptosmarttrader.dashboard.reports import read_reports
from cryptosmarttrader.dashboard.sources import ApiView, Sources
from cryptosmarttrader.domain.clock import format_utc
from cryptosmarttrader.domain.kill_switch import KillSwitchState
from cryptosmarttrader.store.queries import (
    AccountView,
    account_view,
    audit_counts,
    decision_history,
    equity_history,
    kill_switch_history,
    kill_switch_state,
    order_frame,
    recent_audit,
    signal_history,
)

PAGES = (
    "Overview",
    "Risk Guard",
    "Execution",
    "Data",
    "Signals",
    "Alerts",
    "CI / quality",
    "Recommendations",
)


def _slug(page: str) -> str:
    return page.lower().replace(" / ", "-").replace(" ", "-")


def _utc(ts: float | None) -> str:
    return format_utc(ts) if ts else "-"


def _times(frame: pd.DataFrame, column: str = "at") -> pd.Series:
    return pd.to_datetime(frame[column], unit="s", utc=True)


def _plot(figure: go.Figure, key: str) -> None:
    figure.update_layout(margin={"l": 10, "r": 10, "t": 40, "b": 10}, height=320)
    st.plotly_chart(figure, key=key, width="stretch")


def _source_banner(api: ApiView) -> None:
    if api.reachable:
        status = (api.health or {}).get("status", "unknown")
        st.caption(f"Engine API {api.url}: health **{status}**. Database and API are live.")
    else:
        st.warning(
            f"No engine API at {api.url} ({api.error}): showing the database only, read-only. "
            "Metrics, health and the kill switch need a running engine (cst run).",
            icon="⚠️",
        )


# --- pages ----------------------------------------------------------------------------------
def overview(sources: Sources, api: ApiView) -> None:
    st.header("Overview")
    view = account_view(sources.database)
    state = kill_switch_state(sources.database)
    if view is None:
        st.info("No account yet: nothing has traded on this database.")
    else:
        _account_metrics(view, state)
    history = equity_history(sources.database)
    if not history.empty:
        history["drawdown"] = 1.0 - history["equity"] / history["peak_equity"]
        history["time"] = _times(history)
        _plot(px.line(history, x="time", y="equity", title="Equity"), "equity")
        _plot(px.area(history, x="time", y="drawdown", title="Drawdown from peak"), "drawdown")
    else:
        st.info("No equity history yet: the engine records one point per loop.")
    st.subheader("Health and alerts")
    if api.health is not None:
        components = pd.DataFrame(
            [{"component": name, **facts} for name, facts in api.health["components"].items()]
        )[["component", "status", "detail"]]
        st.dataframe(components, hide_index=True, width="stretch")
    _alerts_table(sources, api)
    if view is not None and view.positions:
        st.subheader("Open positions")
        st.dataframe(pd.DataFrame(view.positions), hide_index=True, width="stretch")
    _kill_switch_form(sources, api)


def _account_metrics(view: AccountView, kill: KillSwitchState) -> None:
    day, drawdown = view.day_pnl_fraction, view.drawdown_fraction
    gross = view.gross_exposure
    columns = st.columns(6)
    columns[0].metric(f"Equity ({view.quote})", f"{view.equity:,.2f}")
    columns[1].metric("Day PnL", f"{day:+.2%}")
    columns[2].metric("Drawdown", f"{drawdown:.2%}")
    columns[3].metric("Exposure", f"{gross / view.equity:.1%}" if view.equity else "-")
    columns[4].metric("Open positions", str(len(view.positions)))
    columns[5].metric("Kill switch", "ACTIVE" if kill.active else "off")
    if kill.active:
        st.error(f"Kill switch active since {_utc(kill.changed_at)}: {kill.reason}")


def _kill_switch_form(sources: Sources, api: ApiView) -> None:
    st.subheader("Kill switch")
    if not api.reachable:
        st.caption("Changing the kill switch needs the engine's API (cst run or cst api).")
        return
    with st.form("kill_switch"):
        action = st.radio("Action", ("activate", "deactivate"), horizontal=True, key="ks_action")
        reason = st.text_input("Reason", max_chars=500, key="ks_reason")
        token = st.text_input("API token (CST_API_TOKEN)", type="password", key="ks_token")
        confirmed = st.checkbox("I confirm this change", key="ks_confirm")
        submitted = st.form_submit_button("Apply", key="ks_apply")
    if not submitted:
        return
    if not confirmed:
        st.error("Tick the confirmation to change the kill switch.")
        return
    try:
        code, body = sources.set_kill_switch(action, reason, token)
    except OSError as exc:
        st.error(f"The API did not answer: {exc}")
        return
    if code == 200:
        st.success(
            f"Kill switch {'on' if body.get('active') else 'off'} (changed: {body['changed']})"
        )
    else:
        st.error(f"Refused ({code}): {body.get('detail')}")


def risk_guard(sources: Sources, api: ApiView) -> None:
    st.header("Risk Guard")
    limits = sources.settings.risk
    view = account_view(sources.database)
    st.caption("Limits as configured for this dashboard (the same config file as the engine).")
    if view is not None and view.equity > 0:
        notionals = [abs(p["notional"]) for p in view.positions]
        notionals_total = view.gross_exposure
        use = pd.DataFrame(
            [
                (
                    "daily loss",
                    max(0.0, -view.day_pnl_fraction),
                    limits.daily_loss_limit,
                ),
                ("drawdown", max(0.0, view.drawdown_fraction), limits.max_drawdown),
                ("positions", len(view.positions), limits.max_positions),
                ("total exposure", notionals_total / view.equity, limits.max_total_exposure),
                (
                    "largest position",
                    max(notionals, default=0.0) / view.equity,
                    limits.max_position,
                ),
            ],
            columns=["limit", "used", "maximum"],
        )
        use["share of limit"] = use["used"] / use["maximum"]
        _plot(
            px.bar(
                use,
                x="limit",
                y="share of limit",
                title="Each limit's use (1 = at the limit)",
                range_y=[0, max(1.0, float(use["share of limit"].max()))],
            ),
            "limits",
        )
        st.dataframe(use, hide_index=True, width="stretch")
    counts = audit_counts(sources.database, "DECISION")
    if counts.empty:
        st.info("No decisions yet.")
        return
    totals = counts.groupby("verdict")["count"].sum()
    columns = st.columns(4)
    columns[0].metric("Evaluations", f"{int(totals.sum()):,}")
    for column, verdict in zip(columns[1:], ("APPROVE", "REDUCE", "REJECT"), strict=True):
        column.metric(
            verdict.title() + "d" if verdict != "REJECT" else "Rejected",
            f"{int(totals.get(verdict, 0)):,}",
        )
    history = decision_history(sources.database)
    history["time"] = _times(history).dt.floor(_bucket(history))
    # Approvals as one series; reductions and rejections by the gate that made them.
    history["outcome"] = history["verdict"].where(
        history["verdict"] == "APPROVE", history["verdict"] + " by " + history["gate"].fillna("?")
    )
    over_time = history.groupby(["time", "outcome"]).size().reset_index(name="decisions")
    _plot(
        px.bar(over_time, x="time", y="decisions", color="outcome", title="Decisions over time"),
        "decisions_time",
    )
    by_gate = counts[counts["verdict"] != "APPROVE"].fillna({"gate": "none"})
    if not by_gate.empty:
        _plot(
            px.bar(
                by_gate,
                x="gate",
                y="count",
                color="reason_code",
                barmode="stack",
                title="Reductions and rejections by gate",
            ),
            "by_gate",
        )
    st.subheader("Latest decisions")
    latest = [e.to_dict() for e in recent_audit(sources.database, 50, "DECISION")]
    table = pd.DataFrame(latest)[
        [
            "at",
            "symbol",
            "side",
            "verdict",
            "gate",
            "reason_code",
            "requested_qty",
            "approved_qty",
            "message",
        ]
    ]
    table["at"] = table["at"].map(_utc)
    st.dataframe(table.iloc[::-1], hide_index=True, width="stretch")
    st.subheader("Kill switch history")
    kills = kill_switch_history(sources.database)
    if not kills.empty:
        kills["at"] = kills["at"].map(_utc)
    st.dataframe(kills, hide_index=True, width="stretch")


def _bucket(history: pd.DataFrame) -> str:
    span = float(history["at"].max() - history["at"].min()) if len(history) else 0.0
    return "1min" if span <= 6 * 3600 else "1h" if span <= 14 * 86400 else "1D"


def execution(sources: Sources, api: ApiView) -> None:
    st.header("Execution")
    orders = order_frame(sources.database)
    counts = audit_counts(sources.database, "DECISION")
    if counts.empty:
        st.info("No orders yet.")
        return
    total = int(counts["count"].sum())
    approved = int(counts[counts["verdict"] != "REJECT"]["count"].sum())
    columns = st.columns(4)
    columns[0].metric("Orders judged", f"{total:,}")
    columns[1].metric("Approval rate", f"{approved / total:.1%}")
    columns[2].metric("Orders sent", f"{len(orders):,}")
    if api.metrics is not None:
        roundtrip = api.metrics.histogram_mean("cst_order_roundtrip_seconds")
        columns[3].metric(
            "Mean round trip", f"{roundtrip * 1000:.1f} ms" if roundtrip is not None else "-"
        )
    if not orders.empty:
        flow = orders.groupby("status").size().reset_index(name="orders")
        _plot(px.bar(flow, x="status", y="orders", title="Orders by state"), "order_flow")
    rejected = counts[counts["verdict"] == "REJECT"]
    if not rejected.empty:
        st.subheader("Gate effectiveness: what each gate rejected")
        st.dataframe(
            rejected.sort_values("count", ascending=False)[["gate", "reason_code", "count"]],
            hide_index=True,
            width="stretch",
        )
    filled = orders[orders["avg_fill_price"].notna() & (orders["reference_price"] > 0)].copy()
    if not filled.empty:
        sign = filled["side"].map({"buy": 1.0, "sell": -1.0})
        filled["realized_bps"] = (
            sign
            * (filled["avg_fill_price"] - filled["reference_price"])
            / filled["reference_price"]
            * 1e4
        )
        _plot(
            px.scatter(
                filled,
                x="est_slippage_bps",
                y="realized_bps",
                color="symbol",
                title="Estimated against realized slippage (bps)",
            ),
            "slippage",
        )
    if api.metrics is not None:
        decision = api.metrics.histogram_mean("cst_decision_seconds")
        st.caption(
            "Mean decision time: "
            + (f"{decision * 1000:.2f} ms" if decision is not None else "no decision yet")
        )


def data(sources: Sources, api: ApiView) -> None:
    st.header("Data")
    if api.metrics is None:
        st.info("Data metrics come from a running engine's /metrics; none is reachable.")
        return
    metrics = api.metrics
    requests = metrics.frame("cst_data_requests_total")
    if requests.empty:
        st.info("No market-data requests: the built-in simulated market needs none.")
    else:
        table = requests.pivot_table(
            index=["exchange", "endpoint"], columns="outcome", values="value", aggfunc="sum"
        ).fillna(0)
        sent = table.drop(columns=["cache_hit", "circuit_open"], errors="ignore").sum(axis=1)
        table["success rate"] = (table.get("ok", 0) / sent).where(sent > 0)
        latency = metrics.frame("cst_data_request_seconds_sum")
        if not latency.empty:
            count = metrics.frame("cst_data_request_seconds_count")
            merged = latency.merge(count, on=["exchange", "endpoint"], suffixes=("_sum", "_n"))
            merged["mean latency ms"] = merged["value_sum"] / merged["value_n"] * 1000
            table = table.join(merged.set_index(["exchange", "endpoint"])["mean latency ms"])
        st.subheader("Requests by exchange and endpoint")
        st.dataframe(table.reset_index(), hide_index=True, width="stretch")
    breakers = metrics.frame("cst_circuit_breaker_state")
    if not breakers.empty:
        breakers["state"] = breakers["value"].map({0: "closed", 1: "half-open", 2: "open"})
        st.subheader("Circuit breakers")
        st.dataframe(breakers.drop(columns="value"), hide_index=True, width="stretch")
    waits = metrics.histogram_mean("cst_rate_limit_wait_seconds")
    lookups = metrics.frame("cst_cache_lookups_total")
    columns = st.columns(3)
    columns[0].metric("Mean rate-limit wait", f"{waits * 1000:.1f} ms" if waits else "-")
    if not lookups.empty:
        hits = lookups[lookups["result"] == "hit"]["value"].sum()
        columns[1].metric("Cache hit rate", f"{hits / lookups['value'].sum():.1%}")
    cache = ((api.health or {}).get("components") or {}).get("cache", {})
    columns[2].metric("Cache backend", str(cache.get("backend", "-")))
    quality = metrics.frame("cst_data_quality_score")
    if not quality.empty:
        age = metrics.frame("cst_data_age_seconds")
        merged = quality.merge(age, on=["exchange", "symbol"], suffixes=("_quality", "_age"))
        merged = merged.rename(columns={"value_quality": "quality", "value_age": "age s"})
        st.subheader("Data quality and age per symbol")
        st.dataframe(merged, hide_index=True, width="stretch")


def signals(sources: Sources, api: ApiView) -> None:
    st.header("Signals")
    history = signal_history(sources.database)
    judged = history[history["signal"].notna()] if not history.empty else history
    if judged.empty:
        st.info("No signals judged yet.")
    else:
        latest = judged.sort_values("at").groupby("symbol").tail(1)
        st.subheader("Latest signal per symbol")
        shown = latest[
            ["symbol", "signal", "reason_code", "confidence", "quality_score", "price", "at"]
        ].copy()
        shown["at"] = shown["at"].map(_utc)
        st.dataframe(shown, hide_index=True, width="stretch")
        outcomes = signal_outcomes(history)
        st.subheader("Emitted entries and what followed")
        if outcomes.empty:
            st.caption("No entry emitted yet.")
        else:
            _plot(
                px.scatter(
                    outcomes,
                    x="confidence",
                    y="outcome",
                    color="symbol",
                    title="Confidence against the move to the next signal",
                ),
                "outcomes",
            )
            st.dataframe(
                outcomes[["symbol", "at", "confidence", "price", "next_price", "outcome"]],
                hide_index=True,
                width="stretch",
            )
    st.subheader("Latest walk-forward validation")
    path = sources.settings.validation_file
    if not path.exists():
        st.caption("None yet: run cst signals validate --data FILE --strategy NAME.")
        return
    report = json.loads(path.read_text())
    overall = report["overall"]
    columns = st.columns(4)
    columns[0].metric("Strategy", f"{report['strategy']} on {report['symbol']}")
    columns[1].metric("Signals", f"{overall['signals']:,}")
    columns[2].metric("Hit rate", f"{overall['hit_rate']:.1%}" if overall["hit_rate"] else "-")
    columns[3].metric("Brier", f"{overall['brier']:.4f}" if overall["brier"] else "-")
    st.caption(
        f"validated {_utc(report.get('validated_at'))}, {report['mode']} folds, "
        f"horizon {report['horizon']} bars"
    )
    bins = pd.DataFrame(overall["reliability"])
    if not bins.empty:
        figure = px.line(
            bins,
            x="mean_confidence",
            y="hit_rate",
            markers=True,
            title="Calibration: hit rate against confidence",
        )
        figure.add_trace(
            go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="perfect", line={"dash": "dot"})
        )
        _plot(figure, "calibration")
    st.dataframe(pd.json_normalize(report["folds"]), hide_index=True, width="stretch")


def _alerts_table(sources: Sources, api: ApiView) -> None:
    from_prometheus = sources.prometheus_alerts()
    if from_prometheus is not None:
        rows = [
            {
                "alert": a["labels"]["alertname"],
                "severity": a["labels"].get("severity"),
                "state": a["state"],
                "summary": a["annotations"].get("summary"),
            }
            for a in from_prometheus
        ]
        st.caption(f"Active alerts from Prometheus ({sources.settings.dashboard.prometheus_url})")
    elif api.metrics is not None:
        rows = [
            {"alert": a.name, "severity": a.severity, "state": "firing", "summary": a.summary}
            for a in local_alerts(api.metrics, time.time())
        ]
        st.caption(
            "Active alerts: the rules' conditions on the engine's own metrics "
            "(no Prometheus configured; instant values, no 'for' durations)"
        )
    else:
        st.caption("Alerts need Prometheus or a running engine's metrics.")
        return
    if rows:
        st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
    else:
        st.success("No active alert.")


def alerts(sources: Sources, api: ApiView) -> None:
    st.header("Alerts & observability")
    _alerts_table(sources, api)
    if api.metrics is None:
        return
    names = sorted(n for n in api.metrics.samples if n.startswith("cst_"))
    st.subheader("Metric series")
    chosen = st.selectbox(
        "Metric", names, index=names.index("cst_equity") if "cst_equity" in names else 0
    )
    series = sources.prometheus_series(chosen)
    if series is not None and not series.empty:
        _plot(
            px.line(
                series,
                x="time",
                y="value",
                color="series",
                title=f"{chosen}, last hour (Prometheus)",
            ),
            "series",
        )
    else:
        st.caption("Current values (configure dashboard.prometheus_url for their history).")
    st.dataframe(api.metrics.frame(chosen), hide_index=True, width="stretch")


def quality(sources: Sources, api: ApiView) -> None:
    st.header("CI / quality")
    reports = read_reports(sources.settings.dashboard.reports_dir)
    st.caption(f"From the reports make test writes in {reports.directory}")
    columns = st.columns(4)
    if reports.tests is not None:
        run = reports.tests
        failed = run.failures + run.errors
        columns[0].metric(
            "Tests",
            f"{run.tests - failed - run.skipped} passed",
            f"{failed} failed" if failed else None,
            delta_color="inverse",
        )
        st.caption(f"test run at {run.timestamp}, {run.seconds:.0f} s, {run.skipped} skipped")
    if reports.coverage is not None:
        columns[1].metric("Line coverage", f"{reports.coverage:.1%}")
    if reports.lint_findings is not None:
        columns[2].metric("Lint findings", str(reports.lint_findings))
    if reports.type_errors is not None:
        columns[3].metric("Type errors", str(reports.type_errors))
    for problem in reports.problems:
        st.warning(f"Report missing or unreadable: {problem} (run make test)")


def advice(sources: Sources, api: ApiView) -> None:
    st.header("Recommendations")
    kill = kill_switch_state(sources.database)
    found = recommendations(
        audit_counts(sources.database, "DECISION"),
        signal_history(sources.database),
        api.metrics,
        kill_switch_reason=(kill.reason or "-") if kill.active else None,
    )
    if not found:
        st.success("Nothing to recommend: no rule matched the current state.")
    for item in found:
        with st.container(border=True):
            st.markdown(f"**{item.title}**")
            st.write(f"Evidence: {item.evidence}")
            st.write(f"Suggested: {item.action}")


RENDERERS: dict[str, Callable[[Sources, ApiView], None]] = {
    "Overview": overview,
    "Risk Guard": risk_guard,
    "Execution": execution,
    "Data": data,
    "Signals": signals,
    "Alerts": alerts,
    "CI / quality": quality,
    "Recommendations": advice,
}


def main() -> None:
    st.set_page_config(page_title="CryptoSmartTrader", layout="wide")
    try:
        settings: Settings = load_settings()
    except ConfigError as exc:
        st.error(f"Configuration: {exc}")
        return
    slugs = {_slug(p): p for p in PAGES}
    wanted = slugs.get(str(st.query_params.get("page", "")), PAGES[0])
    page = st.sidebar.radio("Page", PAGES, index=PAGES.index(wanted))
    st.query_params["page"] = _slug(page)
    st.sidebar.caption(f"Database: {settings.venue} venue, {settings.home}")
    sources = Sources(settings)
    try:
        api = sources.api()
        _source_banner(api)
        RENDERERS[page](sources, api)
    finally:
        sources.close()


main()
