"""Errors of the benchmark harness."""

from __future__ import annotations

from litegen.errors import LitegenError


class BenchmarkError(LitegenError):
    """A benchmark could not run or produced output the harness cannot read."""
