"""A real exchange's public data as the market of the in-process paper venue: paper fills at
real prices (``cst run --exchange NAME``), no keys, no orders sent anywhere.

The venue asks for books and the traded price at past seconds. A live feed has only the
present, so a book is the latest snapshot (whatever second is asked), and the traded price at
every second since a resting order was last checked is taken to be the latest traded price:
such an order fills once the market is beyond its limit now, by at most a share of the
per-second 24-hour volume for each second since the last check.
"""

from __future__ import annotations

import numpy as np

from cryptosmarttrader.data.feed import MarketDataFeed
from cryptosmarttrader.data.request import DataRequest
from cryptosmarttrader.domain.market import MarketSnapshot
from cryptosmarttrader.domain.market_data import Endpoint
from cryptosmarttrader.domain.symbols import Instrument
from cryptosmarttrader.exchanges.paper.market import FloatArray

# The share of the market's traded volume a resting paper order can take, per second.
_CAPACITY_SHARE = 0.02


class LiveDataMarket:
    """The paper venue's market model over one exchange's feed, for pairs in ``quote``."""

    def __init__(self, feed: MarketDataFeed, quote: str) -> None:
        self.feed = feed
        self._quote = quote
        response = feed.run(feed.client.fetch(DataRequest(feed.source, Endpoint.MARKETS)))
        catalog = response.data
        assert isinstance(catalog, dict)
        self._instruments = {
            symbol: instrument
            for symbol, instrument in catalog.items()
            if isinstance(instrument, Instrument) and instrument.quote == quote
        }
        if not self._instruments:
            raise ValueError(f"{feed.source} lists no spot pairs against {quote}")

    @property
    def symbols(self) -> tuple[str, ...]:
        return tuple(sorted(self._instruments))

    @property
    def quote(self) -> str:
        return self._quote

    def instruments(self) -> dict[str, Instrument]:
        return dict(self._instruments)

    def snapshot(self, symbol: str, ts: float) -> MarketSnapshot | None:
        if symbol not in self._instruments:
            return None
        return self.feed.snapshot(symbol)

    def prices(self, symbol: str, timestamps: FloatArray) -> FloatArray:
        snapshot = self.feed.snapshot(symbol)
        last = snapshot.last if snapshot is not None else np.nan
        result: FloatArray = np.full(timestamps.shape, last)
        return result

    def trade_capacity_quote(self, symbol: str) -> float:
        snapshot = self.feed.snapshot(symbol)
        if snapshot is None:
            return 0.0
        return snapshot.volume_24h_quote / 86_400 * _CAPACITY_SHARE
