"""Settings: defaults, config files (TOML and YAML), CST_* variables, one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from cryptosmarttrader.config.limits import ExecutionLimits, RiskLimits
from cryptosmarttrader.config.settings import ConfigError, default_home, load_settings


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("CST_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))


def test_documented_defaults() -> None:
    risk = RiskLimits()
    assert (risk.max_data_age_s, risk.min_data_completeness) == (60.0, 0.95)
    assert (risk.daily_loss_limit, risk.kill_switch_daily_loss) == (0.05, 0.08)
    assert (risk.max_drawdown, risk.kill_switch_drawdown) == (0.10, 0.15)
    assert (risk.max_positions, risk.max_total_exposure, risk.max_position) == (10, 1.0, 0.20)
    assert (risk.correlation_threshold, risk.max_correlated_exposure) == (0.7, 0.40)
    assert risk.min_order_notional == 10.0
    execution = ExecutionLimits()
    assert (execution.max_spread_bps, execution.depth_band_bps) == (50.0, 50.0)
    assert (execution.min_depth_quote, execution.depth_multiple) == (10_000.0, 3.0)
    assert execution.min_volume_24h_quote == 1_000_000.0
    assert execution.max_slippage_bps == 25.0
    assert execution.allow_market_orders is False
    assert execution.max_price_deviation_bps == 200.0


def test_home_and_database_defaults(tmp_path: Path) -> None:
    settings = load_settings()
    assert settings.home == tmp_path / "xdg" / "cryptosmarttrader" == default_home()
    assert settings.resolved_database_url == f"sqlite:///{settings.home / 'cst.sqlite'}"
    assert settings.log_file == settings.home / "logs" / "cst.jsonl"


def test_environment_overrides(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CST_HOME", str(tmp_path / "h"))
    monkeypatch.setenv("CST_DATABASE_URL", "postgresql+psycopg://u@127.0.0.1/db")
    monkeypatch.setenv("CST_RISK__MAX_DRAWDOWN", "0.07")
    monkeypatch.setenv("CST_RISK__KILL_SWITCH_DRAWDOWN", "0.09")
    monkeypatch.setenv("CST_EXECUTION__ALLOW_MARKET_ORDERS", "true")
    settings = load_settings()
    assert settings.home == tmp_path / "h"
    assert settings.resolved_database_url == "postgresql+psycopg://u@127.0.0.1/db"
    assert settings.risk.max_drawdown == 0.07
    assert settings.execution.allow_market_orders is True


@pytest.mark.parametrize("suffix", [".toml", ".yaml"])
def test_config_files_and_env_precedence(
    suffix: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = tmp_path / f"cst{suffix}"
    if suffix == ".toml":
        path.write_text("[risk]\nmax_positions = 4\nmax_position = 0.1\n[paper]\nseed = 11\n")
    else:
        path.write_text("risk:\n  max_positions: 4\n  max_position: 0.1\npaper:\n  seed: 11\n")
    monkeypatch.setenv("CST_RISK__MAX_POSITION", "0.15")
    settings = load_settings(path)
    assert settings.risk.max_positions == 4
    assert settings.risk.max_position == 0.15  # the environment wins over the file
    assert settings.paper.seed == 11


def test_config_file_from_cst_config_and_from_home(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    named = tmp_path / "named.toml"
    named.write_text("log_level = 'DEBUG'\n")
    monkeypatch.setenv("CST_CONFIG", str(named))
    assert load_settings().log_level == "DEBUG"
    monkeypatch.delenv("CST_CONFIG")
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.toml").write_text("log_level = 'ERROR'\n")
    monkeypatch.setenv("CST_HOME", str(home))
    assert load_settings().log_level == "ERROR"


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (
            "[risk]\nmax_drawdown = 1.5\n",
            "risk.max_drawdown: Input should be less than or equal to 1",
        ),
        ("[risk]\nmax_drawdown = 'ten'\n", "risk.max_drawdown"),
        (
            "[risk]\ndaily_loss_limit = 0.1\nkill_switch_daily_loss = 0.05\n",
            "risk: kill_switch_daily_loss",
        ),
        (
            "[execution]\nclient_order_id_prefix = 'WAY-TOO-LONG'\n",
            "execution.client_order_id_prefix",
        ),
        ("nonsense = 1\n", "nonsense: unknown key"),
        ("[risk\n", "not valid"),
        ("- a\n- b\n", "top level must be a table"),
    ],
)
def test_bad_configuration_is_one_line_naming_the_key(
    content: str, fragment: str, tmp_path: Path
) -> None:
    suffix = ".yaml" if content.startswith("- ") else ".toml"
    path = tmp_path / f"bad{suffix}"
    path.write_text(content)
    with pytest.raises(ConfigError) as error:
        load_settings(path)
    message = str(error.value)
    assert "\n" not in message
    assert fragment in message


def test_missing_or_unsupported_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_settings(tmp_path / "absent.toml")
    other = tmp_path / "config.ini"
    other.write_text("[x]\n")
    with pytest.raises(ConfigError, match=r"\.toml, \.yaml"):
        load_settings(other)


def test_settings_and_limits_are_frozen() -> None:
    settings = load_settings()
    with pytest.raises(ValueError, match="frozen"):
        settings.risk.max_positions = 3
