"""Data-quality findings and the score they add up to.

A finding names what is wrong (a :class:`QualityFlag`) and says it in words. Every flag
maps to one reason code, so the RiskGuard's data gate rejects with the code of the worst
finding; the score summarises a whole report for metrics and the dashboard.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from cryptosmarttrader.domain.reason_codes import ReasonCode


class QualityFlag(StrEnum):
    """What can be wrong with market data, worst first (the gate reports the first)."""

    WRONG_SYMBOL = "wrong_symbol"
    NON_FINITE = "non_finite"
    NON_POSITIVE = "non_positive"
    CROSSED_BOOK = "crossed_book"
    INCONSISTENT_CANDLE = "inconsistent_candle"
    FUTURE_TIMESTAMP = "future_timestamp"
    STALE = "stale"
    INCOMPLETE = "incomplete"
    DUPLICATE_TIMESTAMP = "duplicate_timestamp"
    OUT_OF_ORDER = "out_of_order"
    CANDLE_GAP = "candle_gap"
    OUTLIER = "outlier"


FLAG_REASON: dict[QualityFlag, ReasonCode] = {
    QualityFlag.WRONG_SYMBOL: ReasonCode.DATA_INVALID,
    QualityFlag.NON_FINITE: ReasonCode.DATA_INVALID,
    QualityFlag.NON_POSITIVE: ReasonCode.DATA_INVALID,
    QualityFlag.CROSSED_BOOK: ReasonCode.DATA_INVALID,
    QualityFlag.INCONSISTENT_CANDLE: ReasonCode.DATA_INVALID,
    QualityFlag.FUTURE_TIMESTAMP: ReasonCode.DATA_INVALID,
    QualityFlag.STALE: ReasonCode.DATA_STALE,
    QualityFlag.INCOMPLETE: ReasonCode.DATA_INCOMPLETE,
    QualityFlag.DUPLICATE_TIMESTAMP: ReasonCode.DATA_INTEGRITY,
    QualityFlag.OUT_OF_ORDER: ReasonCode.DATA_INTEGRITY,
    QualityFlag.CANDLE_GAP: ReasonCode.DATA_INTEGRITY,
    QualityFlag.OUTLIER: ReasonCode.DATA_OUTLIER,
}

# How much of the score a finding takes away (the rest of the score is the completeness).
# Data that is invalid or stale is worth nothing; broken history or a jump halves it or more.
PENALTY: dict[QualityFlag, float] = {
    QualityFlag.WRONG_SYMBOL: 1.0,
    QualityFlag.NON_FINITE: 1.0,
    QualityFlag.NON_POSITIVE: 1.0,
    QualityFlag.CROSSED_BOOK: 1.0,
    QualityFlag.INCONSISTENT_CANDLE: 1.0,
    QualityFlag.FUTURE_TIMESTAMP: 1.0,
    QualityFlag.STALE: 1.0,
    QualityFlag.INCOMPLETE: 0.0,
    QualityFlag.DUPLICATE_TIMESTAMP: 0.5,
    QualityFlag.OUT_OF_ORDER: 0.5,
    QualityFlag.CANDLE_GAP: 0.5,
    QualityFlag.OUTLIER: 0.7,
}

_RANK = {flag: rank for rank, flag in enumerate(QualityFlag)}


@dataclass(frozen=True, slots=True)
class Finding:
    flag: QualityFlag
    detail: str

    @property
    def reason(self) -> ReasonCode:
        return FLAG_REASON[self.flag]


@dataclass(frozen=True, slots=True)
class QualityReport:
    """``score`` in [0, 1]: 1 is complete, clean data; ``findings`` worst first."""

    score: float
    findings: tuple[Finding, ...]

    @property
    def ok(self) -> bool:
        return not self.findings

    @property
    def flags(self) -> frozenset[QualityFlag]:
        return frozenset(f.flag for f in self.findings)

    @property
    def worst(self) -> Finding | None:
        return self.findings[0] if self.findings else None


def quality_report(findings: Iterable[Finding], completeness: float = 1.0) -> QualityReport:
    """Sort the findings worst first and score them: completeness times what the findings
    leave over. A completeness outside [0, 1] (or NaN) scores 0."""
    ordered = tuple(sorted(findings, key=lambda f: _RANK[f.flag]))
    score = completeness if 0.0 <= completeness <= 1.0 else 0.0
    for flag in {f.flag for f in ordered}:
        score *= 1.0 - PENALTY[flag]
    return QualityReport(score=max(0.0, min(1.0, score)), findings=ordered)
