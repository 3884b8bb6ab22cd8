"""The dashboard on a database filled by the real engine and gateway (the engine demo's run):
every page renders, and the numbers shown are the database's. Streamlit's AppTest runs the
script in-process; the API, where a page needs it, is the real one on a real socket."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from pydantic import SecretStr
from sqlalchemy import func, select
from streamlit.testing.v1 import AppTest

from cryptosmarttrader.api.app import ApiContext, create_app
from cryptosmarttrader.api.server import BackgroundApi
from cryptosmarttrader.config.settings import explicit_settings
from cryptosmarttrader.dashboard.findings import local_alerts, signal_outcomes
from cryptosmarttrader.dashboard.sources import Metrics
from cryptosmarttrader.runtime.engine_demo import engine_demo_settings, run_engine_demo
from cryptosmarttrader.runtime.system import TradingSystem
from cryptosmarttrader.store.database import Database
from cryptosmarttrader.store.queries import account_view, signal_history
from cryptosmarttrader.store.schema import audit_events, orders, trading_control
from tests.test_cli import run

APP = Path(__file__).resolve().parents[1] / "src" / "cryptosmarttrader" / "dashboard" / "app.py"
REFERENCE = Path(__file__).resolve().parent / "data" / "reference" / "ETH_BTC-1m.csv"
TOKEN = "dashboard-token-0123456789"
UNREACHABLE = "http://127.0.0.1:9"


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """30 loops of the engine on the simulated market, the crash tripping the kill switch,
    and a walk-forward validation on the reference candles."""
    home = tmp_path_factory.mktemp("dashboard") / "engine"
    run_engine_demo(home, loops=30, pace_s=0)
    validated = run(home, "signals", "validate", "--data", str(REFERENCE), "--json")
    assert validated.returncode == 0, validated.stderr
    return home


@pytest.fixture
def database(seeded: Path) -> Iterator[Database]:
    db = Database(f"sqlite:///{seeded / 'cst.sqlite'}")
    yield db
    db.dispose()


@pytest.fixture
def api_url(seeded: Path) -> Iterator[str]:
    settings = explicit_settings(home=seeded, engine=engine_demo_settings())
    with TradingSystem.open(settings, persist_paper_venue=False) as system:
        app = create_app(ApiContext(system, SecretStr(TOKEN), reuse_s=0.0))
        with BackgroundApi(app, "127.0.0.1", 0) as server:
            yield server.url


def page(
    monkeypatch: pytest.MonkeyPatch, home: Path, name: str, api: str = UNREACHABLE, **env: str
) -> AppTest:
    monkeypatch.setenv("CST_HOME", str(home))
    monkeypatch.setenv("CST_DASHBOARD__API_URL", api)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    app = AppTest.from_file(str(APP), default_timeout=60)
    app.query_params["page"] = name
    app.run()
    assert not app.exception, [e.value for e in app.exception]
    return app


def metric(app: AppTest, label: str) -> str:
    (found,) = [m for m in app.metric if m.label == label]
    return str(found.value)


def count(database: Database, query: object) -> int:
    with database.engine.connect() as conn:
        return int(conn.execute(query).scalar_one())  # type: ignore[call-overload]


def test_overview_shows_the_database_equity_kill_switch_and_says_it_is_read_only(
    monkeypatch: pytest.MonkeyPatch, seeded: Path, database: Database
) -> None:
    app = page(monkeypatch, seeded, "overview")
    view = account_view(database)
    assert view is not None
    assert metric(app, "Equity (USDT)") == f"{view.equity:,.2f}"
    assert metric(app, "Open positions") == str(len(view.positions))
    assert metric(app, "Day PnL") == f"{view.equity / view.start_of_day_equity - 1:+.2%}"
    assert metric(app, "Kill switch") == "ACTIVE"
    assert any("showing the database only" in w.value for w in app.warning)
    assert len(app.get("plotly_chart")) == 2  # equity and drawdown


def test_risk_guard_counts_the_audit_trail(
    monkeypatch: pytest.MonkeyPatch, seeded: Path, database: Database
) -> None:
    app = page(monkeypatch, seeded, "risk-guard")
    a = audit_events.c
    decisions = count(database, select(func.count()).where(a.kind == "DECISION"))
    rejected = count(
        database, select(func.count()).where(a.kind == "DECISION", a.verdict == "REJECT")
    )
    assert decisions > 0
    assert metric(app, "Evaluations") == f"{decisions:,}"
    assert metric(app, "Rejected") == f"{rejected:,}"
    latest = app.dataframe[1].value  # after the limits table
    assert len(latest) == min(decisions, 50)


def test_execution_counts_orders_and_signals_show_the_latest(
    monkeypatch: pytest.MonkeyPatch, seeded: Path, database: Database
) -> None:
    app = page(monkeypatch, seeded, "execution")
    assert (
        metric(app, "Orders sent")
        == f"{count(database, select(func.count()).select_from(orders)):,}"
    )
    app = page(monkeypatch, seeded, "signals")
    history = signal_history(database)
    judged = history[history["signal"].notna()]
    latest = app.dataframe[0].value
    assert sorted(latest["symbol"]) == sorted(judged["symbol"].unique())
    report = json.loads((seeded / "validation" / "latest.json").read_text())
    assert metric(app, "Hit rate") == f"{report['overall']['hit_rate']:.1%}"
    assert metric(app, "Signals") == f"{report['overall']['signals']:,}"


def test_alerts_data_and_recommendations_read_the_running_api(
    monkeypatch: pytest.MonkeyPatch, seeded: Path, api_url: str
) -> None:
    app = page(monkeypatch, seeded, "alerts", api_url)
    alerts = app.dataframe[0].value
    assert "KillSwitchActivated" in set(alerts["alert"])
    assert not app.warning  # the API is reachable
    page(monkeypatch, seeded, "data", api_url)
    app = page(monkeypatch, seeded, "recommendations", api_url)
    assert any("The kill switch is on" in m.value for m in app.markdown)


def test_the_kill_switch_needs_confirmation_and_the_token(
    monkeypatch: pytest.MonkeyPatch, seeded: Path, api_url: str, database: Database
) -> None:
    app = page(monkeypatch, seeded, "overview", api_url)
    app.radio(key="ks_action").set_value("deactivate")
    app.text_input(key="ks_token").input(TOKEN)
    app.button(key="ks_apply").click().run()
    assert any("Tick the confirmation" in e.value for e in app.error)
    app.text_input(key="ks_token").input("wrong-token")
    app.checkbox(key="ks_confirm").check()
    app.button(key="ks_apply").click().run()
    assert any("Refused (401)" in e.value for e in app.error)
    app.text_input(key="ks_token").input(TOKEN)
    app.button(key="ks_apply").click().run()
    assert any("Kill switch off" in s.value for s in app.success)
    with database.engine.connect() as conn:
        assert conn.execute(select(trading_control.c.kill_active)).scalar_one() is False
    # Put it back for the other tests of this module.
    app.radio(key="ks_action").set_value("activate")
    app.text_input(key="ks_reason").input("restored by the test")
    app.button(key="ks_apply").click().run()
    assert any("Kill switch on" in s.value for s in app.success)


def test_the_ci_page_shows_the_reports_as_written(
    monkeypatch: pytest.MonkeyPatch, seeded: Path, tmp_path: Path
) -> None:
    (tmp_path / "junit.xml").write_text(
        '<testsuites><testsuite name="pytest" tests="120" failures="2" errors="1" skipped="3" '
        'time="61.5" timestamp="2026-11-24T08:00:00"/></testsuites>'
    )
    (tmp_path / "coverage.xml").write_text('<coverage line-rate="0.9123" timestamp="0"/>')
    (tmp_path / "ruff.json").write_text("[]")
    (tmp_path / "mypy.xml").write_text('<testsuite tests="1" failures="0" errors="0"/>')
    app = page(monkeypatch, seeded, "ci-quality", CST_DASHBOARD__REPORTS_DIR=str(tmp_path))
    assert metric(app, "Tests") == "114 passed"
    assert metric(app, "Line coverage") == "91.2%"
    assert metric(app, "Lint findings") == "0"
    assert metric(app, "Type errors") == "0"
    assert not [w for w in app.warning if "Report missing" in w.value]
    (tmp_path / "coverage.xml").unlink()
    app = page(monkeypatch, seeded, "ci-quality", CST_DASHBOARD__REPORTS_DIR=str(tmp_path))
    assert any("coverage.xml" in w.value for w in app.warning)


def test_local_alert_conditions_and_signal_outcomes() -> None:
    metrics = Metrics.parse(
        "cst_kill_switch_active 0\n"
        "cst_daily_pnl_fraction -0.045\n"
        "cst_daily_loss_limit_fraction 0.05\n"
        'cst_circuit_breaker_state{exchange="binance",endpoint="ticker"} 2\n'
        'cst_circuit_breaker_state{exchange="binance",endpoint="book"} 1\n'
    )
    names = [a.name for a in local_alerts(metrics, now=0.0)]
    assert names == ["DailyLossNearLimit", "CircuitBreakerOpen"]

    signals = pd.DataFrame(
        {
            "at": [1.0, 2.0, 3.0, 4.0],
            "symbol": ["A", "B", "A", "B"],
            "reason_code": ["SIGNAL_EMITTED"] * 4,
            "signal": ["entry", "entry", "exit", "exit"],
            "confidence": [0.6, 0.7, None, None],
            "price": [100.0, 10.0, 110.0, 9.0],
        }
    )
    outcomes = signal_outcomes(signals)
    assert list(outcomes["symbol"]) == ["A", "B"]
    assert list(outcomes["outcome"].round(6)) == [0.1, -0.1]
