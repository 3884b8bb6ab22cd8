"""Settings: defaults, then a TOML/YAML config file, then ``CST_*`` environment variables.

Nested keys use ``__`` in the environment: ``CST_RISK__MAX_DRAWDOWN=0.08`` sets
``risk.max_drawdown``. The config file is ``$CST_CONFIG`` (or the path given to
:func:`load_settings`), else ``$CST_HOME/config.toml`` when it exists.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, ClassVar, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from cryptosmarttrader.config.limits import ExecutionLimits, RiskLimits
from cryptosmarttrader.domain.candles import TIMEFRAME_SECONDS
from cryptosmarttrader.domain.symbols import split_symbol


class ConfigError(Exception):
    """A configuration problem, phrased as one line that names the key."""


def default_home() -> Path:
    data_home = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data_home) / "cryptosmarttrader"


class PaperSettings(BaseModel):
    """The built-in simulated venue used when no real exchange is configured."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    seed: int = Field(7, ge=0, le=2**32 - 1, description="seed of the simulated market")
    quote_balance: float = Field(
        10_000.0, gt=0, le=1e12, description="USDT the paper account starts with"
    )
    fee_rate: float = Field(0.001, ge=0, le=0.05, description="fraction of notional per fill")


class EngineSettings(BaseModel):
    """What ``cst run`` trades and how: symbols, strategy, sizing, exits."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    symbols: tuple[str, ...] = Field(
        ("BTC/USDT", "ETH/USDT", "SOL/USDT"), min_length=1, max_length=50, description="traded"
    )
    timeframe: str = Field("1m", description="candle interval the strategy reads")
    strategy: str = Field("ema_cross", description="ema_cross, rsi_reversion, donchian_breakout")
    strategy_params: dict[str, str] = Field(
        default_factory=dict, description="the strategy's parameters, as text (fast = '12')"
    )
    poll_s: float = Field(5.0, ge=0.1, le=3_600, description="seconds between loops")
    history_candles: int = Field(
        300, ge=50, le=1_000, description="closed candles read per symbol and loop"
    )
    horizon: int = Field(12, ge=1, le=500, description="bars an entry is judged over (calibration)")
    min_confidence: float = Field(
        0.4, ge=0, le=1, description="calibrated confidence below which a signal is suppressed"
    )
    position_fraction: float = Field(
        0.1, gt=0, le=1, description="equity an entry spends at confidence 1"
    )
    stop_loss: float = Field(0.03, gt=0, lt=1, description="fall from the entry price that sells")
    take_profit: float = Field(
        0.06, gt=0, le=10, description="rise from the entry price that sells"
    )
    max_failed_loops: int = Field(
        12, ge=1, le=10_000, description="loops failing in a row after which cst run stops"
    )

    @field_validator("symbols")
    @classmethod
    def _valid_symbols(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for symbol in value:
            split_symbol(symbol)  # ValueError names the bad one
        if len(set(value)) != len(value):
            raise ValueError("a symbol is listed twice")
        return value

    @field_validator("timeframe")
    @classmethod
    def _known_timeframe(cls, value: str) -> str:
        if value not in TIMEFRAME_SECONDS:
            raise ValueError(
                f"unknown timeframe {value!r}; choose from {', '.join(TIMEFRAME_SECONDS)}"
            )
        return value


VenueName = Literal["paper", "paper-exchange", "binance", "kraken"]
LIVE_VENUES = frozenset({"binance", "kraken"})


class VenueSettings(BaseModel):
    """How the ccxt broker talks to ``paper-exchange``, ``binance`` or ``kraken``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    paper_exchange_url: str = Field(
        "http://127.0.0.1:8765",
        pattern=r"^https?://[^\s/]+(:\d+)?/?$",
        description="where `cst paper-exchange` listens",
    )
    timeout_s: float = Field(10.0, gt=0, le=300, description="timeout of one HTTP request")
    create_attempts: int = Field(
        3, ge=1, le=10, description="creates per order (only after a confirmed absence)"
    )
    recv_window_s: float = Field(
        5.0, ge=1, le=60, description="how long after signing the venue may accept a request"
    )
    send_window_s: float = Field(
        20.0, gt=0, le=120, description="no create attempt starts later than this after the first"
    )
    clock_margin_s: float = Field(
        5.0, ge=0, le=60, description="allowance for clock skew in reconciliation"
    )
    client_throttle: bool = Field(
        True, description="ccxt spaces requests by the venue's documented weights"
    )


class DataSettings(BaseModel):
    """The market-data client: rate limits per venue, retries, circuit breakers, cache and
    the quality checks on the candles behind each snapshot."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    binance_rate_per_s: float = Field(
        80.0, gt=0, le=10_000, description="request weight per second granted for Binance"
    )
    binance_burst: float = Field(
        1000.0, ge=50, le=100_000, description="request weight Binance may take at once"
    )
    paper_exchange_rate_per_s: float = Field(
        80.0, gt=0, le=10_000, description="request weight per second for the paper exchange"
    )
    paper_exchange_burst: float = Field(
        1000.0, ge=50, le=100_000, description="request weight the paper exchange may take at once"
    )
    kraken_rate_per_s: float = Field(
        1.0, gt=0, le=100, description="public requests per second granted for Kraken"
    )
    kraken_burst: float = Field(2.0, ge=1, le=100, description="Kraken requests at once")
    backoff_initial_s: float = Field(0.5, gt=0, le=60, description="first retry waits this")
    backoff_max_s: float = Field(10.0, gt=0, le=300, description="no retry waits longer")
    backoff_jitter_s: float = Field(0.5, ge=0, le=60, description="random extra wait, at most")
    breaker_failures: int = Field(5, ge=1, le=1000, description="consecutive failures that open")
    breaker_failure_rate: float = Field(
        0.5, gt=0, le=1, description="failed share of the window that opens"
    )
    breaker_window: int = Field(20, ge=1, le=1000, description="calls the failure rate is over")
    breaker_min_calls: int = Field(10, ge=1, le=1000, description="calls before the rate counts")
    breaker_open_s: float = Field(30.0, gt=0, le=3600, description="seconds open before a probe")
    cache_max_entries: int = Field(10_000, ge=1, le=10_000_000, description="in-process cache")
    redis_retry_s: float = Field(5.0, gt=0, le=3600, description="retry an unreachable Redis")
    snapshot_cache_ttl_s: float = Field(
        1.0, ge=0, le=60, description="how long a fetched ticker or book serves snapshots"
    )
    book_depth: int = Field(20, ge=5, le=1000, description="book levels fetched per snapshot")
    quality_candles: int = Field(60, ge=12, le=1000, description="1m candles checked per snapshot")
    outlier_sigma: float = Field(
        10.0, gt=0, le=1000, description="a jump beyond this is an outlier"
    )

    def rate_limit(self, venue: str) -> tuple[float, float]:
        """(rate per second, burst) for ``paper-exchange``, ``binance`` or ``kraken``."""
        prefix = venue.replace("-", "_")
        return getattr(self, f"{prefix}_rate_per_s"), getattr(self, f"{prefix}_burst")


class ApiSettings(BaseModel):
    """The HTTP API (``cst api``, and beside ``cst run`` / ``cst demo``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = Field("127.0.0.1", min_length=1, description="address the API binds to")
    port: int = Field(8000, ge=0, le=65535, description="TCP port (0: any free port)")


class DashboardSettings(BaseModel):
    """``cst dashboard``: where it listens and what it reads besides the database."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = Field("127.0.0.1", min_length=1, description="address the dashboard binds to")
    port: int = Field(8501, ge=1, le=65535, description="TCP port of the dashboard")
    api_url: str = Field(
        "http://127.0.0.1:8000", pattern=r"^https?://\S+$", description="a running engine's API"
    )
    prometheus_url: str | None = Field(
        None, pattern=r"^https?://\S+$", description="Prometheus for the active alerts"
    )
    reports_dir: Path = Field(Path("reports"), description="where make test writes its reports")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="CST_",
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )

    # Whether the environment is read at all (see explicit_settings).
    _read_environment: ClassVar[bool] = True

    home: Path = Field(default_factory=default_home)
    database_url: str | None = None
    sqlite_synchronous: Literal["NORMAL", "FULL"] = "NORMAL"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    venue: VenueName = "paper"
    quote: str = Field("USDT", pattern=r"^[A-Z0-9]{2,12}$", description="currency of the account")
    exchange: VenueSettings = VenueSettings()
    api_key: SecretStr | None = None
    api_secret: SecretStr | None = None
    api_token: SecretStr | None = Field(
        None, min_length=16, description="bearer token of the API's control endpoints"
    )
    api: ApiSettings = ApiSettings()
    dashboard: DashboardSettings = DashboardSettings()
    redis_url: str | None = Field(
        None, pattern=r"^rediss?://\S+$", description="shared market-data cache"
    )
    data: DataSettings = DataSettings()
    risk: RiskLimits = RiskLimits()
    execution: ExecutionLimits = ExecutionLimits()
    paper: PaperSettings = PaperSettings()
    engine: EngineSettings = EngineSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The config file arrives as init values; the environment must win over it.
        if not cls._read_environment:
            return (init_settings,)
        return env_settings, init_settings

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.home / 'cst.sqlite'}"

    @property
    def log_file(self) -> Path:
        return self.home / "logs" / "cst.jsonl"

    @property
    def validation_file(self) -> Path:
        """The latest ``cst signals validate`` report (JSON), which the dashboard shows."""
        return self.home / "validation" / "latest.json"


class _ExplicitSettings(Settings):
    _read_environment: ClassVar[bool] = False


def explicit_settings(**values: Any) -> Settings:
    """Settings from ``values`` and the defaults only: no ``CST_*`` variables, no config file.

    For runs that must not depend on the user's environment (the demo, tests, benchmarks).
    """
    return _ExplicitSettings(**values)


def _read_config_file(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"config file {path}: cannot read: {exc.strerror}") from exc
    try:
        if path.suffix.lower() in {".yaml", ".yml"}:
            data = yaml.safe_load(text)
        elif path.suffix.lower() == ".toml":
            data = tomllib.loads(text)
        else:
            raise ConfigError(f"config file {path}: use a .toml, .yaml or .yml file")
    except (tomllib.TOMLDecodeError, yaml.YAMLError) as exc:
        first_line = str(exc).splitlines()[0]
        raise ConfigError(f"config file {path}: not valid: {first_line}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path}: the top level must be a table of keys")
    return data


def _describe(error: Any) -> str:
    key = ".".join(str(part) for part in error["loc"]) or "(settings)"
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        return f"{key}: unknown key"
    if "input" in error and not isinstance(error["input"], dict):
        return f"{key}: {message} (got {error['input']!r})"
    return f"{key}: {message}"


def load_settings(config_file: Path | None = None) -> Settings:
    """Build the settings or raise :class:`ConfigError` naming every bad key on one line."""
    if config_file is None and os.environ.get("CST_CONFIG"):
        config_file = Path(os.environ["CST_CONFIG"])
    file_values: dict[str, Any] = {}
    if config_file is not None:
        file_values = _read_config_file(config_file)
    else:
        home = Path(os.environ["CST_HOME"]) if os.environ.get("CST_HOME") else default_home()
        candidate = home / "config.toml"
        if candidate.is_file():
            file_values = _read_config_file(candidate)
    try:
        return Settings(**file_values)
    except ValidationError as exc:
        details = "; ".join(_describe(error) for error in exc.errors())
        raise ConfigError(f"invalid configuration: {details}") from None
