"""The transformer block: attention + feed-forward with pre/post norms and residuals."""

from __future__ import annotations

import torch
from torch import nn

from litegen.authoring.attention import Attention
from litegen.authoring.config import BlockConfig, ModelConfig
from litegen.authoring.feed_forward import FeedForward
from litegen.authoring.kv_cache import KVCache
from litegen.authoring.norms import build_norm


class TransformerBlock(nn.Module):
    """One decoder block built from ``config`` (see :class:`BlockConfig`)."""

    def __init__(self, config: BlockConfig, model_config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        dim = model_config.embedding_dim
        self.pre_attn_norm = build_norm(dim, config.pre_attn_norm)
        self.attention = Attention(dim, config.attn)
        self.post_attn_norm = (
            build_norm(dim, config.post_attn_norm) if config.post_attn_norm else None
        )
        self.pre_ff_norm = build_norm(dim, config.pre_ff_norm) if config.pre_ff_norm else None
        self.feed_forward = FeedForward(dim, config.ff)
        self.post_ff_norm = build_norm(dim, config.post_ff_norm) if config.post_ff_norm else None

    def forward(
        self,
        x: torch.Tensor,
        rope: tuple[torch.Tensor, torch.Tensor],
        input_pos: torch.Tensor,
        kv_cache: KVCache | None = None,
        layer_idx: int = 0,
    ) -> torch.Tensor:
        h = self.pre_attn_norm(x)
        attn = self.attention(h, rope, input_pos, kv_cache, layer_idx)
        if self.post_attn_norm is not None:
            attn = self.post_attn_norm(attn)
        if self.config.parallel_residual:
            return x + attn + self._ff(h)
        x = x + attn
        return x + self._ff(self.pre_ff_norm(x) if self.pre_ff_norm is not None else x)

    def _ff(self, h: torch.Tensor) -> torch.Tensor:
        out = self.feed_forward(h)
        return self.post_ff_norm(out) if self.post_ff_norm is not None else out
