"""The public market-data API of a venue, as the market-data client sees it.

An implementation answers one request with a parsed payload (see
:mod:`cryptosmarttrader.domain.market_data`) or raises :class:`PublicApiError`, which says
whether trying again can help; it does no retrying, caching or rate limiting of its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Protocol

from cryptosmarttrader.domain.market_data import Endpoint, Payload

ParamValue = str | int | float


class FailureKind(StrEnum):
    TIMEOUT = "timeout"
    UNAVAILABLE = "unavailable"  # connection failures and 5xx
    RATE_LIMITED = "rate_limited"  # 429 / 418
    MALFORMED = "malformed"  # an answer that is not what the endpoint returns
    REJECTED = "rejected"  # 4xx: the request itself is wrong; asking again cannot help


RETRYABLE = frozenset(
    {FailureKind.TIMEOUT, FailureKind.UNAVAILABLE, FailureKind.RATE_LIMITED, FailureKind.MALFORMED}
)


class PublicApiError(Exception):
    def __init__(
        self, kind: FailureKind, message: str, *, retry_after_s: float | None = None
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.retry_after_s = retry_after_s

    @property
    def retryable(self) -> bool:
        return self.kind in RETRYABLE


class PublicMarketApi(Protocol):
    name: str

    def weight(self, endpoint: Endpoint, params: Mapping[str, ParamValue]) -> float:
        """What one request costs against the venue's rate limit, in its own units."""

    async def fetch(
        self, endpoint: Endpoint, symbol: str | None, params: Mapping[str, ParamValue]
    ) -> Payload:
        """One request, parsed; raises PublicApiError."""

    async def close(self) -> None:
        """Release the HTTP session."""
