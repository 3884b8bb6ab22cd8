"""``cst doctor``: each check against the real thing (SQLite, PostgreSQL, Redis, the paper
exchange over HTTP), failures with a fix, exit status, and no secret in its output."""

from __future__ import annotations

from pathlib import Path

from cryptosmarttrader.config.settings import explicit_settings
from cryptosmarttrader.runtime.doctor import CheckStatus, check_credentials, run_checks
from tests.paper_exchange import http_settings, running_exchange
from tests.test_cli import as_json, run

CANARY = "CANARYDOCTORKEY-1234567890"


def by_name(checks: list[dict[str, str]]) -> dict[str, dict[str, str]]:
    return {c["check"]: c for c in checks}


def test_a_fresh_install_passes_with_a_warning_for_the_missing_api_token(tmp_path: Path) -> None:
    result = run(tmp_path, "doctor", "--json")
    assert result.returncode == 0, result.stderr
    checks = by_name(as_json(result)["checks"])
    assert checks["database"]["status"] == "ok"
    assert "the first command creates it" in checks["database"]["detail"]
    assert not (tmp_path / "cst.sqlite").exists()  # the doctor only looks
    assert checks["exchange"]["detail"] == "built-in simulated market (no network)"
    assert checks["api token"]["status"] == "warn"
    assert checks["api token"]["fix"].startswith("export CST_API_TOKEN")


def test_failures_name_the_fix_exit_1_and_never_show_a_secret(tmp_path: Path) -> None:
    result = run(
        tmp_path,
        "doctor",
        "--json",
        CST_DATABASE_URL="postgresql+psycopg://postgres@127.0.0.1:5432/cst_doctor_missing",
        CST_REDIS_URL="redis://127.0.0.1:1/0",
        CST_API_KEY=CANARY,
        CST_API_TOKEN=CANARY,
    )
    assert result.returncode == 1
    checks = by_name(as_json(result)["checks"])
    assert checks["database"]["status"] == "fail"
    assert "CST_DATABASE_URL" in checks["database"]["fix"]
    assert checks["cache"]["status"] == "warn"
    assert checks["credentials"]["detail"].startswith("CST_API_KEY set, CST_API_SECRET missing")
    assert checks["api token"]["status"] == "ok"
    assert "error: failed: database" in result.stderr
    assert CANARY not in result.stdout + result.stderr
    human = run(tmp_path, "doctor", CST_REDIS_URL="redis://127.0.0.1:6379/0")
    assert human.returncode == 0, human.stdout + human.stderr
    assert "Redis answers" in human.stdout


def test_the_exchange_check_measures_the_clock_against_the_paper_exchange(tmp_path: Path) -> None:
    with running_exchange() as exchange:
        settings = http_settings(tmp_path, f"sqlite:///{tmp_path / 'x.sqlite'}", exchange.url)
        checks = {c.name: c for c in run_checks(settings)}
    exchange_check = checks["exchange"]
    assert exchange_check.status is CheckStatus.OK, exchange_check
    assert "clock skew" in exchange_check.detail
    gone = http_settings(tmp_path, f"sqlite:///{tmp_path / 'x.sqlite'}", "http://127.0.0.1:9")
    down = {c.name: c for c in run_checks(gone)}["exchange"]
    assert down.status is CheckStatus.FAIL
    assert down.fix is not None


def test_a_live_venue_without_keys_fails_the_credentials_check(tmp_path: Path) -> None:
    check = check_credentials(explicit_settings(home=tmp_path, venue="kraken"))
    assert check.status is CheckStatus.FAIL
    assert "CST_API_KEY missing" in check.detail
