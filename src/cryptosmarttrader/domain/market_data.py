"""What a market-data request can ask a venue for, and the shapes the answers come in.

Prices and amounts are kept as the venue sent them, NaN for a field it left out: judging
them is the data-quality assessment's job, not the parser's. Timestamps are epoch seconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from cryptosmarttrader.domain.candles import CandleSeries
from cryptosmarttrader.domain.market import BookLevel
from cryptosmarttrader.domain.symbols import Instrument


class Endpoint(StrEnum):
    TICKER = "ticker"
    ORDER_BOOK = "order_book"
    OHLCV = "ohlcv"
    TRADES = "trades"
    MARKETS = "markets"


@dataclass(frozen=True, slots=True)
class Ticker:
    symbol: str
    bid: float
    ask: float
    last: float
    quote_volume: float
    ts: float | None


@dataclass(frozen=True, slots=True)
class OrderBook:
    symbol: str
    bids: tuple[BookLevel, ...]
    asks: tuple[BookLevel, ...]
    ts: float | None
    """Binance's depth endpoint carries no time: None, and the caller dates it otherwise."""


@dataclass(frozen=True, slots=True)
class PublicTrade:
    id: str
    ts: float
    price: float
    amount: float
    side: str


Payload = Ticker | OrderBook | CandleSeries | tuple[PublicTrade, ...] | dict[str, Instrument]
