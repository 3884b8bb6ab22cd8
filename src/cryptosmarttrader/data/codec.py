"""Market-data payloads to and from JSON, for the cache shared between processes."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import numpy as np

from cryptosmarttrader.domain.candles import CandleSeries
from cryptosmarttrader.domain.market_data import Endpoint, OrderBook, Payload, PublicTrade, Ticker
from cryptosmarttrader.domain.symbols import Instrument

_CANDLE_COLUMNS = ("open_ts", "open", "high", "low", "close", "volume")


def encode_payload(endpoint: Endpoint, payload: Payload) -> Any:
    if endpoint is Endpoint.OHLCV:
        assert isinstance(payload, CandleSeries)
        columns = {name: getattr(payload, name).tolist() for name in _CANDLE_COLUMNS}
        return {"symbol": payload.symbol, "interval_s": payload.interval_s, **columns}
    if endpoint is Endpoint.TRADES:
        assert isinstance(payload, tuple)
        return [dataclasses.astuple(trade) for trade in payload]
    if endpoint is Endpoint.MARKETS:
        assert isinstance(payload, dict)
        return {symbol: dataclasses.asdict(i) for symbol, i in payload.items()}
    assert isinstance(payload, Ticker | OrderBook)
    return dataclasses.asdict(payload)


def decode_payload(endpoint: Endpoint, raw: Any) -> Payload:
    if endpoint is Endpoint.TICKER:
        return Ticker(**raw)
    if endpoint is Endpoint.ORDER_BOOK:
        return OrderBook(
            symbol=raw["symbol"],
            bids=tuple((float(p), float(q)) for p, q in raw["bids"]),
            asks=tuple((float(p), float(q)) for p, q in raw["asks"]),
            ts=raw["ts"],
        )
    if endpoint is Endpoint.OHLCV:
        columns = {name: np.asarray(raw[name], dtype=np.float64) for name in _CANDLE_COLUMNS}
        return CandleSeries(symbol=raw["symbol"], interval_s=int(raw["interval_s"]), **columns)
    if endpoint is Endpoint.TRADES:
        return tuple(PublicTrade(*row) for row in raw)
    return {symbol: Instrument(**fields) for symbol, fields in raw.items()}


def dumps(document: dict[str, Any]) -> str:
    # NaN stands for "the venue left it out" and must survive the round trip.
    return json.dumps(document, separators=(",", ":"), allow_nan=True)


def loads(text: str | bytes) -> dict[str, Any]:
    document = json.loads(text)
    if not isinstance(document, dict):
        raise ValueError("a cache entry is not an object")
    return document
