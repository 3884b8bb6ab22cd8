"""A market-data request and its response; defaults per endpoint."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import IntEnum
from types import MappingProxyType

from cryptosmarttrader.domain.candles import TIMEFRAME_SECONDS
from cryptosmarttrader.domain.market_data import Endpoint, Payload
from cryptosmarttrader.domain.symbols import is_valid_symbol
from cryptosmarttrader.exchanges.public_api import ParamValue

MIN_TIMEOUT_S = 1.0
MAX_TIMEOUT_S = 300.0
MAX_ATTEMPTS = 10
MAX_CACHE_TTL_S = 86_400.0


class Priority(IntEnum):
    """Lower is served first when the rate limit is short."""

    CRITICAL = 0
    HIGH = 1
    NORMAL = 2
    LOW = 3


@dataclass(frozen=True)
class EndpointDefaults:
    priority: Priority
    timeout_s: float
    attempts: int
    cache_ttl_s: float
    params: frozenset[str]
    """The params the endpoint accepts."""


ENDPOINT_DEFAULTS: Mapping[Endpoint, EndpointDefaults] = MappingProxyType(
    {
        Endpoint.TICKER: EndpointDefaults(Priority.HIGH, 10.0, 3, 2.0, frozenset()),
        Endpoint.ORDER_BOOK: EndpointDefaults(Priority.HIGH, 10.0, 3, 1.0, frozenset({"limit"})),
        Endpoint.OHLCV: EndpointDefaults(
            Priority.NORMAL, 10.0, 3, 30.0, frozenset({"timeframe", "since", "limit"})
        ),
        Endpoint.TRADES: EndpointDefaults(
            Priority.NORMAL, 10.0, 3, 5.0, frozenset({"since", "limit"})
        ),
        Endpoint.MARKETS: EndpointDefaults(Priority.LOW, 30.0, 3, 3600.0, frozenset()),
    }
)


class DataRequestError(ValueError):
    """A request that cannot be valid whatever the exchange says."""


@dataclass(frozen=True)
class DataRequest:
    """What to fetch, from where, how urgently, for how long to try and how long to cache.

    ``None`` means the endpoint's default (:data:`ENDPOINT_DEFAULTS`). ``cache_ttl_s=0``
    always asks the exchange.
    """

    source: str
    endpoint: Endpoint
    symbol: str | None = None
    params: Mapping[str, ParamValue] = field(default_factory=dict)
    priority: Priority | None = None
    timeout_s: float | None = None
    attempts: int | None = None
    cache_ttl_s: float | None = None

    def __post_init__(self) -> None:
        defaults = ENDPOINT_DEFAULTS[Endpoint(self.endpoint)]
        set_ = object.__setattr__
        set_(self, "endpoint", Endpoint(self.endpoint))
        set_(self, "params", MappingProxyType(dict(self.params)))
        set_(
            self,
            "priority",
            Priority(defaults.priority if self.priority is None else self.priority),
        )
        if self.timeout_s is None:
            set_(self, "timeout_s", defaults.timeout_s)
        if self.attempts is None:
            set_(self, "attempts", defaults.attempts)
        if self.cache_ttl_s is None:
            set_(self, "cache_ttl_s", defaults.cache_ttl_s)
        self._validate(defaults)

    def _validate(self, defaults: EndpointDefaults) -> None:
        if not self.source:
            raise DataRequestError("a request needs a source (exchange)")
        if self.endpoint is Endpoint.MARKETS:
            if self.symbol is not None:
                raise DataRequestError("markets takes no symbol")
        elif self.symbol is None or not is_valid_symbol(self.symbol):
            raise DataRequestError(
                f"{self.endpoint} needs a symbol like BTC/USDT, got {self.symbol!r}"
            )
        unknown = set(self.params) - defaults.params
        if unknown:
            raise DataRequestError(
                f"{self.endpoint} does not take {', '.join(sorted(unknown))}"
                f" (takes: {', '.join(sorted(defaults.params)) or 'nothing'})"
            )
        timeframe = self.params.get("timeframe", "1m")
        if timeframe not in TIMEFRAME_SECONDS:
            raise DataRequestError(f"unknown timeframe {timeframe!r}")
        for name, low in (("limit", 1), ("since", 0)):
            value = self.params.get(name)
            if value is not None and (type(value) is not int or value < low):
                raise DataRequestError(f"{name} must be an integer >= {low}, got {value!r}")
        _check_range("timeout_s", self.timeout_s, MIN_TIMEOUT_S, MAX_TIMEOUT_S)
        _check_range("attempts", self.attempts, 1, MAX_ATTEMPTS)
        _check_range("cache_ttl_s", self.cache_ttl_s, 0, MAX_CACHE_TTL_S)

    @property
    def cache_key(self) -> str:
        params = json.dumps(dict(self.params), sort_keys=True, separators=(",", ":"))
        return f"cst:md:v1:{self.source}:{self.endpoint}:{self.symbol or '-'}:{params}"


def _check_range(name: str, value: float | None, low: float, high: float) -> None:
    if value is None or not low <= value <= high:  # NaN fails the comparison
        raise DataRequestError(f"{name} must be in [{low:g}, {high:g}], got {value!r}")


@dataclass(frozen=True)
class DataResponse:
    """``exchange_ts`` is the exchange's own time of the data (None when it gives none);
    ``fetched_at`` when it was fetched from the exchange, which a cache hit keeps."""

    request: DataRequest
    data: Payload
    exchange_ts: float | None
    fetched_at: float
    from_cache: bool
    attempts: int
