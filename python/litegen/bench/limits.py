"""The two limits a CPU LLM runs into, and how close a measurement gets to them.

- Decode reads every matmul weight once per token, and attention reads the keys and values
  of every position so far: tokens/s <= bandwidth / (weight bytes + KV bytes per position
  x positions attended). (TinyLlama-1.1B's float32 cache adds 45 KB per position: 4% of
  the int8 weights at depth 1000.)
- Prefill does 2 * params operations per token: tokens/s <= peak ops / (2 * params).

Both are upper bounds (activations, norms and the other small ops are left out); a
percentage near 100 means that limit is what stops us.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    bandwidth_gb_per_s: float  # memory read, best pass
    compute_peak_gops: float  # int8 dynamic-range matmul, best call
    weight_bytes: int
    matmul_params: int
    kv_bytes_per_position: float = 0.0  # keys + values of one position, every layer

    def decode_bytes_per_token(self, positions: float = 0.0) -> float:
        """Bytes one decode step reads when attention sees ``positions`` positions."""
        return self.weight_bytes + self.kv_bytes_per_position * positions

    def decode_limit(self, positions: float = 0.0) -> float:
        """The bandwidth bound on decode tokens/s at that many attended positions."""
        return self.bandwidth_gb_per_s * 1e9 / self.decode_bytes_per_token(positions)

    @property
    def decode_tokens_per_second(self) -> float:
        """The bandwidth bound on decode with an empty cache (the weights alone)."""
        return self.decode_limit(0.0)

    @property
    def prefill_tokens_per_second(self) -> float:
        """The compute bound on prefill."""
        return self.compute_peak_gops * 1e9 / (2 * self.matmul_params)

    def decode_percent(self, tokens_per_second: float, positions: float = 0.0) -> float:
        """Decode speed as a percentage of the bandwidth limit at ``positions``."""
        return 100.0 * tokens_per_second / self.decode_limit(positions)

    def prefill_percent(self, tokens_per_second: float) -> float:
        """Prefill speed as a percentage of the compute limit."""
        return 100.0 * tokens_per_second / self.prefill_tokens_per_second

    def to_json(self) -> dict[str, float | int]:
        return {
            "bandwidth_gb_per_s": self.bandwidth_gb_per_s,
            "compute_peak_gops": self.compute_peak_gops,
            "weight_bytes": self.weight_bytes,
            "matmul_params": self.matmul_params,
            "kv_bytes_per_position": self.kv_bytes_per_position,
            "decode_limit_tokens_per_second": self.decode_tokens_per_second,
            "prefill_limit_tokens_per_second": self.prefill_tokens_per_second,
        }


def mean_positions(prompt_tokens: int, decode_tokens: int) -> float:
    """Positions attention reads per decode step, averaged over the steps after a prompt:
    step i (from 0) attends to prompt_tokens + i + 1 positions."""
    return prompt_tokens + (decode_tokens + 1) / 2
