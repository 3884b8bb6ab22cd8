"""What every command needs: settings (loaded once), logging, and the opened system."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from cryptosmarttrader.cli.errors import CliError, UsageError
from cryptosmarttrader.config.settings import ConfigError, Settings, load_settings
from cryptosmarttrader.exchanges.broker import BrokerError
from cryptosmarttrader.observability.logging import configure_logging
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

    def open_system(self, *, live: bool = False) -> TradingSystem:
        """Open the configured system; the venue is contacted only when something needs it."""
        settings = self.settings()
        configure_logging(settings.log_file, settings.log_level)
        try:
            system = TradingSystem.open(settings, live=live)
        except ConfigError as exc:
            raise UsageError(str(exc)) from None
        except (DatabaseError, BrokerError) as exc:
            raise CliError(str(exc)) from None
        return system
