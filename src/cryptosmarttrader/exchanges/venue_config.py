"""What the ccxt broker needs to reach a venue; importable without importing ccxt."""

from __future__ import annotations

from dataclasses import dataclass

SUPPORTED_EXCHANGES = ("binance", "kraken")


@dataclass(frozen=True)
class CcxtVenueConfig:
    exchange_id: str
    """The ccxt exchange class: ``binance`` (also for the paper exchange) or ``kraken``."""
    venue: str
    """The name orders and fills are recorded under: ``paper-exchange``, ``binance``, …"""
    api_key: str | None = None
    api_secret: str | None = None
    base_url: str | None = None
    """Where the REST API lives instead of the venue's own URL (the paper exchange)."""
    timeout_s: float = 10.0
    create_attempts: int = 3
    lookup_attempts: int = 3
    backoff_initial_s: float = 0.2
    backoff_max_s: float = 5.0
    recv_window_s: float = 5.0
    send_window_s: float = 20.0
    clock_margin_s: float = 5.0
    client_throttle: bool = True

    def __post_init__(self) -> None:
        if self.exchange_id not in SUPPORTED_EXCHANGES:
            raise ValueError(
                f"unsupported exchange {self.exchange_id!r}; supported: {SUPPORTED_EXCHANGES}"
            )
        if not 0 < self.timeout_s <= 300:
            raise ValueError("timeout_s must be in (0, 300]")
        if self.create_attempts < 1 or self.lookup_attempts < 1:
            raise ValueError("attempts must be at least 1")

    def __repr__(self) -> str:  # never show the key or secret
        return f"CcxtVenueConfig({self.exchange_id!r}, venue={self.venue!r}, url={self.base_url!r})"
