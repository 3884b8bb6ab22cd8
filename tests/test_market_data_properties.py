"""Property tests: the answer parsers, the token bucket's arithmetic, request validation."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tenacity import RetryCallState, Retrying

from cryptosmarttrader.data.rate_limit import RateLimit, TokenBucketState
from cryptosmarttrader.data.request import DataRequest, DataRequestError
from cryptosmarttrader.domain.market_data import Endpoint
from cryptosmarttrader.exchanges.ccxt_public import (
    parse_ohlcv,
    parse_order_book,
    parse_ticker,
    parse_trades,
)
from cryptosmarttrader.exchanges.public_api import FailureKind, PublicApiError
from cryptosmarttrader.exchanges.retry_after import at_least_retry_after, retry_after_seconds

json_values = st.recursive(
    st.none() | st.booleans() | st.floats(allow_nan=True) | st.integers() | st.text(max_size=5),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
numbers = (
    st.none() | st.floats(allow_nan=True, allow_infinity=True) | st.integers() | st.text(max_size=4)
)


@given(json_values)
def test_parsers_accept_or_call_an_answer_malformed_never_crash(raw: Any) -> None:
    for parse in (
        lambda r: parse_ticker("BTC/USDT", r),
        lambda r: parse_order_book("BTC/USDT", r),
        lambda r: parse_ohlcv("BTC/USDT", 60, r),
        parse_trades,
    ):
        try:
            parse(raw)
        except PublicApiError as exc:
            assert exc.kind is FailureKind.MALFORMED  # noqa: PT017 - some inputs parse fine


@given(bid=numbers, ask=numbers, last=numbers, ts=numbers)
def test_a_ticker_keeps_what_the_venue_sent_and_nan_for_what_it_did_not(
    bid: Any, ask: Any, last: Any, ts: Any
) -> None:
    raw = {"symbol": "BTC/USDT", "bid": bid, "ask": ask, "last": last, "timestamp": ts}
    if all(v is None for v in (bid, ask, last, ts)):
        with pytest.raises(PublicApiError):
            parse_ticker("BTC/USDT", raw)
        return
    ticker = parse_ticker("BTC/USDT", raw)
    for sent, kept in ((bid, ticker.bid), (ask, ticker.ask), (last, ticker.last)):
        if isinstance(sent, int | float) and not isinstance(sent, bool) and not math.isnan(sent):
            assert kept == float(sent)
    assert ticker.ts is None or (math.isfinite(ticker.ts) and ticker.ts > 0)


@given(
    rate=st.floats(0.5, 100),
    burst=st.floats(1, 50),
    arrivals=st.lists(st.tuples(st.floats(0, 5), st.floats(0.1, 5)), min_size=1, max_size=40),
)
def test_the_bucket_never_grants_more_than_burst_plus_rate_times_time(
    rate: float, burst: float, arrivals: list[tuple[float, float]]
) -> None:
    """Serve requests in order, each as soon as the bucket allows: in any interval [a, b]
    the weight granted is at most burst + rate * (b - a)."""
    state = TokenBucketState(RateLimit(rate, burst), now=0.0)
    now = 0.0
    grants: list[tuple[float, float]] = []
    for gap, cost in arrivals:
        cost = min(cost, burst)
        now += gap
        now += state.delay_for(cost, now)
        assert state.delay_for(cost, now) <= 1e-9
        state.take(cost)
        grants.append((now, cost))
    for i, (start, _) in enumerate(grants):
        total = 0.0
        for end, cost in grants[i:]:
            total += cost
            assert total <= burst + rate * (end - start) + 1e-6


@given(timeout=st.floats(allow_nan=True, allow_infinity=True), attempts=st.integers(-5, 20))
def test_a_request_is_valid_only_within_the_documented_ranges(
    timeout: float, attempts: int
) -> None:
    valid = 1 <= timeout <= 300 and 1 <= attempts <= 10
    try:
        DataRequest("binance", Endpoint.TICKER, "BTC/USDT", timeout_s=timeout, attempts=attempts)
    except DataRequestError:
        assert not valid
    else:
        assert valid


def test_requests_get_their_endpoint_defaults_and_refuse_unknown_params() -> None:
    request = DataRequest("binance", Endpoint.OHLCV, "BTC/USDT")
    assert (request.timeout_s, request.attempts, request.cache_ttl_s) == (10.0, 3, 30.0)
    assert request.priority is not None
    with pytest.raises(DataRequestError, match="does not take depth"):
        DataRequest("binance", Endpoint.TICKER, "BTC/USDT", {"depth": 5})
    with pytest.raises(DataRequestError, match="needs a symbol"):
        DataRequest("binance", Endpoint.TICKER)
    with pytest.raises(DataRequestError, match="timeframe"):
        DataRequest("binance", Endpoint.OHLCV, "BTC/USDT", {"timeframe": "7m"})
    with pytest.raises(DataRequestError, match="limit"):
        DataRequest("binance", Endpoint.OHLCV, "BTC/USDT", {"limit": 0})


@given(
    name=st.sampled_from(["Retry-After", "retry-after", "RETRY-AFTER"]),
    value=st.floats(allow_nan=True, allow_infinity=True) | st.integers(-10, 10_000),
)
def test_the_retry_after_header_is_read_in_any_case_and_sane_or_not_at_all(
    name: str, value: float
) -> None:
    seconds = retry_after_seconds({"Date": "x", name: str(value)})
    if math.isfinite(value) and 0 <= value <= 3600:
        assert seconds == float(value)
    else:
        assert seconds is None


@given(st.text(max_size=12))
def test_a_retry_after_that_is_not_a_number_is_ignored(value: str) -> None:
    try:
        number = float(value)
    except ValueError:
        assert retry_after_seconds({"Retry-After": value}) is None
    else:
        expected = number if math.isfinite(number) and 0 <= number <= 3600 else None
        assert retry_after_seconds({"Retry-After": value}) == expected


@given(
    backoff=st.floats(0, 100),
    retry_after=st.none() | st.floats(0, 3600),
    attempt=st.integers(1, 10),
)
def test_a_retry_never_comes_sooner_than_the_venue_asked(
    backoff: float, retry_after: float | None, attempt: int
) -> None:
    wait = at_least_retry_after(lambda _state: backoff)
    state = RetryCallState(Retrying(), fn=None, args=(), kwargs={})
    state.attempt_number = attempt
    error = PublicApiError(FailureKind.RATE_LIMITED, "slow down", retry_after_s=retry_after)
    state.set_exception((PublicApiError, error, None))
    assert wait(state) == (backoff if retry_after is None else max(backoff, retry_after))
    # An error without a Retry-After, or no error at all, leaves the backoff as it is.
    plain = RetryCallState(Retrying(), fn=None, args=(), kwargs={})
    plain.set_exception((ValueError, ValueError("boom"), None))
    assert wait(plain) == backoff
