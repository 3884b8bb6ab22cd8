"""Building the trading engine over an opened system, from the settings."""

from __future__ import annotations

from cryptosmarttrader.config.settings import ConfigError
from cryptosmarttrader.engine.loop import Engine
from cryptosmarttrader.runtime.system import TradingSystem
from cryptosmarttrader.signals.strategy import StrategyError, build_strategy


def open_engine(system: TradingSystem) -> Engine:
    """The engine of ``system``'s settings (``engine.*``); ConfigError on a bad strategy."""
    settings = system.settings
    engine_settings = settings.engine
    try:
        strategy = build_strategy(engine_settings.strategy, engine_settings.strategy_params)
    except StrategyError as exc:
        raise ConfigError(f"engine: {exc}") from None
    unknown = set(engine_settings.symbols) - set(system.gateway.instruments)
    if unknown:
        raise ConfigError(
            f"engine.symbols: {', '.join(sorted(unknown))} not listed on {settings.venue}"
        )
    return Engine(
        gateway=system.gateway,
        candles=system.candles,
        market=system.market_data,
        store=system.store,
        clock=system.clock,
        strategy=strategy,
        settings=engine_settings,
        risk=settings.risk,
        fee=settings.paper.fee_rate,
    )
