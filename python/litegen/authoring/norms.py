"""Normalization layers: RMSNorm (optionally zero-centred, Gemma) and LayerNorm."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from litegen.authoring import ops
from litegen.authoring.config import NormConfig


class RMSNorm(nn.Module):
    """``x / rms(x) * w`` computed in float32; ``w = 1 + weight`` when zero-centred."""

    def __init__(self, dim: int, eps: float = 1e-6, zero_centered: bool = False) -> None:
        super().__init__()
        self.eps = eps
        self.zero_centered = zero_centered
        self.weight = nn.Parameter(torch.zeros(dim) if zero_centered else torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # One graph node (litegen::rms_norm): the fast form runs it as one fused op.
        return ops.rms_norm(x, self.weight, self.eps, self.zero_centered)


class LayerNorm(nn.Module):
    """Standard LayerNorm over the last dim (optional bias)."""

    def __init__(self, dim: int, eps: float = 1e-5, use_bias: bool = True) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))
        self.bias = nn.Parameter(torch.zeros(dim)) if use_bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.layer_norm(x, (x.shape[-1],), self.weight, self.bias, self.eps)


def build_norm(dim: int, config: NormConfig) -> nn.Module:
    """The norm layer described by ``config``."""
    if config.type == "rms":
        return RMSNorm(dim, config.eps, config.zero_centered)
    return LayerNorm(dim, config.eps, config.use_bias)
