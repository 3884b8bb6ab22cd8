"""The paper exchange speaks Binance: the real ccxt client, signatures, errors, limits."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ccxt
import ccxt.async_support as ccxt_async
import numpy as np
import pytest
from ccxt.base import errors as ccxt_errors

from cryptosmarttrader.domain.candles import CandleFormatError, parse_candle_csv, read_candle_file
from cryptosmarttrader.exchanges.ccxt_client import BINANCE_SPOT_ONLY
from cryptosmarttrader.exchanges.paper.binance_dialect import DEMO_API_KEY, DEMO_API_SECRET
from cryptosmarttrader.exchanges.paper.faults import FaultSpecError, parse_fault
from cryptosmarttrader.exchanges.paper.replay import ReplayMarket
from cryptosmarttrader.exchanges.paper.server import RunningExchange
from tests.paper_exchange import control, running_exchange

DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture
def exchange() -> Iterator[RunningExchange]:
    with running_exchange() as running:
        yield running


def ccxt_client(url: str, *, flavour: Any = ccxt_async, **extra: Any) -> Any:
    """A stock ccxt Binance client (async unless ``flavour=ccxt``) pointed at ``url``."""
    client = flavour.binance(
        {
            "apiKey": DEMO_API_KEY,
            "secret": DEMO_API_SECRET,
            "options": dict(BINANCE_SPOT_ONLY),
            **extra,
        }
    )
    client.urls["api"]["public"] = f"{url}/api/v3"
    client.urls["api"]["private"] = f"{url}/api/v3"
    return client


def with_client(url: str, scenario: Any, **extra: Any) -> Any:
    async def main() -> Any:
        client = ccxt_client(url, **extra)
        try:
            return await scenario(client)
        finally:
            await client.close()

    return asyncio.run(main())


def test_the_real_ccxt_binance_client_trades_against_it(exchange: RunningExchange) -> None:
    async def scenario(client: Any) -> dict[str, Any]:
        markets = await client.load_markets()
        # Ticker and book of one instant: market data stands still while both are read, or a
        # second ticking between the two calls would move the price.
        await asyncio.to_thread(
            control, exchange.url, "POST", "/_paper/faults", {"kind": "frozen", "path": "*"}
        )
        ticker = await client.fetch_ticker("ETH/USDT")
        book = await client.fetch_order_book("ETH/USDT", 10)
        await asyncio.to_thread(control, exchange.url, "DELETE", "/_paper/faults")
        candles = await client.fetch_ohlcv("ETH/USDT", "1m", limit=5)
        bought = await client.create_order(
            "ETH/USDT", "market", "buy", 0.5, None, {"clientOrderId": "cstmarket1"}
        )
        fetched = await client.fetch_order(None, "ETH/USDT", {"clientOrderId": "cstmarket1"})
        trades = await client.fetch_order_trades(fetched["id"], "ETH/USDT")
        resting = await client.create_order(
            "ETH/USDT",
            "limit",
            "buy",
            0.1,
            round(book["bids"][0][0] * 0.98, 2),
            {"clientOrderId": "cstresting1", "postOnly": True},
        )
        open_orders = await client.fetch_open_orders("ETH/USDT")
        canceled = await client.cancel_order(None, "ETH/USDT", {"clientOrderId": "cstresting1"})
        balance = await client.fetch_balance()
        return {
            "markets": markets,
            "ticker": ticker,
            "book": book,
            "candles": candles,
            "bought": bought,
            "fetched": fetched,
            "trades": trades,
            "resting": resting,
            "open": open_orders,
            "canceled": canceled,
            "balance": balance,
        }

    r = with_client(exchange.url, scenario)
    eth = r["markets"]["ETH/USDT"]
    assert (eth["precision"]["price"], eth["precision"]["amount"]) == (0.01, 0.0001)
    assert eth["limits"]["cost"]["min"] == 5.0
    assert len(r["markets"]) == 9
    assert 0 < r["ticker"]["bid"] < r["ticker"]["ask"]
    assert r["book"]["bids"][0][0] == r["ticker"]["bid"]
    assert len(r["book"]["bids"]) == 10
    assert len(r["candles"]) == 5
    for _, o, h, low, c, v in r["candles"]:
        assert low <= min(o, c) <= max(o, c) <= h
        assert v > 0
    assert [row[0] for row in r["candles"]] == sorted(row[0] for row in r["candles"])
    bought = r["bought"]
    assert (bought["status"], bought["filled"], bought["clientOrderId"]) == (
        "closed",
        0.5,
        "cstmarket1",
    )
    assert r["fetched"]["id"] == bought["id"]
    assert sum(t["amount"] for t in r["trades"]) == pytest.approx(0.5)
    assert all(t["fee"]["currency"] == "USDT" for t in r["trades"])
    assert r["resting"]["status"] == "open"
    assert [o["clientOrderId"] for o in r["open"]] == ["cstresting1"]
    assert r["canceled"]["status"] == "canceled"
    cost = sum(t["cost"] for t in r["trades"])
    fees = sum(t["fee"]["cost"] for t in r["trades"])
    assert r["balance"]["total"]["ETH"] == pytest.approx(0.5)
    assert r["balance"]["total"]["USDT"] == pytest.approx(10_000 - cost - fees)
    assert r["balance"]["used"]["USDT"] == pytest.approx(0.0)  # the canceled bid released
    stats = control(exchange.url, "GET", "/_paper/stats")
    assert stats["orders"]["placed"] == 2
    assert stats["orders"]["by_status"] == {"CANCELED": 1, "FILLED": 1}
    assert stats["requests"]["POST /api/v3/order"] == 2


def test_binance_errors_reach_ccxt_as_the_right_exceptions(exchange: RunningExchange) -> None:
    async def scenario(client: Any) -> list[str]:
        await client.load_markets()
        seen = []
        attempts = [
            client.fetch_order(None, "ETH/USDT", {"clientOrderId": "nope"}),
            client.cancel_order(None, "ETH/USDT", {"clientOrderId": "nope"}),
            client.create_order("ETH/USDT", "market", "buy", 100.0, None, {}),  # no funds
            client.create_order("ETH/USDT", "market", "buy", 0.00001, None, {}),  # off step
        ]
        book = await client.fetch_order_book("ETH/USDT", 5)
        attempts.append(
            client.create_order(  # a post-only bid well above the ask would take
                "ETH/USDT",
                "limit",
                "buy",
                0.1,
                round(book["asks"][0][0] * 1.01, 2),
                {"postOnly": True},
            )
        )
        for attempt in attempts:
            try:
                await attempt
            except ccxt_errors.BaseError as exc:
                seen.append(type(exc).__name__)
        await client.create_order(
            "ETH/USDT", "market", "buy", 0.01, None, {"clientOrderId": "dup1"}
        )
        try:
            await client.create_order(
                "ETH/USDT", "market", "buy", 0.01, None, {"clientOrderId": "dup1"}
            )
        except ccxt_errors.InvalidOrder as exc:
            seen.append("duplicate" if "Duplicate order sent" in str(exc) else str(exc))
        return seen

    seen = with_client(exchange.url, scenario)
    assert seen == [
        "OrderNotFound",
        "OrderNotFound",
        "InsufficientFunds",
        "InvalidOrder",
        "OrderImmediatelyFillable",
        "duplicate",
    ]


def fetch(request: urllib.request.Request | str) -> tuple[int, Any, Any]:
    """(status, headers, parsed body) of a loopback request; error responses too, closed."""
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback
            return response.status, response.headers, _parse(response.read())
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, exc.headers, _parse(exc.read())


def _parse(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return raw.decode(errors="replace")


def _signed(url: str, path: str, params: dict[str, str], *, key: str, secret: str) -> Any:
    query = urllib.parse.urlencode(params)
    signature = hmac.new(secret.encode(), query.encode(), hashlib.sha256).hexdigest()
    request = urllib.request.Request(  # noqa: S310 - loopback
        f"{url}{path}?{query}&signature={signature}", headers={"X-MBX-APIKEY": key}
    )
    status, _, body = fetch(request)
    return status, body


@pytest.mark.parametrize(
    ("key", "secret", "shift_ms", "window", "status", "code"),
    [
        (DEMO_API_KEY, DEMO_API_SECRET, 0, "5000", 200, None),
        ("other-key", DEMO_API_SECRET, 0, "5000", 401, -2015),
        (DEMO_API_KEY, "wrong-secret", 0, "5000", 400, -1022),
        (DEMO_API_KEY, DEMO_API_SECRET, -10_000, "5000", 400, -1021),  # too old
        (DEMO_API_KEY, DEMO_API_SECRET, 5_000, "5000", 400, -1021),  # from the future
        (DEMO_API_KEY, DEMO_API_SECRET, 0, "70000", 400, -1131),
    ],
)
def test_signed_endpoints_check_key_signature_and_receive_window(
    exchange: RunningExchange,
    key: str,
    secret: str,
    shift_ms: int,
    window: str,
    status: int,
    code: int | None,
) -> None:
    params = {"timestamp": str(int(time.time() * 1000) + shift_ms), "recvWindow": window}
    got_status, body = _signed(exchange.url, "/api/v3/account", params, key=key, secret=secret)
    assert got_status == status
    if code is None:
        assert {b["asset"] for b in body["balances"]} == {"USDT"}
    else:
        assert body["code"] == code


def test_the_weight_limit_answers_429_with_retry_after() -> None:
    with running_exchange(weight_limit=45) as running:
        answers = [fetch(f"{running.url}/api/v3/exchangeInfo") for _ in range(3)]
        stats = control(running.url, "GET", "/_paper/stats")
    # exchangeInfo weighs 20: the third call would exceed 45 in this minute.
    assert [a[0] for a in answers] == [200, 200, 429]
    assert [a[1]["X-MBX-USED-WEIGHT-1M"] for a in answers[:2]] == ["20", "40"]
    assert answers[2][2]["code"] == -1003
    assert 1 <= int(answers[2][1]["Retry-After"]) <= 60
    assert stats["rate_limited"] == 1


def test_faults_are_managed_at_runtime_and_need_the_key(exchange: RunningExchange) -> None:
    added = control(
        exchange.url,
        "POST",
        "/_paper/faults",
        {"kind": "http_503", "path": "/api/v3/time", "count": 1},
    )
    assert added[0]["kind"] == "http_503"
    assert fetch(f"{exchange.url}/api/v3/time")[0] == 503
    status, _, body = fetch(f"{exchange.url}/api/v3/time")
    assert status == 200
    assert abs(body["serverTime"] / 1000 - time.time()) < 5
    stats = control(exchange.url, "GET", "/_paper/stats")
    assert stats["faults_injected"] == {"http_503": 1}
    anonymous = urllib.request.Request(  # noqa: S310
        f"{exchange.url}/_paper/faults", data=b"{}", method="POST"
    )
    assert fetch(anonymous)[0] == 401
    bad = urllib.request.Request(  # noqa: S310
        f"{exchange.url}/_paper/faults",
        data=b'{"kind": "meteor"}',
        method="POST",
        headers={"X-MBX-APIKEY": DEMO_API_KEY},
    )
    assert fetch(bad)[0] == 400
    assert control(exchange.url, "DELETE", "/_paper/faults") == {"removed": 0}


@pytest.mark.parametrize(
    ("spec", "fields"),
    [
        ("http_503@/api/v3/order#2", ("http_503", "/api/v3/order", None, None, 2, 1.0)),
        ("latency=250@GET /api/v3/depth", ("latency", "/api/v3/depth", "GET", 250.0, None, 1.0)),
        (
            "response_lost@POST /api/v3/order#1%0.5",
            ("response_lost", "/api/v3/order", "POST", None, 1, 0.5),
        ),
        ("frozen=60@*", ("frozen", "*", None, 60.0, None, 1.0)),
    ],
)
def test_fault_specs_parse(spec: str, fields: tuple[object, ...]) -> None:
    rule = parse_fault(spec)
    assert (
        rule.kind.value,
        rule.path,
        rule.method,
        rule.param,
        rule.count,
        rule.probability,
    ) == fields


@pytest.mark.parametrize(
    "spec",
    ["meteor@*", "http_503", "http_503@api", "http_503@/x#0", "http_503@/x%1.5", "hang=99999@*"],
)
def test_bad_fault_specs_are_refused(spec: str) -> None:
    with pytest.raises(FaultSpecError):
        parse_fault(spec)


def test_a_replayed_csv_reproduces_its_candles() -> None:
    series = read_candle_file(DATA / "BTC_USDT-5m.csv")
    assert (series.symbol, series.interval_s, len(series)) == ("BTC/USDT", 300, 200)
    start = 1_000_000.0
    market = ReplayMarket(series, start_ts=start, speed=1.0)
    for k in range(5):
        prices = market.prices("BTC/USDT", np.arange(start + 300 * k, start + 300 * (k + 1)))
        assert (prices[0], prices.max(), prices.min(), prices[-1]) == (
            series.open[k],
            series.high[k],
            series.low[k],
            series.close[k],
        )
    assert market.instruments()["BTC/USDT"].price_tick == pytest.approx(0.1)
    fast = ReplayMarket(series, start_ts=start, speed=300.0)  # one candle per second
    assert fast.price("BTC/USDT", start + 3) == series.open[3]
    assert fast.price("BTC/USDT", fast.end_ts + 100) == series.close[-1]


def test_the_exchange_serves_a_replay_through_ccxt() -> None:
    series = read_candle_file(DATA / "BTC_USDT-5m.csv")
    start = (time.time() // 300) * 300 - 3600  # on a 5-minute boundary, an hour ago
    market = ReplayMarket(series, start_ts=start, speed=1.0)
    with running_exchange(market) as running:

        async def scenario(client: Any) -> Any:
            await client.load_markets()
            return await client.fetch_ohlcv("BTC/USDT", "5m", since=int(start * 1000), limit=6)

        candles = with_client(running.url, scenario)
    # The hour since the start replays the file's first hour, candle for candle.
    assert [row[0] for row in candles] == [int(start * 1000) + k * 300_000 for k in range(6)]
    for k, (_, o, h, low, c, _) in enumerate(candles):
        assert (o, h, low, c) == (series.open[k], series.high[k], series.low[k], series.close[k])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("ts,o,h,l,c,v\n", "expected header"),
        ("timestamp_ms,open,high,low,close,volume\n1,1,1,1,1\n", "expected 6 fields"),
        ("timestamp_ms,open,high,low,close,volume\n1,1,2,0.5,x,1\n", "not a number"),
        ("timestamp_ms,open,high,low,close,volume\n1,1,2,0.5,nan,1\n", "non-finite"),
        ("timestamp_ms,open,high,low,close,volume\n1,1,2,-1,1,1\n", "non-positive"),
        ("timestamp_ms,open,high,low,close,volume\n1,1,0.9,0.5,1,1\n", "do not bound"),
        ("timestamp_ms,open,high,low,close,volume\n2,1,1,1,1,1\n1,1,1,1,1,1\n", "not after"),
        ("timestamp_ms,open,high,low,close,volume\n", "no candles"),
    ],
)
def test_malformed_candle_files_are_refused_with_the_line(text: str, message: str) -> None:
    with pytest.raises(CandleFormatError, match=message):
        parse_candle_csv(text.splitlines(), symbol="BTC/USDT", interval_s=60)


def test_the_synchronous_ccxt_client_works_too(exchange: RunningExchange) -> None:
    client = ccxt_client(exchange.url, flavour=ccxt)
    client.load_markets()
    order = client.create_order(
        "BTC/USDT", "market", "buy", 0.01, None, {"clientOrderId": "cstsync1"}
    )
    assert (order["status"], order["filled"]) == ("closed", 0.01)
    assert client.fetch_balance()["total"]["BTC"] == pytest.approx(0.01)
