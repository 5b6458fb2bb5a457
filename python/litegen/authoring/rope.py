"""Rotary position embeddings: inverse frequencies (with scaling variants) and application.

cos/sin are computed from the absolute positions at run time (no table sized by the
context), in float32, exactly as the reference implementations do.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from litegen.authoring import ops
from litegen.authoring.config import AttentionConfig
from litegen.errors import ConfigError


def inverse_frequencies(config: AttentionConfig, max_seq_len: int) -> tuple[torch.Tensor, float]:
    """Per-pair inverse frequencies [rotary_dim / 2] and the cos/sin scaling factor."""
    dim = config.rotary_dim
    exponents = torch.arange(0, dim, 2, dtype=torch.int64).to(torch.float32) / dim
    scaling = config.rotary_scaling
    if scaling is None:
        return 1.0 / (config.rotary_base**exponents), 1.0
    if scaling.type == "linear":
        return 1.0 / (config.rotary_base**exponents) / scaling.factor, 1.0
    if scaling.type == "llama3":
        return _llama3_scaled(1.0 / (config.rotary_base**exponents), config), 1.0
    if scaling.type == "longrope":
        use_long = max_seq_len > scaling.original_max_seq_len
        factors = scaling.long_factor if use_long else scaling.short_factor
        if len(factors) != dim // 2:
            raise ConfigError(
                f"longrope needs {dim // 2} factors (rotary_dim/2), got {len(factors)}"
            )
        ext = torch.tensor(factors, dtype=torch.float32)
        return 1.0 / (ext * config.rotary_base**exponents), scaling.attention_factor
    raise ConfigError(f"unsupported RoPE scaling type {scaling.type!r}")


def _llama3_scaled(inv_freq: torch.Tensor, config: AttentionConfig) -> torch.Tensor:
    """Llama 3.1: keep high frequencies, divide low ones by ``factor``, blend in between."""
    s = config.rotary_scaling
    assert s is not None
    low_wavelen = s.original_max_seq_len / s.low_freq_factor
    high_wavelen = s.original_max_seq_len / s.high_freq_factor
    wavelen = 2 * math.pi / inv_freq
    scaled = torch.where(wavelen > low_wavelen, inv_freq / s.factor, inv_freq)
    smooth = (s.original_max_seq_len / wavelen - s.low_freq_factor) / (
        s.high_freq_factor - s.low_freq_factor
    )
    blended = (1 - smooth) * scaled / s.factor + smooth * scaled
    medium = (wavelen >= high_wavelen) & (wavelen <= low_wavelen)
    return torch.where(medium, blended, scaled)


class RotaryEmbedding(nn.Module):
    """Maps absolute positions [T] to (cos, sin), each [T, rotary_dim]."""

    def __init__(self, config: AttentionConfig, max_seq_len: int) -> None:
        super().__init__()
        self.config, self.max_seq_len = config, max_seq_len
        inv_freq, self.attention_scaling = inverse_frequencies(config, max_seq_len)
        self.register_buffer("inv_freq", inv_freq, persistent=False)

    def reset_buffers(self, device: torch.device | str | None = None) -> None:
        """Recompute ``inv_freq`` in float32 (after ``to_empty`` or a dtype change)."""
        inv_freq, _ = inverse_frequencies(self.config, self.max_seq_len)
        self.inv_freq = inv_freq.to(device or self.inv_freq.device)

    def forward(self, input_pos: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        freqs = input_pos.to(torch.float32)[:, None] * self.inv_freq[None, :]
        angles = torch.cat((freqs, freqs), dim=-1)
        cos, sin = angles.cos(), angles.sin()
        if self.attention_scaling != 1.0:
            cos, sin = cos * self.attention_scaling, sin * self.attention_scaling
        return cos, sin


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate the first ``cos.shape[-1]`` dims of ``x`` [B, H, T, D] (half-split pairs).

    One graph node (``litegen::rope``, see :mod:`litegen.authoring.ops`): the fast form
    runs it as one fused op.
    """
    return ops.rope(x, cos, sin)
