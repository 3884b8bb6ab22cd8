"""``cst paper-exchange``, ``cst reconcile`` and venue selection, as a user runs them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from cryptosmarttrader.store.schema import orders
from tests.test_cli import CST, as_json, assert_one_line_error, run, table_rows

FAST = {
    "CST_EXCHANGE__TIMEOUT_S": "2",
    "CST_EXCHANGE__CLIENT_THROTTLE": "false",
    "CST_EXCHANGE__SEND_WINDOW_S": "2",
    "CST_EXCHANGE__RECV_WINDOW_S": "1",
    "CST_EXCHANGE__CLOCK_MARGIN_S": "0.5",
}


@pytest.fixture
def paper_exchange(tmp_path: Path) -> Iterator[str]:
    """``cst paper-exchange --port 0`` as a process; yields its URL."""
    environment = {"PATH": os.environ["PATH"], "HOME": str(tmp_path)}
    environment.update({k: v for k, v in os.environ.items() if k.startswith("COVERAGE_")})
    process = subprocess.Popen(
        [CST, "paper-exchange", "--port", "0", "--fault", "http_503@POST /api/v3/order#1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environment,
    )
    assert process.stdout is not None
    first = process.stdout.readline()  # blocks until the server listens
    assert first.startswith("paper exchange listening on http://127.0.0.1:"), first
    url = first.split()[4]
    try:
        yield url
    finally:
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
        assert process.returncode == 0, err
        assert "paper exchange stopped" in out


def test_orders_go_through_the_paper_exchange_and_reconcile_is_clean(
    tmp_path: Path, paper_exchange: str
) -> None:
    env = {
        "CST_VENUE": "paper-exchange",
        "CST_EXCHANGE__PAPER_EXCHANGE_URL": paper_exchange,
        **FAST,
    }
    # A bid half a percent under the market rests whatever the live price does meanwhile.
    probe = as_json(run(tmp_path, "order", "buy", "ETH/USDT", "0.05", "--dry-run", "--json", **env))
    price = f"{probe['price'] * 0.995:.2f}"
    placed = run(tmp_path, "order", "buy", "ETH/USDT", "0.05", "--price", price, "--json", **env)
    assert placed.returncode == 0, placed.stderr
    result = as_json(placed)
    assert result["status"] == "OPEN"  # after a 503 the broker looked up and re-sent once
    with urllib.request.urlopen(f"{paper_exchange}/_paper/stats", timeout=10) as response:  # noqa: S310
        stats = json.loads(response.read())
    assert stats["faults_injected"] == {"http_503": 1}
    assert stats["requests"]["POST /api/v3/order"] == 2  # the dry run sent nothing
    assert stats["orders"]["placed"] == 1
    reconciled = run(tmp_path, "reconcile", "--json", **env)
    assert reconciled.returncode == 0, reconciled.stderr
    report = as_json(reconciled)
    # The bid rests at the touch of a live market: by now it may have filled.
    assert (report["checked"], report["clean"]) == (1, True), report
    assert report["unchanged"] + len(report["changed"]) == 1
    human = run(tmp_path, "reconcile", **env)
    assert human.returncode == 0
    assert "0 pending, 0 holdings re-synced, 0 errors" in human.stdout
    (row,) = table_rows(f"sqlite:///{tmp_path / 'cst.sqlite'}", orders)
    assert row.venue == "paper-exchange"
    assert row.status in {"OPEN", "PARTIALLY_FILLED", "FILLED"}


def test_reconcile_on_the_built_in_paper_venue(tmp_path: Path) -> None:
    placed = run(tmp_path, "order", "buy", "ETH/USDT", "0.05", "--json")
    assert placed.returncode == 0, placed.stderr
    report = as_json(run(tmp_path, "reconcile", "--json"))
    assert report["clean"] is True
    assert report["holdings"] == []


@pytest.mark.parametrize(
    ("args", "env", "fragment"),
    [
        (["order", "buy", "BTC/USDT", "0.001"], {"CST_VENUE": "binance"}, "confirm with --live"),
        (["reconcile"], {"CST_VENUE": "kraken", "CST_QUOTE": "USD"}, "confirm with --live"),
        (
            ["reconcile", "--live"],
            {"CST_VENUE": "kraken", "CST_QUOTE": "USD"},
            "needs CST_API_KEY and CST_API_SECRET",
        ),
        (["paper-exchange", "--fault", "meteor@*"], {}, "unknown fault kind"),
        (["paper-exchange", "--replay", "/nonexistent.csv"], {}, "--replay"),
        (["paper-exchange", "--speed", "0"], {}, "--speed"),
    ],
)
def test_venue_misuse_is_one_line_and_exit_2(
    tmp_path: Path, args: list[str], env: dict[str, str], fragment: str
) -> None:
    result = run(tmp_path, *args, **env)
    assert fragment in assert_one_line_error(result)
    assert not (tmp_path / "cst.sqlite").exists()


def test_an_unreachable_paper_exchange_is_one_line_exit_1(tmp_path: Path) -> None:
    env = {
        "CST_VENUE": "paper-exchange",
        "CST_EXCHANGE__PAPER_EXCHANGE_URL": "http://127.0.0.1:9",
        **FAST,
    }
    result = run(tmp_path, "order", "buy", "ETH/USDT", "0.05", **env)
    assert "paper-exchange" in assert_one_line_error(result, code=1)
    # The kill switch needs no venue: it works while the venue is down.
    assert run(tmp_path, "kill-switch", "activate", "--reason", "venue down", **env).returncode == 0
