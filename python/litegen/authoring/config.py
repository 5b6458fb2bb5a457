"""Model configuration dataclasses (the shape of the seed's ``model_config``).

A :class:`ModelConfig` fully describes a decoder-only transformer built from litegen's
blocks: embedding, ``num_layers`` transformer blocks (each a :class:`BlockConfig` with
attention, feed-forward and norms), a final norm and an LM head.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from litegen.errors import ConfigError

NormType = Literal["rms", "layer"]
Activation = Literal["silu", "gelu", "gelu_tanh", "relu"]
RopeScalingType = Literal["linear", "llama3", "longrope"]


@dataclass(frozen=True)
class NormConfig:
    """RMSNorm or LayerNorm. ``zero_centered``: scale by ``1 + weight`` (Gemma)."""

    type: NormType = "rms"
    eps: float = 1e-6
    zero_centered: bool = False
    use_bias: bool = True  # LayerNorm only

    def __post_init__(self) -> None:
        if self.type not in ("rms", "layer"):
            raise ConfigError(f"NormConfig.type must be 'rms' or 'layer', got {self.type!r}")


@dataclass(frozen=True)
class RopeScalingConfig:
    """RoPE frequency scaling.

    - ``linear``: every inverse frequency divided by ``factor``.
    - ``llama3``: Llama 3.1 wavelength-dependent scaling (``factor``, ``low_freq_factor``,
      ``high_freq_factor``, ``original_max_seq_len``).
    - ``longrope`` (Phi-3 "su"): per-frequency ``short_factor`` / ``long_factor`` and a
      cos/sin ``attention_factor``. A static graph must pick one set: the long factors are
      used when the model's ``kv_cache_max_len`` exceeds ``original_max_seq_len``.
    """

    type: RopeScalingType
    factor: float = 1.0
    low_freq_factor: float = 1.0
    high_freq_factor: float = 4.0
    original_max_seq_len: int = 0
    short_factor: tuple[float, ...] = ()
    long_factor: tuple[float, ...] = ()
    attention_factor: float = 1.0


@dataclass(frozen=True)
class AttentionConfig:
    """Multi-head / grouped-query self-attention with rotary embeddings."""

    num_heads: int
    num_kv_heads: int
    head_dim: int
    rotary_base: float = 10_000.0
    rotary_percentage: float = 1.0
    rotary_scaling: RopeScalingConfig | None = None
    qkv_use_bias: bool = False
    output_proj_use_bias: bool = False
    qkv_fused: bool = False  # one [q; k; v] projection instead of three
    query_norm: NormConfig | None = None  # per-head norm of q before RoPE (Qwen3)
    key_norm: NormConfig | None = None
    logit_softcap: float | None = None
    sliding_window: int | None = None
    scale: float | None = None  # None: 1/sqrt(head_dim)

    def __post_init__(self) -> None:
        if self.num_heads <= 0 or self.num_kv_heads <= 0 or self.head_dim <= 0:
            raise ConfigError(
                f"attention heads/kv heads/head_dim must be positive, got "
                f"{self.num_heads}/{self.num_kv_heads}/{self.head_dim}"
            )
        if self.num_heads % self.num_kv_heads:
            raise ConfigError(
                f"num_heads ({self.num_heads}) must be a multiple of num_kv_heads "
                f"({self.num_kv_heads})"
            )
        if not 0.0 < self.rotary_percentage <= 1.0 or self.rotary_dim % 2:
            raise ConfigError(
                f"rotary_percentage {self.rotary_percentage} of head_dim {self.head_dim} "
                f"must give a positive even rotary dimension"
            )

    @property
    def rotary_dim(self) -> int:
        return int(self.head_dim * self.rotary_percentage)

    @property
    def attn_scale(self) -> float:
        return self.scale if self.scale is not None else self.head_dim**-0.5


@dataclass(frozen=True)
class FeedForwardConfig:
    """MLP: gated ``down(act(gate(x)) * up(x))`` or plain ``down(act(up(x)))``."""

    intermediate_size: int
    activation: Activation = "silu"
    gated: bool = True
    use_bias: bool = False
    gate_up_fused: bool = False  # one [gate; up] projection (gated only)


@dataclass(frozen=True)
class BlockConfig:
    """One transformer block.

    Sequential: ``x += post_attn(attn(pre_attn(x)))`` then ``x += post_ff(ff(pre_ff(x)))``.
    Parallel residual (Phi-2): ``h = pre_attn(x)``, ``x + attn(h) + ff(h)`` (``pre_ff_norm``
    unused and ``None``).
    """

    attn: AttentionConfig
    ff: FeedForwardConfig
    pre_attn_norm: NormConfig = field(default_factory=NormConfig)
    post_attn_norm: NormConfig | None = None
    pre_ff_norm: NormConfig | None = field(default_factory=NormConfig)
    post_ff_norm: NormConfig | None = None
    parallel_residual: bool = False

    def __post_init__(self) -> None:
        if self.parallel_residual and self.pre_ff_norm is not None:
            raise ConfigError(
                "a parallel-residual block shares pre_attn_norm: set pre_ff_norm=None"
            )


@dataclass(frozen=True)
class ModelConfig:
    """A decoder-only transformer language model."""

    vocab_size: int
    embedding_dim: int
    num_layers: int
    block_configs: BlockConfig | tuple[BlockConfig, ...]
    final_norm_config: NormConfig = field(default_factory=NormConfig)
    kv_cache_max_len: int = 1024  # context the model is built for (default cache size)
    embedding_scale: float | None = None  # Gemma: sqrt(embedding_dim)
    tie_embeddings: bool = False
    lm_head_use_bias: bool = False
    final_logit_softcap: float | None = None
    name: str = "decoder"

    def __post_init__(self) -> None:
        if isinstance(self.block_configs, Sequence) and not isinstance(self.block_configs, tuple):
            object.__setattr__(self, "block_configs", tuple(self.block_configs))
        if isinstance(self.block_configs, tuple) and len(self.block_configs) != self.num_layers:
            raise ConfigError(
                f"{len(self.block_configs)} block configs given for {self.num_layers} layers"
            )

    def block_config(self, index: int) -> BlockConfig:
        """The block config of layer ``index``."""
        if isinstance(self.block_configs, BlockConfig):
            return self.block_configs
        return self.block_configs[index]

    def replace(self, **changes: object) -> ModelConfig:
        """A copy with fields changed (``dataclasses.replace``)."""
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

    def with_fused_projections(self, fused: bool) -> ModelConfig:
        """A copy whose blocks use fused (or split) qkv and gate/up projections."""

        def fix(b: BlockConfig) -> BlockConfig:
            return dataclasses.replace(
                b,
                attn=dataclasses.replace(b.attn, qkv_fused=fused),
                ff=dataclasses.replace(b.ff, gate_up_fused=fused and b.ff.gated),
            )

        blocks = self.block_configs
        new = fix(blocks) if isinstance(blocks, BlockConfig) else tuple(fix(b) for b in blocks)
        return dataclasses.replace(self, block_configs=new)

    @property
    def head_dim(self) -> int:
        """Head dim of the first block (the seed's ``config.head_dim``)."""
        return self.block_config(0).attn.head_dim
