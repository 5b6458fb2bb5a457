"""A summary of what quantization did to a model: sizes per scheme and the worst errors.

The report keeps only names, sizes and :class:`QuantStats` - never the arrays - so the
exporter can add each weight as it streams by.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from litegen.quantize.quantizers import QuantStats, StatsCell
from litegen.quantize.schemes import QuantScheme
from litegen.quantize.weights import QuantizedWeight

__all__ = ["QuantReport", "WeightReport"]


@dataclass(frozen=True)
class WeightReport:
    name: str
    scheme: QuantScheme
    shape: tuple[int, ...]
    nbytes: int  # as stored
    float_nbytes: int  # as float32
    stats_cell: StatsCell  # shared with the weight: a lazy one fills it when written

    @property
    def stats(self) -> QuantStats | None:
        """None: quantized with stats=False, or lazy and not written yet."""
        return self.stats_cell.value


@dataclass
class QuantReport:
    entries: list[WeightReport] = field(default_factory=list)

    def add(self, weight: QuantizedWeight) -> None:
        count = int(np.prod(weight.shape, dtype=np.int64))
        self.entries.append(
            WeightReport(
                weight.name,
                weight.scheme,
                weight.shape,
                weight.nbytes,
                4 * count,
                weight.stats_cell,
            )
        )

    @property
    def nbytes(self) -> int:
        return sum(e.nbytes for e in self.entries)

    @property
    def float_nbytes(self) -> int:
        return sum(e.float_nbytes for e in self.entries)

    def by_scheme(self) -> dict[str, tuple[int, int]]:
        """scheme name -> (number of weights, stored bytes)."""
        out: dict[str, tuple[int, int]] = {}
        for e in self.entries:
            n, b = out.get(e.scheme.name, (0, 0))
            out[e.scheme.name] = (n + 1, b + e.nbytes)
        return out

    def worst(self, count: int = 5) -> list[WeightReport]:
        """The weights with the largest relative RMS error, worst first (only those with
        statistics and a non-zero error)."""
        with_errors = [e for e in self.entries if e.stats and e.stats.max_abs_error > 0]
        with_errors.sort(key=lambda e: e.stats.relative_rms_error if e.stats else 0.0)
        return with_errors[::-1][:count]

    def format(self, worst: int = 5) -> str:
        """A few human-readable lines for the exporter's progress output."""
        mb = 1 / 2**20
        ratio = self.float_nbytes / self.nbytes if self.nbytes else 1.0
        lines = [
            f"weights: {len(self.entries)}, {self.nbytes * mb:.1f} MiB "
            f"({ratio:.1f}x smaller than float32)"
        ]
        for name, (n, b) in sorted(self.by_scheme().items()):
            lines.append(f"  {name:18s} {n:5d} weights {b * mb:10.1f} MiB")
        worst_entries = self.worst(worst)
        if worst_entries:
            lines.append("largest relative errors (rms / max, of the weight's rms / max |w|):")
            for e in worst_entries:
                assert e.stats is not None
                lines.append(
                    f"  {e.name} [{e.scheme.name}]: {e.stats.relative_rms_error:.2%} / "
                    f"{e.stats.relative_max_error:.2%}"
                )
        return "\n".join(lines)
