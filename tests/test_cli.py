"""The ``cst`` command, run as a separate process the way a user runs it."""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

import cryptosmarttrader
from cryptosmarttrader.store.database import Database
from cryptosmarttrader.store.schema import audit_events, orders

CST = str(Path(sys.executable).with_name("cst"))


def run(home: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``cst args`` with only CST_HOME (and what the test adds) in its environment."""
    environment = {"PATH": os.environ["PATH"], "HOME": str(home), "CST_HOME": str(home), **env}
    # Coverage measures subprocesses through these; they carry no settings of ours.
    environment.update({k: v for k, v in os.environ.items() if k.startswith("COVERAGE_")})
    return subprocess.run(
        [CST, *args], env=environment, capture_output=True, text=True, timeout=120, check=False
    )


def as_json(result: subprocess.CompletedProcess[str]) -> Any:
    assert result.stdout.count("\n") == 1, result.stdout + result.stderr
    return json.loads(result.stdout)


def assert_one_line_error(result: subprocess.CompletedProcess[str], code: int = 2) -> str:
    assert result.returncode == code, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


def table_rows(db_url: str, table: Any) -> list[Any]:
    database = Database(db_url)
    try:
        with database.engine.connect() as conn:
            return list(conn.execute(select(table)).all())
    finally:
        database.dispose()


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["order", "buy", "BTC/USDT", "-1"], "quantity must be a positive finite number"),
        (["order", "buy", "BTC/USDT", "0"], "quantity must be a positive finite number"),
        (["order", "buy", "BTC/USDT", "abc"], "quantity must be a number"),
        (["order", "buy", "BTC/USDT", "nan"], "positive finite"),
        (["order", "buy", "BTC/USDT", "inf"], "positive finite"),
        (["order", "buy", "BTC/USDT", "0.0000001"], "below the minimum"),
        (["order", "buy", "BTC/USDT", "0.000015"], "not a multiple of the step"),
        (["order", "buy", "NOPE/USDT", "1"], "unknown symbol NOPE/USDT"),
        (["order", "buy", "BTCUSDT", "1"], "symbol must look like BTC/USDT"),
        (["order", "hold", "BTC/USDT", "1"], "side must be buy or sell"),
        (["order", "buy", "BTC/USDT", "0.001", "--price", "-5"], "--price must be a positive"),
        (["order", "buy", "BTC/USDT", "0.001", "--price", "x"], "--price must be a number"),
        (
            ["order", "buy", "BTC/USDT", "0.001", "--price", "60000.001"],
            "not a multiple of the tick",
        ),
        (["order", "buy", "BTC/USDT", "0.001", "--type", "stop"], "--type must be limit or market"),
        (["order", "buy", "BTC/USDT", "0.001", "--tif", "GTD"], "--tif must be one of"),
        (
            ["order", "buy", "BTC/USDT", "0.001", "--type", "market", "--price", "1"],
            "--price is only for limit orders",
        ),
        (
            ["order", "buy", "BTC/USDT", "0.001", "--client-order-id", "x" * 19],
            "not valid on Binance and Kraken",
        ),
        (["order", "buy", "BTC/USDT"], "Missing argument"),
        (["audit", "--last", "0"], "--last"),
        (["launch-rockets"], "No such command"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(
    tmp_path: Path, args: list[str], fragment: str
) -> None:
    result = run(tmp_path, *args)
    assert fragment in assert_one_line_error(result)
    assert not (tmp_path / "cst.sqlite").exists()
    assert not (tmp_path / "paper-venue.json").exists()


@pytest.mark.parametrize(
    ("env", "file_text", "fragment"),
    [
        ({"CST_RISK__MAX_DRAWDOWN": "1.5"}, None, "risk.max_drawdown"),
        ({"CST_RISK__MAX_POSITIONS": "many"}, None, "risk.max_positions"),
        ({}, "[risk]\nmax_drawdown = 0.2\nkill_switch_drawdown = 0.1\n", "kill_switch_drawdown"),
        ({}, "[risk]\nmax_leverage = 3\n", "risk.max_leverage: unknown key"),
        ({}, "[risk\n", "not valid"),
        ({"CST_SQLITE_SYNCHRONOUS": "OFF"}, None, "sqlite_synchronous"),
    ],
)
def test_a_bad_configuration_is_one_line_naming_the_key(
    tmp_path: Path, env: dict[str, str], file_text: str | None, fragment: str
) -> None:
    if file_text is not None:
        (tmp_path / "config.toml").write_text(file_text)
    result = run(tmp_path, "kill-switch", "status", **env)
    line = assert_one_line_error(result)
    assert fragment in line
    assert line.startswith("error: invalid configuration") or "config file" in line


def test_order_json_output(tmp_path: Path) -> None:
    result = run(tmp_path, "order", "buy", "BTC/USDT", "0.001", "--json")
    assert result.returncode == 0, result.stderr
    payload = as_json(result)
    assert {"decision", "gate", "reason_code", "client_order_id", "qty", "status"} <= set(payload)
    assert payload["decision"] == "APPROVE"
    assert payload["reason_code"] == "APPROVED"
    assert payload["gate"] is None
    assert payload["time_in_force"] == "POST_ONLY"  # a limit without --price rests at the bid
    assert payload["status"] in {"OPEN", "FILLED"}
    assert payload["client_order_id"].startswith("cst")
    assert len(payload["client_order_id"]) == 18


def test_a_rejected_order_exits_1_with_its_reason(tmp_path: Path) -> None:
    result = run(tmp_path, "order", "buy", "BTC/USDT", "0.001", "--type", "market", "--json")
    assert result.returncode == 1
    payload = as_json(result)
    assert (payload["decision"], payload["gate"], payload["reason_code"]) == (
        "REJECT",
        "time_in_force",
        "TIF_NOT_ALLOWED",
    )
    assert payload["status"] == "NOT_SENT"


def test_dry_run_stores_nothing(tmp_path: Path) -> None:
    result = run(tmp_path, "order", "buy", "ETH/USDT", "0.01", "--dry-run", "--json")
    assert result.returncode == 0, result.stderr
    payload = as_json(result)
    assert (payload["decision"], payload["status"], payload["dry_run"]) == (
        "APPROVE",
        "DRY_RUN",
        True,
    )
    db_url = f"sqlite:///{tmp_path / 'cst.sqlite'}"
    assert table_rows(db_url, orders) == []
    assert table_rows(db_url, audit_events) == []
    venue = json.loads((tmp_path / "paper-venue.json").read_text())
    assert venue["orders"] == []


def test_human_output_and_audit(tmp_path: Path) -> None:
    result = run(tmp_path, "order", "sell", "ETH/USDT", "0.01", "--price", "10", "--tif", "GTC")
    assert result.returncode == 1
    assert "REJECT" in result.stdout
    assert "PRICE_OUT_OF_BAND" in result.stdout
    listing = run(tmp_path, "audit", "--last", "5", "--json")
    assert listing.returncode == 0, listing.stderr
    (entry,) = as_json(listing)
    assert (entry["kind"], entry["reason_code"], entry["side"]) == (
        "DECISION",
        "PRICE_OUT_OF_BAND",
        "sell",
    )
    table = run(tmp_path, "audit")
    assert table.returncode == 0
    assert "PRICE_OUT_OF_BAND" in table.stdout


def test_kill_switch_human_output(tmp_path: Path) -> None:
    inactive = run(tmp_path, "kill-switch", "status")
    assert inactive.returncode == 0
    assert "kill switch: inactive" in inactive.stdout
    activated = run(tmp_path, "kill-switch", "activate", "--reason", "fat finger")
    assert activated.returncode == 0
    assert "activated" in activated.stdout
    assert "ACTIVE" in activated.stdout
    assert "fat finger" in activated.stdout
    assert "kill switch" in run(tmp_path, "order", "buy", "BTC/USDT", "0.001").stdout
    empty = run(tmp_path, "kill-switch", "activate", "--reason", "  ")
    assert "--reason must not be empty" in assert_one_line_error(empty)
    deactivated = run(tmp_path, "kill-switch", "deactivate")
    assert "deactivated" in deactivated.stdout
    again = run(tmp_path, "kill-switch", "deactivate")
    assert "already inactive" in again.stdout


def test_version_and_config(tmp_path: Path) -> None:
    version = run(tmp_path, "--version")
    assert version.returncode == 0
    # One version: the package's, which the wheel's metadata takes from it (hatch).
    assert version.stdout == f"cst {importlib.metadata.version('cryptosmarttrader')}\n"
    assert version.stdout == f"cst {cryptosmarttrader.__version__}\n"
    shown = run(
        tmp_path,
        "config",
        CST_DATABASE_URL="postgresql+psycopg://trader:hunter2@127.0.0.1:5432/cst",
        CST_RISK__MAX_POSITIONS="4",
    )
    assert shown.returncode == 0, shown.stderr
    config = as_json(shown)
    assert config["risk"]["max_positions"] == 4
    assert "hunter2" not in shown.stdout
    assert config["database_url"] == "postgresql+psycopg://trader:***@127.0.0.1:5432/cst"


def test_an_unreachable_database_is_one_line(tmp_path: Path) -> None:
    result = run(
        tmp_path,
        "kill-switch",
        "status",
        CST_DATABASE_URL="postgresql+psycopg://trader:hunter2@127.0.0.1:1/cst",
    )
    line = assert_one_line_error(result, code=1)
    assert "cannot open database" in line
    assert "hunter2" not in result.stderr


@pytest.mark.slow
def test_kill_switch_is_seen_by_every_later_process(db_url: str, tmp_path: Path) -> None:
    env = {"CST_DATABASE_URL": db_url}
    activated = run(
        tmp_path, "kill-switch", "activate", "--reason", "exchange incident", "--json", **env
    )
    assert activated.returncode == 0, activated.stderr
    assert as_json(activated)["active"] is True

    status = as_json(run(tmp_path, "kill-switch", "status", "--json", **env))
    assert (status["active"], status["reason"]) == (True, "exchange incident")
    assert status["actor"].startswith("cli")

    blocked = run(tmp_path, "order", "buy", "BTC/USDT", "0.001", "--json", **env)
    assert blocked.returncode == 1
    assert as_json(blocked)["reason_code"] == "KILL_SWITCH_ACTIVE"

    again = as_json(run(tmp_path, "kill-switch", "activate", "--reason", "x", "--json", **env))
    assert (again["changed"], again["reason"]) == (False, "exchange incident")

    deactivated = run(tmp_path, "kill-switch", "deactivate", "--json", **env)
    assert as_json(deactivated)["active"] is False
    allowed = run(tmp_path, "order", "buy", "BTC/USDT", "0.001", "--json", **env)
    assert allowed.returncode == 0, allowed.stdout + allowed.stderr
    assert as_json(allowed)["decision"] == "APPROVE"


@pytest.mark.slow
def test_a_client_order_id_is_never_accepted_twice(db_url: str, tmp_path: Path) -> None:
    env = {"CST_DATABASE_URL": db_url}
    args = ["order", "buy", "ETH/USDT", "0.01", "--client-order-id", "retry-safe-1", "--json"]
    first = run(tmp_path, *args, **env)
    assert first.returncode == 0, first.stdout + first.stderr
    assert as_json(first)["client_order_id"] == "retry-safe-1"
    second = run(tmp_path, *args, **env)
    assert second.returncode == 1
    payload = as_json(second)
    assert (payload["decision"], payload["reason_code"]) == ("REJECT", "DUPLICATE_ORDER")
    assert [row.client_order_id for row in table_rows(db_url, orders)] == ["retry-safe-1"]


@pytest.mark.slow
def test_demo_runs_on_embedded_defaults(tmp_path: Path) -> None:
    result = run(
        tmp_path,
        "demo",
        "--json",
        "--loops",
        "20",
        "--pace",
        "0",
        "--api-port",
        "0",
        CST_DATABASE_URL="postgresql+psycopg://nobody@127.0.0.1:1/none",
        CST_RISK__MAX_POSITIONS="1",
    )
    assert result.returncode == 0, result.stderr
    report = as_json(result)
    assert report["database_url"] == f"sqlite:///{tmp_path / 'demo' / 'cst.sqlite'}"
    codes = {step["order"]["reason_code"] for step in report["steps"] if step["order"]}
    assert {
        "APPROVED",
        "POSITION_SIZE_LIMIT",
        "CORRELATION_LIMIT",
        "SPREAD_TOO_WIDE",
        "TIF_NOT_ALLOWED",
        "POST_ONLY_WOULD_TAKE",
        "PRICE_OUT_OF_BAND",
        "DUPLICATE_ORDER",
        "INVALID_ORDER",
        "UNKNOWN_SYMBOL",
        "DATA_STALE",
        "REDUCE_ONLY_VIOLATION",
        "KILL_SWITCH_ACTIVE",
        "DAILY_LOSS_LIMIT",
    } <= codes
    assert report["kill_switch"]["active"] is True
    assert report["kill_switch"]["actor"] == "risk_guard"
    # Then the engine ran on the simulated market: signals judged, orders through the gates,
    # the crash tripped the kill switch in the loop, and the report was written.
    engine = report["engine"]
    assert engine["loops"] == 20
    assert engine["database_url"] == f"sqlite:///{tmp_path / 'demo' / 'engine' / 'cst.sqlite'}"
    assert engine["signals"]["SIGNAL_EMITTED"] > 0
    assert engine["orders"]["APPROVED"] > 0
    assert engine["kill_switch"]["active"] is True
    assert "daily loss" in engine["kill_switch"]["reason"]
    assert Path(engine["report"]).stat().st_size > 100_000
    assert engine["api_url"].startswith("http://127.0.0.1:")
    human = run(tmp_path, "demo", "--loops", "3", "--pace", "0", "--no-api")
    assert human.returncode == 0, human.stderr
    assert "DAILY_LOSS_LIMIT" in human.stdout
    assert "cst audit" in human.stdout
    assert "engine: 3 loops" in human.stdout
