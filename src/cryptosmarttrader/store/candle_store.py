"""Candle history in the database: idempotent inserts, coverage and gaps."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql import Insert

from cryptosmarttrader.domain.candles import TIMEFRAME_SECONDS, CandleSeries, candles_from_rows
from cryptosmarttrader.store.database import Database
from cryptosmarttrader.store.schema import candles

_BATCH = 1000


@dataclass(frozen=True)
class Gap:
    """Candles missing between two stored ones: ``missing`` of them from ``start_ms``."""

    start_ms: int
    end_ms: int
    missing: int


@dataclass(frozen=True)
class Coverage:
    source: str
    symbol: str
    timeframe: str
    first_ms: int
    last_ms: int
    count: int
    gaps: tuple[Gap, ...]

    @property
    def missing(self) -> int:
        return sum(g.missing for g in self.gaps)


class CandleStore:
    def __init__(self, database: Database) -> None:
        self._db = database

    def _insert(self) -> Insert:
        if self._db.engine.dialect.name == "postgresql":
            return postgresql.insert(candles).on_conflict_do_nothing()
        return sqlite.insert(candles).on_conflict_do_nothing()

    def insert(self, source: str, timeframe: str, series: CandleSeries) -> int:
        """Store the candles not stored yet; returns how many were new. Each batch commits on
        its own, so an interrupted load keeps what it wrote."""
        if timeframe not in TIMEFRAME_SECONDS:
            raise ValueError(f"unknown timeframe {timeframe!r}")
        new = 0
        for rows in _batches(source, timeframe, series):
            opens = [row["open_ms"] for row in rows]
            with self._db.engine.begin() as conn:
                # Counted, not taken from rowcount, which drivers report differently for
                # batched inserts that skip conflicts.
                stored = conn.execute(
                    select(func.count()).where(
                        candles.c.source == source,
                        candles.c.symbol == series.symbol,
                        candles.c.timeframe == timeframe,
                        candles.c.open_ms.in_(opens),
                    )
                ).scalar_one()
                conn.execute(self._insert(), rows)
            new += len(rows) - int(stored)
        return new

    def last_open_ms(self, source: str, symbol: str, timeframe: str) -> int | None:
        with self._db.engine.connect() as conn:
            value = conn.execute(
                select(func.max(candles.c.open_ms)).where(
                    candles.c.source == source,
                    candles.c.symbol == symbol,
                    candles.c.timeframe == timeframe,
                )
            ).scalar()
        return int(value) if value is not None else None

    def load(
        self,
        source: str,
        symbol: str,
        timeframe: str,
        start_ms: int | None = None,
        end_ms: int | None = None,
    ) -> CandleSeries:
        query = select(
            candles.c.open_ms,
            candles.c.open,
            candles.c.high,
            candles.c.low,
            candles.c.close,
            candles.c.volume,
        ).where(
            candles.c.source == source,
            candles.c.symbol == symbol,
            candles.c.timeframe == timeframe,
        )
        if start_ms is not None:
            query = query.where(candles.c.open_ms >= start_ms)
        if end_ms is not None:
            query = query.where(candles.c.open_ms <= end_ms)
        with self._db.engine.connect() as conn:
            rows = conn.execute(query.order_by(candles.c.open_ms)).all()
        return candles_from_rows(symbol, TIMEFRAME_SECONDS[timeframe], rows)

    def coverage(self) -> list[Coverage]:
        """Every stored series with its first and last candle, count and gaps."""
        with self._db.engine.connect() as conn:
            series = conn.execute(
                select(candles.c.source, candles.c.symbol, candles.c.timeframe)
                .group_by(candles.c.source, candles.c.symbol, candles.c.timeframe)
                .order_by(candles.c.source, candles.c.symbol, candles.c.timeframe)
            ).all()
            result = []
            for source, symbol, timeframe in series:
                opens = np.fromiter(
                    conn.execute(
                        select(candles.c.open_ms)
                        .where(
                            candles.c.source == source,
                            candles.c.symbol == symbol,
                            candles.c.timeframe == timeframe,
                        )
                        .order_by(candles.c.open_ms)
                    ).scalars(),
                    dtype=np.int64,
                )
                result.append(
                    Coverage(
                        source=source,
                        symbol=symbol,
                        timeframe=timeframe,
                        first_ms=int(opens[0]),
                        last_ms=int(opens[-1]),
                        count=int(opens.size),
                        gaps=find_gaps(opens, TIMEFRAME_SECONDS[timeframe] * 1000),
                    )
                )
        return result


def find_gaps(open_ms: np.ndarray, step_ms: int) -> tuple[Gap, ...]:
    steps = np.diff(open_ms)
    where = np.nonzero(steps > step_ms)[0]
    return tuple(
        Gap(
            start_ms=int(open_ms[i]) + step_ms,
            end_ms=int(open_ms[i + 1]) - step_ms,
            missing=int(steps[i] // step_ms) - 1,
        )
        for i in where
    )


def _batches(
    source: str, timeframe: str, series: CandleSeries
) -> Iterator[list[dict[str, object]]]:
    unique: dict[int, dict[str, object]] = {}
    for row in (
        {
            "source": source,
            "symbol": series.symbol,
            "timeframe": timeframe,
            "open_ms": round(float(ts) * 1000),
            "open": float(o),
            "high": float(h),
            "low": float(lo),
            "close": float(c),
            "volume": float(v),
        }
        for ts, o, h, lo, c, v in zip(
            series.open_ts,
            series.open,
            series.high,
            series.low,
            series.close,
            series.volume,
            strict=True,
        )
    ):
        unique.setdefault(int(row["open_ms"]), row)  # type: ignore[call-overload]
    rows = list(unique.values())
    for start in range(0, len(rows), _BATCH):
        yield rows[start : start + _BATCH]
