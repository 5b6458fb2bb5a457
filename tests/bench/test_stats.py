"""Summaries of repeated measurements, against numpy's median and percentiles."""

from __future__ import annotations

import numpy as np
import pytest

from litegen.bench import BenchmarkError, summarize
from litegen.bench.stats import quantile


@pytest.mark.parametrize("n", [1, 2, 3, 4, 7, 10])
def test_summary_matches_numpy(n: int) -> None:
    values = np.random.default_rng(n).uniform(1.0, 100.0, n).tolist()
    s = summarize(values)
    assert s.n == n
    assert s.median == pytest.approx(float(np.median(values)))
    assert s.min == min(values) and s.max == max(values)
    assert s.q1 == pytest.approx(float(np.percentile(values, 25)))
    assert s.q3 == pytest.approx(float(np.percentile(values, 75)))
    assert s.iqr == pytest.approx(s.q3 - s.q1)
    assert s.relative_spread == pytest.approx((max(values) - min(values)) / s.median)


def test_summary_ignores_input_order() -> None:
    values = [5.0, 1.0, 4.0, 2.0, 3.0]
    assert summarize(values) == summarize(sorted(values)) == summarize(values[::-1])


def test_summary_json_carries_the_spread() -> None:
    data = summarize([1.0, 2.0, 3.0, 10.0]).to_json()
    assert set(data) == {"median", "min", "max", "q1", "q3", "n", "iqr"}
    assert data["iqr"] == pytest.approx(data["q3"] - data["q1"])


def test_empty_and_bad_quantiles_raise() -> None:
    with pytest.raises(BenchmarkError, match="empty"):
        summarize([])
    with pytest.raises(BenchmarkError, match=r"\[0, 1\]"):
        quantile([1.0, 2.0], 1.5)
