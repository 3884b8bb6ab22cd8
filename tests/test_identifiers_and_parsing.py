"""Client order ids, symbol and number parsing, the instrument grid (with hypothesis)."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cryptosmarttrader.cli.errors import UsageError
from cryptosmarttrader.cli.parsing import (
    parse_positive,
    parse_side,
    parse_symbol,
    parse_time_in_force,
)
from cryptosmarttrader.domain.orders import OrderIntent, Side, TimeInForce
from cryptosmarttrader.domain.symbols import (
    ceil_to_grid,
    floor_to_grid,
    is_valid_symbol,
    on_grid,
    split_symbol,
)
from cryptosmarttrader.domain.validation import is_valid_client_order_id
from cryptosmarttrader.execution.client_order_id import (
    client_order_id_for,
    derive_client_order_id,
)
from tests.factories import intent

BINANCE = re.compile(r"^[\.A-Z\:/a-z0-9_-]{1,36}$")


def kraken_accepts(value: str) -> bool:
    short_uuid = re.fullmatch(r"[0-9a-fA-F]{32}", value) is not None
    long_uuid = re.fullmatch(r"[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}", value)
    return short_uuid or long_uuid is not None or (len(value) <= 18 and value.isascii())


intents = st.builds(
    OrderIntent,
    symbol=st.text(max_size=20),
    side=st.sampled_from(Side),
    qty=st.floats(allow_nan=True, allow_infinity=True),
    price=st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True)),
    strategy=st.text(max_size=80),
    signal_id=st.text(max_size=80),
)


@given(intents, st.sampled_from(["cst", "a", "abc123"]))
def test_derived_ids_are_valid_on_both_venues_and_deterministic(
    order: OrderIntent, prefix: str
) -> None:
    coid = derive_client_order_id(prefix, order)
    assert len(coid) == 18
    assert coid.startswith(prefix)
    assert BINANCE.fullmatch(coid)
    assert kraken_accepts(coid)
    assert is_valid_client_order_id(coid)
    assert derive_client_order_id(prefix, order) == coid


def test_every_field_of_the_intent_changes_the_id() -> None:
    base = intent()
    variants = [
        replace(base, symbol="ETH/USDT"),
        replace(base, side=Side.SELL),
        replace(base, qty=0.02),
        replace(base, price=49_996.0),
        replace(base, signal_id="s2"),
        replace(base, strategy="other"),
    ]
    ids = {derive_client_order_id("cst", order) for order in [base, *variants]}
    assert len(ids) == 7
    assert derive_client_order_id("cst", replace(base, qty=1)) == derive_client_order_id(
        "cst", replace(base, qty=1.0)
    )
    # Fields outside the intent's identity do not change it.
    assert derive_client_order_id("cst", replace(base, reduce_only=True)) == (
        derive_client_order_id("cst", base)
    )


def test_an_explicit_valid_id_is_used_and_an_invalid_one_is_not() -> None:
    assert client_order_id_for("cst", intent(client_order_id="mine-1")) == "mine-1"
    uuid = "6d1b345e-2821-40e2-ad83-4ecb18a06876"
    assert client_order_id_for("cst", intent(client_order_id=uuid)) == uuid
    bad = intent(client_order_id="has space")
    assert client_order_id_for("cst", bad) == derive_client_order_id("cst", bad)


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("a", True),
        ("x" * 18, True),
        ("x" * 19, False),
        ("6d1b345e282140e2ad834ecb18a06876", True),
        ("6d1b345e-2821-40e2-ad83-4ecb18a06876", True),
        ("", False),
        ("with space", False),
        ("ünïcode", False),
    ],
)
def test_client_order_id_format(value: str, ok: bool) -> None:
    assert is_valid_client_order_id(value) is ok


def outcome(parse: Callable[[], object]) -> tuple[object, UsageError | None]:
    """The parser's value, or the usage error it raised (any other exception fails the test)."""
    try:
        return parse(), None
    except UsageError as error:
        return None, error


@given(st.text())
def test_number_parser_returns_only_positive_finite_numbers(text: str) -> None:
    value, error = outcome(lambda: parse_positive("qty", text))
    if error is not None:
        assert "\n" not in error.message
    else:
        assert isinstance(value, float)
        assert math.isfinite(value)
        assert value > 0


@given(st.text())
def test_symbol_and_side_parsers_never_crash(text: str) -> None:
    for parser in (parse_symbol, parse_side, parse_time_in_force):
        _, error = outcome(lambda parser=parser: parser(text))  # type: ignore[misc]
        if error is not None:
            assert "\n" not in error.message


def test_parsers_normalize() -> None:
    assert parse_symbol(" btc-usdt ") == "BTC/USDT"
    assert parse_side("SELL") is Side.SELL
    assert parse_time_in_force("post-only") is TimeInForce.POST_ONLY
    assert parse_time_in_force("postonly") is TimeInForce.POST_ONLY


@given(st.text(max_size=30))
def test_symbol_validation_agrees_with_split(text: str) -> None:
    if is_valid_symbol(text):
        base, quote = split_symbol(text)
        assert f"{base}/{quote}" == text
    else:
        with pytest.raises(ValueError, match="malformed symbol"):
            split_symbol(text)


steps = st.sampled_from([0.00001, 0.0001, 0.001, 0.01, 0.1, 1.0, 0.5, 0.000001])


@given(st.floats(0, 1e9), steps)
def test_grid_rounding(value: float, step: float) -> None:
    down = floor_to_grid(value, step)
    up = ceil_to_grid(value, step)
    assert on_grid(down, step)
    assert on_grid(up, step)
    slack = value * 1e-14 + step * 1e-6
    assert down <= value + slack
    assert up >= value - slack
    assert up - down <= step + slack


@given(st.floats(allow_nan=True, allow_infinity=True), steps)
def test_on_grid_never_raises(value: float, step: float) -> None:
    result = on_grid(value, step)
    if not math.isfinite(value):
        assert result is False
