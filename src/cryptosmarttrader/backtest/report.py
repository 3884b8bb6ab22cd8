"""A backtest as one self-contained HTML page (Plotly, its script embedded): the price with
entries and exits, equity, drawdown, and what the gates refused or reduced."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from cryptosmarttrader.backtest.runner import BacktestResult
from cryptosmarttrader.domain.candles import CandleSeries
from cryptosmarttrader.domain.orders import Side
from cryptosmarttrader.observability.html_report import write_html_report

# Lines beyond this many points are thinned (every k-th candle, plus the last) so that the
# page stays light; markers of fills are never thinned.
MAX_LINE_POINTS = 20_000


def _thinned(count: int) -> np.ndarray:
    step = max(1, -(-count // MAX_LINE_POINTS))
    picked = np.arange(0, count, step)
    if picked[-1] != count - 1:
        picked = np.append(picked, count - 1)
    return picked


def build_figure(result: BacktestResult, series: CandleSeries) -> go.Figure:
    times = (series.open_ts * 1000).astype("datetime64[ms]")
    picked = _thinned(len(series))
    peak = np.maximum.accumulate(result.equity)
    drawdown = (peak - result.equity) / peak * 100.0
    figure = make_subplots(
        rows=4,
        cols=1,
        shared_xaxes=False,
        vertical_spacing=0.07,
        row_heights=[0.4, 0.22, 0.18, 0.2],
        subplot_titles=(
            f"{series.symbol} close, entries and exits",
            "equity (at each close)",
            "drawdown %",
            "orders refused or reduced, by gate",
        ),
    )
    figure.add_trace(
        go.Scattergl(x=times[picked], y=series.close[picked], name="close", mode="lines"),
        row=1,
        col=1,
    )
    for side, symbol, color in (
        (Side.BUY, "triangle-up", "green"),
        (Side.SELL, "triangle-down", "red"),
    ):
        fills = [f for f in result.fills if f.side is side]
        figure.add_trace(
            go.Scattergl(
                x=times[[f.bar for f in fills]],
                y=[f.price for f in fills],
                name="entry" if side is Side.BUY else "exit",
                mode="markers",
                marker={"symbol": symbol, "color": color, "size": 8},
            ),
            row=1,
            col=1,
        )
    figure.add_trace(
        go.Scattergl(x=times[picked], y=result.equity[picked], name="equity", mode="lines"),
        row=2,
        col=1,
    )
    figure.add_trace(
        go.Scattergl(
            x=times[picked], y=drawdown[picked], name="drawdown %", mode="lines", fill="tozeroy"
        ),
        row=3,
        col=1,
    )
    gates = sorted(set(result.rejections_by_gate) | set(result.reductions_by_gate))
    figure.add_trace(
        go.Bar(x=gates, y=[result.rejections_by_gate.get(g, 0) for g in gates], name="refused"),
        row=4,
        col=1,
    )
    figure.add_trace(
        go.Bar(x=gates, y=[result.reductions_by_gate.get(g, 0) for g in gates], name="reduced"),
        row=4,
        col=1,
    )
    figure.update_layout(height=1100, barmode="group", template="plotly_white")
    return figure


def write_report(result: BacktestResult, series: CandleSeries, path: Path) -> Path:
    """Write the page to ``path`` (created or replaced) and return it."""
    charts = build_figure(result, series).to_html(full_html=False, include_plotlyjs=True)
    title = f"Backtest: {result.strategy} on {result.symbol}"
    return write_html_report(path, title, result.summary(), charts)
