"""The backtester: the reference results, every order through the real gateway and gates."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pydantic import BaseModel

from cryptosmarttrader.backtest.replay import CandleReplay
from cryptosmarttrader.backtest.report import build_figure, write_report
from cryptosmarttrader.backtest.runner import (
    BacktestConfig,
    Sizing,
    backtest_instrument,
    run_backtest,
)
from cryptosmarttrader.config.limits import ExecutionLimits, RiskLimits, unrestricted_limits
from cryptosmarttrader.domain.candles import CandleSeries, read_candle_file
from cryptosmarttrader.domain.clock import ManualClock
from cryptosmarttrader.domain.orders import OrderStatus, OrderType, Side, TimeInForce
from cryptosmarttrader.exchanges.candle_broker import CandleFillBroker
from cryptosmarttrader.exchanges.placement import ApprovedOrder
from cryptosmarttrader.execution import gateway
from cryptosmarttrader.signals.strategy import EmaCross
from tests.test_cli import as_json, assert_one_line_error, run

DATA = Path(__file__).resolve().parent / "data" / "reference"
ETH_BTC_1M = read_candle_file(DATA / "ETH_BTC-1m.csv")
BTC_USDT_5M = read_candle_file(DATA / "BTC_USDT-5m.csv")


def unrestricted(**kwargs: Any) -> BacktestConfig:
    risk, execution = unrestricted_limits()
    return BacktestConfig(
        strategy=EmaCross(12, 26), risk=risk, execution=execution, cash=10_000.0, **kwargs
    )


@pytest.mark.parametrize(
    ("series", "fee", "trades", "equity", "tolerance"),
    [
        (ETH_BTC_1M, 0.0, 468, 6750.0022, 1e-6),
        (BTC_USDT_5M, 0.0, 201, 11334.9667, 1e-6),
        (ETH_BTC_1M, 0.001, 468, 2648.72, 1e-4),
        (BTC_USDT_5M, 0.001, 201, 7581.35, 1e-4),
    ],
    ids=["eth-btc-no-fee", "btc-usdt-no-fee", "eth-btc-fee", "btc-usdt-fee"],
)
def test_ema_cross_reproduces_the_reference_results(
    series: CandleSeries, fee: float, trades: int, equity: float, tolerance: float
) -> None:
    result = run_backtest(series, unrestricted(fee=fee))
    assert result.trades == trades
    assert math.isclose(result.final_equity, equity, rel_tol=tolerance)
    # Every position opened and closed went through the gateway, and nothing was refused.
    assert result.orders_evaluated == len(result.fills)
    assert result.rejections == {}
    assert result.candles == len(series)


def test_the_cli_prints_the_summary_as_one_json_object(tmp_path: Path) -> None:
    result = run(
        tmp_path,
        "backtest",
        "--data",
        str(DATA / "BTC_USDT-5m.csv"),
        "--strategy",
        "ema_cross",
        "--param",
        "fast=12",
        "--param",
        "slow=26",
        "--cash",
        "10000",
        "--fee",
        "0",
        "--sizing",
        "all-in",
        "--risk-profile",
        "unrestricted",
        "--json",
    )
    summary = as_json(result)
    assert summary["trades"] == 201
    assert math.isclose(summary["final_equity"], 11334.9667, rel_tol=1e-6)
    for key in ("candles", "return_pct", "max_drawdown_pct", "sharpe", "win_rate"):
        assert key in summary
    assert summary["candles"] == 10_999
    assert summary["orders_evaluated"] == 402
    assert summary["rejections"] == {}
    assert summary["elapsed_s"] > 0
    assert summary["candles_per_s"] == pytest.approx(10_999 / summary["elapsed_s"])


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--strategy", "nope"], "unknown strategy"),
        (["--param", "fast"], "key=value"),
        (["--param", "fast=40"], "fast < slow"),
        (["--risk-profile", "yolo"], "--risk-profile"),
        (["--cash", "-5"], "cash"),
        (["--fee", "1.5"], "fee"),
        (["--timeframe", "7m"], "unknown timeframe"),
    ],
)
def test_the_cli_refuses_bad_input_in_one_line(
    tmp_path: Path, args: list[str], fragment: str
) -> None:
    result = run(tmp_path, "backtest", "--data", str(DATA / "BTC_USDT-5m.csv"), *args)
    assert fragment in assert_one_line_error(result)


def test_the_cli_refuses_a_missing_file(tmp_path: Path) -> None:
    result = run(tmp_path, "backtest", "--data", str(tmp_path / "none.csv"))
    assert "No such file" in assert_one_line_error(result)


def test_the_default_limits_reduce_all_in_entries_to_the_position_limit() -> None:
    risk, execution = RiskLimits(), ExecutionLimits(min_volume_24h_quote=0)
    config = BacktestConfig(strategy=EmaCross(12, 26), risk=risk, execution=execution, fee=0.0)
    result = run_backtest(BTC_USDT_5M, config)
    buys = [f for f in result.fills if f.side is Side.BUY]
    assert len(buys) == 201
    # The single-position gate cut each entry to 20% of equity (worst case, at the ask).
    first = buys[0]
    assert first.qty * first.price == pytest.approx(0.2 * 10_000, rel=1e-3)
    assert result.max_drawdown_pct < run_backtest(BTC_USDT_5M, unrestricted()).max_drawdown_pct
    assert result.reductions_by_gate == {"single_position": 201}


def test_gates_that_reject_are_counted_by_reason_code() -> None:
    risk = RiskLimits(max_drawdown=0.02, kill_switch_drawdown=1.0)
    _, execution = unrestricted_limits()
    config = BacktestConfig(strategy=EmaCross(12, 26), risk=risk, execution=execution, fee=0.001)
    result = run_backtest(BTC_USDT_5M, config)
    assert result.rejections.get("DRAWDOWN_LIMIT", 0) > 0
    assert result.rejections_by_gate == {"drawdown": result.rejections["DRAWDOWN_LIMIT"]}
    assert result.orders_evaluated == len(result.fills) + sum(result.rejections.values())
    assert result.trades < 201


def test_the_kill_switch_trips_and_stops_entries() -> None:
    # At the evaluation that finds a 4% drawdown the drawdown gate rejects and the kill switch
    # trips; from then on every entry meets the kill switch first.
    risk = RiskLimits(max_drawdown=0.04, kill_switch_drawdown=0.04)
    _, execution = unrestricted_limits()
    config = BacktestConfig(strategy=EmaCross(12, 26), risk=risk, execution=execution, fee=0.001)
    result = run_backtest(BTC_USDT_5M, config)
    assert result.rejections.get("KILL_SWITCH_ACTIVE", 0) > 0


def test_unrestricted_puts_every_limit_at_its_widest_valid_value() -> None:
    risk, execution = unrestricted_limits()
    # Fields where a larger value restricts more; everything else loosens upwards.
    tighter_when_larger = {
        "min_data_completeness",
        "min_order_notional",
        "min_reduce_fraction",
        "min_depth_quote",
        "depth_multiple",
        "min_volume_24h_quote",
    }
    for limits in (risk, execution):
        assert isinstance(limits, BaseModel)
        for name, info in type(limits).model_fields.items():
            value = getattr(limits, name)
            bounds = {
                k: getattr(m, k) for m in info.metadata for k in ("ge", "gt", "le") if hasattr(m, k)
            }
            if name in tighter_when_larger:
                assert value == bounds.get("ge", bounds.get("gt")), name
            elif "le" in bounds:
                assert value == bounds["le"], name
    assert execution.allow_market_orders
    assert execution.daily_slippage_budget_quote is None


def test_the_replay_shows_only_the_open_and_closed_candles() -> None:
    series = BTC_USDT_5M
    replay = CandleReplay(series, spread_bps=2.0, depth_band_bps=50.0)
    replay.at(300)
    snap = replay.snapshot(series.symbol)
    assert snap is not None
    assert snap.mid == pytest.approx(series.open[300])
    assert snap.spread_bps == pytest.approx(2.0)
    assert snap.exchange_ts == replay.now() == series.open_ts[300]
    assert snap.defect is None
    day = (series.open_ts + 300 > series.open_ts[300] - 86_400) & (np.arange(len(series)) < 300)
    expected = float(np.sum(series.volume[day] * series.close[day]))
    assert snap.volume_24h_quote == pytest.approx(expected)
    closes = replay.closes(series.symbol, replay.now(), 5, 300)
    assert list(closes) == series.close[295:300].tolist()  # bar 300 has not closed
    # Changing anything from bar 300's high on changes nothing the gates see.
    later = dataclasses.replace(
        series,
        high=np.where(np.arange(len(series)) >= 300, series.high * 2, series.high),
        close=np.where(np.arange(len(series)) >= 300, series.close * 2, series.close),
    )
    other = CandleReplay(later, spread_bps=2.0, depth_band_bps=50.0)
    other.at(300)
    assert other.snapshot(series.symbol) == snap


def approved(side: Side, qty: float, price: float | None) -> ApprovedOrder:
    # The gateway's own seal, as the zero-bypass test uses it: the broker alone is under test.
    return ApprovedOrder(
        seal=gateway._SEAL,
        client_order_id=f"t-{side}-{qty}-{price}",
        symbol="BTC/USDT",
        side=side,
        order_type=OrderType.LIMIT,
        time_in_force=TimeInForce.IOC,
        qty=qty,
        price=price,
        reduce_only=False,
    )


def test_the_backtest_broker_fills_at_the_open_with_the_fee_in_what_is_received() -> None:
    instrument = backtest_instrument(BTC_USDT_5M)
    price = {"now": 20_000.0}
    broker = CandleFillBroker(
        {"BTC/USDT": instrument},
        price_now=lambda _: price["now"],
        clock=ManualClock(1.0),
        cash=10_000.0,
        fee_rate=0.001,
    )
    bought = broker.place(approved(Side.BUY, 0.5, 20_010.0))
    assert bought.status is OrderStatus.FILLED
    assert bought.avg_price == 20_000.0
    assert bought.fills[0].fee == pytest.approx(0.0005)
    assert bought.fills[0].fee_asset == "BTC"
    assert broker.balance("BTC") == pytest.approx(0.4995)
    assert broker.balance("USDT") == pytest.approx(0.0)
    assert broker.place(approved(Side.BUY, 0.1, 20_010.0)).status is OrderStatus.REJECTED
    price["now"] = 21_000.0
    assert broker.place(approved(Side.SELL, 0.4995, 21_500.0)).status is OrderStatus.EXPIRED
    sold = broker.place(approved(Side.SELL, 0.4995, 20_990.0))
    assert sold.status is OrderStatus.FILLED
    assert sold.fills[0].fee == pytest.approx(0.4995 * 21_000 * 0.001)
    assert sold.fills[0].fee_asset == "USDT"
    assert broker.balance("USDT") == pytest.approx(0.4995 * 21_000 * 0.999)
    assert broker.place(approved(Side.SELL, 0.1, None)).status is OrderStatus.REJECTED


def test_fraction_sizing_spends_a_share_of_equity_scaled_by_strength() -> None:
    result = run_backtest(BTC_USDT_5M, unrestricted(sizing=Sizing.FRACTION, fraction=0.5, fee=0.0))
    buys = [f for f in result.fills if f.side is Side.BUY]
    assert buys
    assert all(f.qty * f.price <= 0.5 * 10_000 * 1.2 for f in buys)
    assert len({round(f.qty * f.price, 2) for f in buys}) > 10  # sizes follow the strength


def test_the_report_shows_every_fill_the_equity_and_the_gates(tmp_path: Path) -> None:
    risk = RiskLimits(max_drawdown=0.02, kill_switch_drawdown=1.0)
    _, execution = unrestricted_limits()
    config = BacktestConfig(strategy=EmaCross(12, 26), risk=risk, execution=execution, fee=0.001)
    result = run_backtest(BTC_USDT_5M, config)
    figure = build_figure(result, BTC_USDT_5M)
    traces = {trace.name: trace for trace in figure.data}
    assert len(traces["entry"].x) == result.trades
    assert len(traces["exit"].x) == sum(f.side is Side.SELL for f in result.fills)
    assert list(traces["equity"].y) == result.equity.tolist()  # 10,999 points: not thinned
    refused = dict(zip(traces["refused"].x, traces["refused"].y, strict=True))
    reduced = dict(zip(traces["reduced"].x, traces["reduced"].y, strict=True))
    assert refused == {"drawdown": result.rejections["DRAWDOWN_LIMIT"], "single_position": 0}
    assert reduced["single_position"] == result.reductions_by_gate["single_position"] > 0
    page = write_report(result, BTC_USDT_5M, tmp_path / "out" / "report.html").read_text()
    assert "plotly" in page.lower()
    assert "<script" in page
    assert "<script src=" not in page  # self-contained: the library is embedded


def test_the_cli_writes_the_report_it_names(tmp_path: Path) -> None:
    target = tmp_path / "bt.html"
    data = str(DATA / "BTC_USDT-5m.csv")
    summary = as_json(run(tmp_path, "backtest", "--data", data, "--report", str(target), "--json"))
    assert summary["report"] == str(target)
    assert target.stat().st_size > 100_000


def test_stored_candles_backtest_like_the_file_they_came_from(tmp_path: Path) -> None:
    data = str(DATA / "BTC_USDT-5m.csv")
    assert run(tmp_path, "data", "import", data).returncode == 0
    args = ["--fee", "0", "--risk-profile", "unrestricted", "--json"]
    stored = as_json(
        run(
            tmp_path,
            "backtest",
            "--stored",
            "file",
            "--symbol",
            "BTC/USDT",
            "--timeframe",
            "5m",
            *args,
        )
    )
    assert stored["trades"] == 201
    assert math.isclose(stored["final_equity"], 11334.9667, rel_tol=1e-6)


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        ([], "either --data FILE or --stored SOURCE"),
        (["--stored", "file", "--symbol", "BTC/USDT"], "needs --symbol and --timeframe"),
        (["--stored", "kraken", "--symbol", "BTC/USDT", "--timeframe", "5m"], "0 candles"),
    ],
)
def test_the_source_of_candles_must_be_clear(
    tmp_path: Path, args: list[str], fragment: str
) -> None:
    assert fragment in assert_one_line_error(run(tmp_path, "backtest", *args))
