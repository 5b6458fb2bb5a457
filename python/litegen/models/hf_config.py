"""Typed reading of a HuggingFace ``config.json`` dict, shared by the family files.

Handles both the transformers>=5 layout (``rope_parameters``) and older checkpoints
(top-level ``rope_theta`` / ``rope_scaling`` / ``partial_rotary_factor``).
"""

from __future__ import annotations

import math
from typing import Any

from litegen.authoring.config import NormConfig, RopeScalingConfig
from litegen.errors import ConfigError

# Context a model is built for when the user does not choose one: bounded so that the
# default KV cache stays small for 128k-context checkpoints.
DEFAULT_MAX_CONTEXT = 4096

_ACTIVATIONS = {
    "silu": "silu",
    "swish": "silu",
    "gelu": "gelu",
    "gelu_new": "gelu_tanh",
    "gelu_fast": "gelu_tanh",
    "gelu_pytorch_tanh": "gelu_tanh",
    "gelu_python_tanh": "gelu_tanh",
    "relu": "relu",
}


class HFConfig:
    """A ``config.json`` dict with typed getters whose errors name the field."""

    def __init__(self, data: dict[str, Any], source: str = "config.json") -> None:
        if not isinstance(data, dict):
            raise ConfigError(f"{source} must hold a JSON object")
        self.data = data
        self.source = source

    @property
    def model_type(self) -> str:
        return str(self.data.get("model_type", ""))

    def get(self, key: str, default: Any = None) -> Any:
        value = self.data.get(key)
        return default if value is None else value

    def get_int(self, key: str, default: int | None = None) -> int:
        value = self.get(key, default)
        if value is None:
            raise ConfigError(f"{self.source}: required field '{key}' is missing")
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ConfigError(f"{self.source}: '{key}' must be a positive integer, got {value!r}")
        return value

    def get_float(self, key: str, default: float | None = None) -> float:
        value = self.get(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{self.source}: '{key}' must be a number, got {value!r}")
        return float(value)

    def get_bool(self, key: str, default: bool) -> bool:
        value = self.get(key, default)
        if not isinstance(value, bool):
            raise ConfigError(f"{self.source}: '{key}' must be true or false, got {value!r}")
        return value

    # -- common derived fields -------------------------------------------------------------
    @property
    def hidden_size(self) -> int:
        return self.get_int("hidden_size")

    @property
    def num_heads(self) -> int:
        return self.get_int("num_attention_heads")

    @property
    def num_kv_heads(self) -> int:
        return self.get_int("num_key_value_heads", self.num_heads)

    @property
    def head_dim(self) -> int:
        if self.get("head_dim") is not None:
            return self.get_int("head_dim")
        if self.hidden_size % self.num_heads:
            raise ConfigError(
                f"{self.source}: hidden_size {self.hidden_size} is not a multiple of "
                f"num_attention_heads {self.num_heads} and no head_dim is given"
            )
        return self.hidden_size // self.num_heads

    def max_context(self) -> int:
        """Default ``kv_cache_max_len``: the model's context, capped at 4096."""
        return min(
            self.get_int("max_position_embeddings", DEFAULT_MAX_CONTEXT), DEFAULT_MAX_CONTEXT
        )

    def activation(self, key: str, default: str) -> str:
        name = self.get(key, default)
        if name not in _ACTIVATIONS:
            raise ConfigError(
                f"{self.source}: activation {key}={name!r} is not supported; "
                f"supported: {sorted(_ACTIVATIONS)}"
            )
        return _ACTIVATIONS[name]

    def rms_norm(self, key: str = "rms_norm_eps", zero_centered: bool = False) -> NormConfig:
        return NormConfig("rms", eps=self.get_float(key, 1e-6), zero_centered=zero_centered)

    def layer_norm(self, key: str = "layer_norm_eps") -> NormConfig:
        return NormConfig("layer", eps=self.get_float(key, 1e-5))

    # -- RoPE ------------------------------------------------------------------------------
    def rope(self, default_theta: float = 10_000.0, default_partial: float = 1.0) -> dict[str, Any]:
        """``rotary_base``/``rotary_percentage``/``rotary_scaling`` kwargs for AttentionConfig."""
        params = self.get("rope_parameters") or self.get("rope_scaling") or {}
        if not isinstance(params, dict) or any(isinstance(v, dict) for v in params.values()):
            raise ConfigError(
                f"{self.source}: per-layer-type rope_parameters are not supported: {params!r}"
            )
        theta = params.get("rope_theta", self.get("rope_theta", default_theta))
        partial = params.get("partial_rotary_factor", self.get("partial_rotary_factor"))
        kind = params.get("rope_type", params.get("type")) or "default"
        if kind in ("su", "yarn") and self.model_type == "phi3":
            kind = "longrope"  # Phi-3's legacy names for its LongRoPE scaling
        return {
            "rotary_base": float(theta),
            "rotary_percentage": float(partial if partial is not None else default_partial),
            "rotary_scaling": self._rope_scaling(kind, params),
        }

    def _rope_scaling(self, kind: str, p: dict[str, Any]) -> RopeScalingConfig | None:
        max_pos = self.get_int("max_position_embeddings", DEFAULT_MAX_CONTEXT)
        try:
            if kind == "default":
                return None
            if kind == "linear":
                return RopeScalingConfig("linear", factor=float(p["factor"]))
            if kind == "llama3":
                return RopeScalingConfig(
                    "llama3",
                    factor=float(p["factor"]),
                    low_freq_factor=float(p["low_freq_factor"]),
                    high_freq_factor=float(p["high_freq_factor"]),
                    original_max_seq_len=int(p.get("original_max_position_embeddings", max_pos)),
                )
            if kind == "longrope":
                # As transformers: the top-level original length wins over the rope dict's.
                original = int(
                    self.get("original_max_position_embeddings")
                    or p.get("original_max_position_embeddings")
                    or max_pos
                )
                factor = p.get("factor") or max_pos / original
                attention = p.get("attention_factor")
                if attention is None:
                    attention = (
                        1.0
                        if factor <= 1.0
                        else math.sqrt(1 + math.log(factor) / math.log(original))
                    )
                return RopeScalingConfig(
                    "longrope",
                    factor=float(factor),
                    original_max_seq_len=original,
                    short_factor=tuple(float(x) for x in p["short_factor"]),
                    long_factor=tuple(float(x) for x in p["long_factor"]),
                    attention_factor=float(attention),
                )
        except (KeyError, TypeError, ValueError) as e:
            raise ConfigError(f"{self.source}: invalid {kind!r} RoPE scaling {p!r}: {e}") from e
        raise ConfigError(
            f"{self.source}: RoPE scaling type {kind!r} is not supported "
            f"(supported: default, linear, llama3, longrope)"
        )

    # -- sliding windows -------------------------------------------------------------------
    def layer_windows(self, default_sliding: list[bool] | None = None) -> list[int | None]:
        """Per-layer sliding window (None = full attention) from ``layer_types``."""
        n = self.get_int("num_hidden_layers")
        window = self.get("sliding_window")
        types = self.get("layer_types")
        if types is None:
            sliding = default_sliding or [False] * n
        else:
            if not isinstance(types, list) or len(types) != n:
                raise ConfigError(f"{self.source}: layer_types must list {n} layer types")
            unknown = set(types) - {"full_attention", "sliding_attention"}
            if unknown:
                raise ConfigError(f"{self.source}: unsupported layer types {sorted(unknown)}")
            sliding = [t == "sliding_attention" for t in types]
        if any(sliding) and window is None:
            return [None] * n
        return [self.get_int("sliding_window") if s else None for s in sliding]
