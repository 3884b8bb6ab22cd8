"""The simulated market: reproducible, realistic enough for the default gates to mean something."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from cryptosmarttrader.data.correlation import RollingCorrelationProvider
from cryptosmarttrader.domain.decisions import Verdict
from cryptosmarttrader.domain.orders import OrderIntent, Side, TimeInForce
from cryptosmarttrader.domain.reason_codes import ReasonCode
from cryptosmarttrader.exchanges.paper.market import (
    DEFAULT_UNIVERSE,
    PriceShock,
    SimulatedMarket,
)
from tests.factories import T0
from tests.systems import MARKET, open_system


def test_prices_are_a_pure_function_of_seed_and_time() -> None:
    other = SimulatedMarket(7)
    for ts in (T0, T0 + 0.5, T0 + 3_599, T0 + 3_600, T0 - 86_400 * 400):
        assert other.price("BTC/USDT", ts) == MARKET.price("BTC/USDT", ts)
    assert SimulatedMarket(8).price("BTC/USDT", T0) != MARKET.price("BTC/USDT", T0)
    # Continuous across the hourly anchors: no jump bigger than a few per-second moves.
    hour_end = T0 - (T0 % 3_600) + 3_600
    jump = abs(
        math.log(MARKET.price("BTC/USDT", hour_end) / MARKET.price("BTC/USDT", hour_end - 1))
    )
    assert jump < 0.002


@pytest.mark.parametrize("asset", DEFAULT_UNIVERSE, ids=lambda a: a.symbol)
def test_books_are_well_formed(asset: object) -> None:
    symbol = asset.symbol  # type: ignore[attr-defined]
    snap = MARKET.snapshot(symbol, T0)
    assert snap is not None
    instrument = MARKET.instruments()[symbol]
    assert 0 < snap.bid < snap.ask
    assert snap.bid <= snap.last <= snap.ask
    assert instrument.price_on_tick(snap.bid)
    assert instrument.price_on_tick(snap.ask)
    assert [p for p, _ in snap.bids] == sorted((p for p, _ in snap.bids), reverse=True)
    assert [p for p, _ in snap.asks] == sorted(p for p, _ in snap.asks)
    assert all(q > 0 and instrument.qty_on_step(q) for _, q in snap.bids + snap.asks)
    assert snap.exchange_ts == T0
    assert snap.completeness == 1.0


class _CountingMarket(SimulatedMarket):
    def __init__(self) -> None:
        self.hours_built = 0
        super().__init__(7)

    def _make_hour(self, hour: int) -> tuple[np.ndarray, np.ndarray]:
        self.hours_built += 1
        return super()._make_hour(hour)


def test_a_day_of_prices_is_built_once_not_per_request() -> None:
    # The 24-hour ticker reads 25 hours; each request must not rebuild them all.
    market = _CountingMarket()
    day = np.linspace(T0 - 86_400, T0, 289)
    first = market.prices("BTC/USDT", day)
    assert market.hours_built == 25
    again = market.prices("ETH/USDT", day + 1.0)
    np.testing.assert_array_equal(market.prices("BTC/USDT", day), first)
    assert again.shape == first.shape
    assert market.hours_built == 25


def test_realized_volatility_and_correlation_match_the_model() -> None:
    timestamps = T0 - 60.0 * np.arange(2_880, dtype=np.float64)[::-1]
    returns = {
        s: np.diff(np.log(MARKET.prices(s, timestamps)))
        for s in ("BTC/USDT", "ETH/USDT", "PAXG/USDT")
    }
    daily_vol = returns["BTC/USDT"].std() * math.sqrt(1_440)
    assert 0.02 < daily_vol < 0.04
    assert np.corrcoef(returns["BTC/USDT"], returns["ETH/USDT"])[0, 1] > 0.7
    assert abs(np.corrcoef(returns["BTC/USDT"], returns["PAXG/USDT"])[0, 1]) < 0.2


def test_the_correlation_provider_recovers_the_structure() -> None:
    provider = RollingCorrelationProvider(MARKET)
    btc_eth = provider.correlation("BTC/USDT", "ETH/USDT", T0)
    btc_paxg = provider.correlation("PAXG/USDT", "BTC/USDT", T0)
    assert btc_eth is not None
    assert btc_eth > 0.7
    assert btc_paxg is not None
    assert btc_paxg < 0.3
    assert provider.correlation("BTC/USDT", "BTC/USDT", T0) == 1.0
    assert provider.correlation("BTC/USDT", "LUNA/USDT", T0) is None


class FlatHistory:
    def closes(self, symbol: str, end_ts: float, count: int, interval_s: float) -> list[float]:
        return [100.0] * count


def test_correlation_of_flat_or_missing_history_is_unknown() -> None:
    assert RollingCorrelationProvider(FlatHistory()).correlation("A/B", "C/D", T0) is None


def test_shocks_move_prices_from_their_time_on() -> None:
    shocked = SimulatedMarket(7, shocks=[PriceShock(T0, -0.2, "ETH/USDT")])
    assert shocked.price("ETH/USDT", T0 - 1) == MARKET.price("ETH/USDT", T0 - 1)
    assert shocked.price("ETH/USDT", T0 + 5) == pytest.approx(
        MARKET.price("ETH/USDT", T0 + 5) * 0.8
    )
    assert shocked.price("BTC/USDT", T0 + 5) == MARKET.price("BTC/USDT", T0 + 5)
    window = shocked.prices("ETH/USDT", np.arange(T0 - 10, T0 + 11, dtype=np.float64))
    assert window.min() < MARKET.price("ETH/USDT", T0) * 0.85 < window.max()


def test_unknown_symbols_have_no_snapshot() -> None:
    assert MARKET.snapshot("LUNA/USDT", T0) is None
    with pytest.raises(KeyError):
        MARKET.price("LUNA/USDT", T0)


def test_small_sensible_orders_pass_the_default_gates_and_absurd_ones_do_not(
    tmp_path: Path,
) -> None:
    with open_system(tmp_path, f"sqlite:///{tmp_path / 'm.sqlite'}") as system:
        for asset in DEFAULT_UNIVERSE[:8]:
            snap = MARKET.snapshot(asset.symbol, T0)
            assert snap is not None
            instrument = MARKET.instruments()[asset.symbol]
            qty = instrument.floor_qty(200.0 / snap.bid)  # 200 USDT: 2% of the account
            result = system.gateway.submit(
                OrderIntent(asset.symbol, Side.BUY, qty, price=snap.bid, signal_id="sensible"),
                dry_run=True,
            )
            assert result.decision.verdict is Verdict.APPROVE, (asset.symbol, result.decision)
        meme = MARKET.snapshot("MEME/USDT", T0)
        assert meme is not None
        thin = system.gateway.submit(
            OrderIntent("MEME/USDT", Side.BUY, 10_000.0, price=meme.bid), dry_run=True
        )
        assert thin.decision.code is ReasonCode.SPREAD_TOO_WIDE
        btc = MARKET.snapshot("BTC/USDT", T0)
        assert btc is not None
        whale = system.gateway.submit(
            OrderIntent("BTC/USDT", Side.BUY, 100.0, price=btc.ask, time_in_force=TimeInForce.IOC),
            dry_run=True,
        )
        assert whale.decision.verdict is Verdict.REJECT
        assert whale.decision.code is ReasonCode.EXPOSURE_LIMIT  # gate 6 before gate 7
