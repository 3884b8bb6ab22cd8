"""Property tests of the parsers the paper exchange exposes to the outside world."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, TypeVar

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cryptosmarttrader.domain.candles import CandleFormatError, parse_candle_csv
from cryptosmarttrader.domain.orders import OrderType, TimeInForce
from cryptosmarttrader.exchanges.paper.binance_dialect import (
    BinanceError,
    SymbolBook,
    parse_new_order,
)
from cryptosmarttrader.exchanges.paper.faults import FaultKind, FaultSpecError, parse_fault
from tests.systems import MARKET

SYMBOLS = SymbolBook(MARKET.instruments())
T = TypeVar("T")


def outcome(
    expected: type[Exception], call: Callable[..., T], *args: Any, **kwargs: Any
) -> tuple[T | None, Exception | None]:
    """The call's result, or the expected exception it raised (any other one propagates)."""
    try:
        return call(*args, **kwargs), None
    except expected as exc:
        return None, exc


HEADER = "timestamp_ms,open,high,low,close,volume"

prices = st.floats(min_value=1e-6, max_value=1e7, allow_nan=False, allow_infinity=False)


@st.composite
def candle_rows(draw: st.DrawFn) -> list[tuple[int, float, float, float, float, float]]:
    count = draw(st.integers(min_value=1, max_value=30))
    start = draw(st.integers(min_value=0, max_value=2_000_000_000_000))
    rows = []
    for k in range(count):
        o, c = draw(prices), draw(prices)
        h = max(o, c) * draw(st.floats(min_value=1.0, max_value=1.5))
        low = min(o, c) / draw(st.floats(min_value=1.0, max_value=1.5))
        v = draw(st.floats(min_value=0, max_value=1e9))
        rows.append((start + k * 60_000, o, h, low, c, v))
    return rows


@given(candle_rows())
def test_valid_candle_files_parse_to_exactly_their_values(
    rows: list[tuple[int, float, float, float, float, float]],
) -> None:
    lines = [HEADER, *(",".join(repr(x) for x in row) for row in rows)]
    series = parse_candle_csv(lines, symbol="BTC/USDT", interval_s=60)
    assert len(series) == len(rows)
    assert list(series.open_ts) == [row[0] / 1000 for row in rows]
    assert list(series.close) == [row[4] for row in rows]
    assert list(series.high) == [row[2] for row in rows]


@given(st.lists(st.text(max_size=60), max_size=6))
def test_any_text_is_parsed_or_refused_with_a_format_error(lines: list[str]) -> None:
    series, error = outcome(
        CandleFormatError, parse_candle_csv, [HEADER, *lines], symbol="BTC/USDT", interval_s=60
    )
    if series is None:
        assert str(error)
    else:
        assert all(math.isfinite(x) and x > 0 for x in series.low)


@given(st.text(max_size=80))
def test_any_fault_spec_is_parsed_or_refused(spec: str) -> None:
    rule, error = outcome(FaultSpecError, parse_fault, spec)
    if rule is None:
        assert str(error)
    else:
        assert rule.kind in FaultKind
        assert 0 < rule.probability <= 1


@given(
    st.sampled_from(list(FaultKind)),
    st.sampled_from(["*", "/api/v3/order", "/api/v3/depth"]),
    st.sampled_from([None, "GET", "POST", "DELETE"]),
    st.one_of(st.none(), st.integers(min_value=1, max_value=99)),
)
def test_generated_fault_specs_round_trip(
    kind: FaultKind, path: str, method: str | None, count: int | None
) -> None:
    spec = f"{kind.value}@{method + ' ' if method else ''}{path}{f'#{count}' if count else ''}"
    rule = parse_fault(spec)
    assert (rule.kind, rule.path, rule.method, rule.count) == (kind, path, method, count)


params = st.dictionaries(
    st.sampled_from(
        ["symbol", "side", "type", "timeInForce", "quantity", "price", "newClientOrderId", "x"]
    ),
    st.one_of(
        st.sampled_from(["BTCUSDT", "BUY", "SELL", "LIMIT", "MARKET", "LIMIT_MAKER", "GTC", "IOC"]),
        st.sampled_from(["0.001", "65000", "-1", "nan", "inf", "0", "1e400", ""]),
        st.text(max_size=40),
    ),
)


@given(params)
def test_any_new_order_request_is_parsed_or_answered_with_a_binance_error(
    raw: dict[str, str],
) -> None:
    order, error = outcome(BinanceError, parse_new_order, raw, SYMBOLS, "paper-fallback")
    if order is None:
        assert isinstance(error, BinanceError)
        assert error.code < 0
        assert 400 <= error.http_status < 500
    else:
        assert order.qty > 0
        assert math.isfinite(order.qty)
        if order.order_type is OrderType.LIMIT:
            assert order.price is not None
            assert math.isfinite(order.price)
            assert order.price > 0
        assert len(order.client_order_id) <= 36


@pytest.mark.parametrize(
    ("raw", "tif"),
    [
        ({"type": "LIMIT", "timeInForce": "GTC", "price": "60000"}, TimeInForce.GTC),
        ({"type": "LIMIT_MAKER", "price": "60000"}, TimeInForce.POST_ONLY),
        ({"type": "MARKET"}, TimeInForce.IOC),
    ],
)
def test_order_types_map_to_ours(raw: dict[str, str], tif: TimeInForce) -> None:
    order = parse_new_order(
        {"symbol": "BTCUSDT", "side": "BUY", "quantity": "0.001", **raw}, SYMBOLS, "fresh"
    )
    assert (order.symbol, order.time_in_force, order.client_order_id) == ("BTC/USDT", tif, "fresh")
