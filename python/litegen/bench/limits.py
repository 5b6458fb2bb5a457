"""The two limits a CPU LLM runs into, and how close a measurement gets to them.

- Decode reads every matmul weight once per token: tokens/s <= bandwidth / weight bytes.
- Prefill does 2 * params operations per token: tokens/s <= peak ops / (2 * params).

Both bounds ignore attention and the KV cache (small at these depths for a 1B model), so
they are upper bounds; a percentage near 100 means that limit is what stops us.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    bandwidth_gb_per_s: float  # memory read, best pass
    compute_peak_gops: float  # int8 dynamic-range matmul, best call
    weight_bytes: int
    matmul_params: int

    @property
    def decode_tokens_per_second(self) -> float:
        """The bandwidth bound on decode."""
        return self.bandwidth_gb_per_s * 1e9 / self.weight_bytes

    @property
    def prefill_tokens_per_second(self) -> float:
        """The compute bound on prefill."""
        return self.compute_peak_gops * 1e9 / (2 * self.matmul_params)

    def decode_percent(self, tokens_per_second: float) -> float:
        """Decode speed as a percentage of the bandwidth limit."""
        return 100.0 * tokens_per_second / self.decode_tokens_per_second

    def prefill_percent(self, tokens_per_second: float) -> float:
        """Prefill speed as a percentage of the compute limit."""
        return 100.0 * tokens_per_second / self.prefill_tokens_per_second

    def to_json(self) -> dict[str, float | int]:
        return {
            "bandwidth_gb_per_s": self.bandwidth_gb_per_s,
            "compute_peak_gops": self.compute_peak_gops,
            "weight_bytes": self.weight_bytes,
            "matmul_params": self.matmul_params,
            "decode_limit_tokens_per_second": self.decode_tokens_per_second,
            "prefill_limit_tokens_per_second": self.prefill_tokens_per_second,
        }
