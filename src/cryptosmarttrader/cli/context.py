"""What every command needs: settings (loaded once), logging, and the opened system."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from cryptosmarttrader.cli.errors import CliError, UsageError
from cryptosmarttrader.config.settings import ConfigError, Settings, load_settings
from cryptosmarttrader.exchanges.broker import BrokerError
from cryptosmarttrader.observability.logging import configure_logging
from cryptosmarttrader.runtime.market_data import DATA_SOURCES
from cryptosmarttrader.runtime.system import TradingSystem
from cryptosmarttrader.store.database import DatabaseError


@dataclass
class CliContext:
    config_path: Path | None = None
    _settings: Settings | None = field(default=None, init=False)

    def settings(self) -> Settings:
        if self._settings is None:
            try:
                self._settings = load_settings(self.config_path)
            except ConfigError as exc:
                raise UsageError(str(exc)) from None
        return self._settings

    def open_system(self, *, live: bool = False, data_exchange: str | None = None) -> TradingSystem:
        """Open the configured system; the venue is contacted only when something needs it.
        ``data_exchange``: paper fills on that exchange's public data."""
        settings = self.settings()
        configure_logging(settings.log_file, settings.log_level)
        if data_exchange is not None and data_exchange not in DATA_SOURCES:
            raise UsageError(f"--exchange: choose from {', '.join(DATA_SOURCES)}")
        if data_exchange is not None and live:
            raise UsageError(
                "--exchange gives paper fills on real data; --live trades on the configured "
                "venue (CST_VENUE): use one of them"
            )
        try:
            system = TradingSystem.open(settings, live=live, data_exchange=data_exchange)
        except ConfigError as exc:
            raise UsageError(str(exc)) from None
        except (DatabaseError, BrokerError) as exc:
            raise CliError(str(exc)) from None
        return system
