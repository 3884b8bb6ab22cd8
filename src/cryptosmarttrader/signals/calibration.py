"""From a signal's raw strength to a confidence: the chance, learned from past signals, that
its forward return beats its costs.

Isotonic regression (pool adjacent violators) of past outcomes on strength, so that a
stronger signal never gets a lower confidence, with each pooled block's hit rate shrunk
towards the overall past hit rate p (itself Laplace-smoothed, (all hits + 1) / (all
signals + 2)): (hits + 2p) / (signals + 2). A handful of past signals can thus never claim
certainty, or its opposite. Without any past signal there is no calibration: confidence 0,
and such signals are suppressed by any positive ``min_confidence``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cryptosmarttrader.signals.indicators import FloatArray

_PRIOR_WEIGHT = 2.0


@dataclass(frozen=True)
class Calibration:
    lower: FloatArray
    """Lowest strength of each block, increasing."""
    confidence: FloatArray
    """Smoothed hit rate of each block, non-decreasing."""
    samples: int

    @classmethod
    def fit(cls, strength: FloatArray, hit: np.ndarray) -> Calibration:
        if strength.size != hit.size:
            raise ValueError("strength and outcomes differ in length")
        if strength.size == 0:
            return cls(np.zeros(0), np.zeros(0), 0)
        order = np.argsort(strength, kind="stable")
        xs = strength[order]
        ys = hit[order].astype(np.float64)
        # Blocks as [lower strength, hits, count]; merge while a block's rate falls below
        # the one before it.
        lowers: list[float] = []
        hits: list[float] = []
        counts: list[float] = []
        for x, y in zip(xs.tolist(), ys.tolist(), strict=True):
            if lowers and x == lowers[-1]:
                hits[-1] += y
                counts[-1] += 1
            else:
                lowers.append(x)
                hits.append(y)
                counts.append(1.0)
            while len(hits) > 1 and hits[-1] / counts[-1] < hits[-2] / counts[-2]:
                merged_hits, merged_count = hits.pop(), counts.pop()
                lowers.pop()
                hits[-1] += merged_hits
                counts[-1] += merged_count
        h = np.array(hits)
        n = np.array(counts)
        prior = (float(ys.sum()) + 1.0) / (ys.size + 2.0)  # Laplace: never exactly 0 or 1
        smoothed = np.maximum.accumulate((h + _PRIOR_WEIGHT * prior) / (n + _PRIOR_WEIGHT))
        return cls(np.array(lowers), smoothed, int(strength.size))

    @property
    def fitted(self) -> bool:
        return self.samples > 0

    def __call__(self, strength: FloatArray) -> FloatArray:
        """Confidence for each strength; 0 everywhere when nothing was learned."""
        if not self.fitted:
            return np.zeros(strength.shape)
        block = np.searchsorted(self.lower, strength, side="right") - 1
        result: FloatArray = self.confidence[np.clip(block, 0, None)]
        return result
