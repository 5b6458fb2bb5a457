"""Summaries of repeated measurements: median and spread (min/max, interquartile range)."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from litegen.bench.errors import BenchmarkError


@dataclass(frozen=True)
class Summary:
    """Median, extremes and quartiles of one quantity's repetitions."""

    median: float
    min: float
    max: float
    q1: float  # 25th percentile (linear interpolation between order statistics)
    q3: float  # 75th percentile
    n: int

    @property
    def iqr(self) -> float:
        return self.q3 - self.q1

    @property
    def relative_spread(self) -> float:
        """(max - min) / median: how noisy the repetitions were (0 for one value)."""
        return (self.max - self.min) / self.median if self.median else 0.0

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "iqr": self.iqr}


def quantile(sorted_values: Sequence[float], q: float) -> float:
    """The q-quantile of already sorted values, interpolating linearly (numpy's default)."""
    if not sorted_values:
        raise BenchmarkError("quantile of no values")
    if not 0.0 <= q <= 1.0:
        raise BenchmarkError(f"quantile q must be in [0, 1], got {q}")
    pos = q * (len(sorted_values) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    frac = pos - lo
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * frac


def summarize(values: Sequence[float]) -> Summary:
    """Summary of one or more measurements; BenchmarkError for none."""
    if not values:
        raise BenchmarkError("cannot summarize an empty list of measurements")
    ordered = sorted(float(v) for v in values)
    return Summary(
        median=statistics.median(ordered),
        min=ordered[0],
        max=ordered[-1],
        q1=quantile(ordered, 0.25),
        q3=quantile(ordered, 0.75),
        n=len(ordered),
    )
