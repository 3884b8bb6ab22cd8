"""CryptoSmartTrader: crypto trading through one RiskGuard, one ExecutionPolicy, one gateway."""

__version__ = "0.1.0"
