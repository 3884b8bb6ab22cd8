"""Candle history: the store (SQLite and PostgreSQL), `cst data import|list|download`."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from cryptosmarttrader.domain.candles import TIMEFRAME_SECONDS, parse_candle_csv
from cryptosmarttrader.store.candle_store import CandleStore, Gap
from cryptosmarttrader.store.database import Database
from tests.paper_exchange import control, running_exchange
from tests.test_cli import as_json, assert_one_line_error, run

DATA = Path(__file__).parent / "data" / "BTC_USDT-5m.csv"


def test_store_is_idempotent_and_finds_gaps(db_url: str) -> None:
    series = parse_candle_csv(DATA.read_text().splitlines(), symbol="BTC/USDT", interval_s=300)
    keep = np.ones(len(series), dtype=bool)
    keep[[10, 50, 51, 52]] = False
    database = Database(db_url)
    database.create_schema()
    store = CandleStore(database)
    try:
        assert store.insert("file", "5m", series.where(keep)) == len(series) - 4
        assert store.insert("file", "5m", series) == 4  # only the missing four are new
        assert store.insert("file", "5m", series) == 0
        (coverage,) = store.coverage()
        assert coverage.count == len(series)
        assert coverage.gaps == ()
        loaded = store.load("file", "BTC/USDT", "5m")
        assert np.array_equal(loaded.close, series.close)
        assert np.array_equal(loaded.open_ts, series.open_ts)
        assert store.last_open_ms("file", "BTC/USDT", "5m") == round(series.open_ts[-1] * 1000)
        store.insert("other", "5m", series.where(keep))
        gaps = next(c for c in store.coverage() if c.source == "other").gaps
        first = round(series.open_ts[10] * 1000)
        run_start = round(series.open_ts[50] * 1000)
        assert gaps == (
            Gap(first, first, 1),
            Gap(run_start, run_start + 2 * 300_000, 3),
        )
    finally:
        database.dispose()


def _write_csv(path: Path, rows: list[str]) -> Path:
    path.write_text("timestamp_ms,open,high,low,close,volume\n" + "\n".join(rows) + "\n")
    return path


def test_cli_import_and_list(tmp_path: Path) -> None:
    lines = DATA.read_text().splitlines()
    holey = _write_csv(tmp_path / "ETH_USDT-5m.csv", [*lines[1:20], *lines[23:60]])
    first = run(tmp_path, "data", "import", str(DATA))
    again = run(tmp_path, "data", "import", str(DATA))
    other = run(tmp_path, "data", "import", str(holey), "--source", "mine")
    listed = as_json(run(tmp_path, "data", "list", "--json"))
    table = run(tmp_path, "data", "list")
    assert first.returncode == 0, first.stderr
    assert "200 candles of BTC/USDT 5m, 200 new, 0 already stored; 0 gaps" in first.stdout
    assert "0 new, 200 already stored" in again.stdout
    assert "3 missing candles" in other.stdout
    by_symbol = {s["symbol"]: s for s in listed["series"]}
    assert by_symbol["BTC/USDT"]["count"] == 200
    assert by_symbol["BTC/USDT"]["source"] == "file"
    assert by_symbol["ETH/USDT"]["missing"] == 3
    assert by_symbol["ETH/USDT"]["source"] == "mine"
    assert "BTC/USDT" in table.stdout
    assert "ETH/USDT" in table.stdout


@pytest.mark.parametrize(
    ("rows", "args", "fragment"),
    [
        (["1,1,1,1,1,1"], ["--timeframe", "1m"], "--symbol and --timeframe"),
        (["1,1,1,1,1,1"], ["--symbol", "BTC/USDT", "--timeframe", "7m"], "unknown timeframe"),
        (["1,1,1,1,nan,1"], ["--symbol", "BTC/USDT", "--timeframe", "1m"], "line 2"),
        (["2,1,1,1,1,1", "1,1,1,1,1,1"], ["--symbol", "BTC/USDT", "--timeframe", "1m"], "line 3"),
        (["1,1,1,1,1,1"], ["--symbol", "btc", "--timeframe", "1m"], "symbol"),
    ],
)
def test_cli_import_refuses_bad_input_in_one_line(
    tmp_path: Path, rows: list[str], args: list[str], fragment: str
) -> None:
    path = _write_csv(tmp_path / "candles.csv", rows)
    line = assert_one_line_error(run(tmp_path, "data", "import", str(path), *args))
    assert fragment in line
    listed = as_json(run(tmp_path, "data", "list", "--json"))
    assert listed["series"] == []  # nothing half-imported


def test_cli_import_of_a_missing_file_says_so_first(tmp_path: Path) -> None:
    line = assert_one_line_error(run(tmp_path, "data", "import", str(tmp_path / "nothing.csv")))
    assert "No such file" in line


def test_cli_download_paginates_resumes_and_respects_the_limit(tmp_path: Path) -> None:
    day = time.strftime("%Y-%m-%d", time.gmtime(time.time() - 5 * 86_400))
    with running_exchange() as exchange:
        env = {"CST_EXCHANGE__PAPER_EXCHANGE_URL": exchange.url}
        args = [
            "data",
            "download",
            "--exchange",
            "paper-exchange",
            "--symbols",
            "BTC/USDT,ETH/USDT",
            "--timeframe",
            "5m",
            "--since",
            day,
        ]
        first = run(tmp_path, *args, **env)
        second = run(tmp_path, *args, **env)
        stats = control(exchange.url, "GET", "/_paper/stats")
    assert first.returncode == 0, first.stderr
    listed = as_json(run(tmp_path, "data", "list", "--json"))
    step = TIMEFRAME_SECONDS["5m"]
    start_ms = int(time.mktime(time.strptime(day, "%Y-%m-%d")) - time.timezone) * 1000
    for series in listed["series"]:
        assert series["source"] == "paper-exchange"
        assert series["first_ms"] == start_ms
        assert series["missing"] == 0
        assert series["count"] >= 5 * 86_400 // step - 2
    # ~1440 candles each at 1000 a page: at least two pages per symbol, and none refused.
    assert stats["requests"]["GET /api/v3/klines"] >= 4
    assert stats["rate_limited"] == 0
    assert "(resuming)" in second.stderr
    assert len(listed["series"]) == 2
    assert " new" in second.stdout


def test_cli_download_refuses_bad_input(tmp_path: Path) -> None:
    base = ["data", "download", "--symbols", "BTC/USDT", "--since", "2024-01-01"]
    assert "--exchange" in assert_one_line_error(run(tmp_path, *base, "--exchange", "ftx"))
    assert "not a date" in assert_one_line_error(
        run(
            tmp_path,
            "data",
            "download",
            "--exchange",
            "kraken",
            "--symbols",
            "BTC/USDT",
            "--since",
            "yesterday",
        )
    )
