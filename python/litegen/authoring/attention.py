"""Self-attention: projections, optional q/k norm, RoPE, KV-cache write and litegen::sdpa."""

from __future__ import annotations

import torch
from torch import nn

from litegen.authoring import ops
from litegen.authoring.config import AttentionConfig
from litegen.authoring.kv_cache import KVCache
from litegen.authoring.norms import build_norm
from litegen.authoring.rope import apply_rope


class Attention(nn.Module):
    """Grouped-query self-attention over [B, T, E] inputs.

    Without a cache, attends over the fresh keys (``input_pos`` must be ``arange(T)``);
    with one, writes k/v at ``input_pos`` via ``litegen::kv_cache_update`` and stores the
    returned tensors in ``kv_cache.k[layer_idx]`` / ``kv_cache.v[layer_idx]``.
    """

    def __init__(self, embedding_dim: int, config: AttentionConfig) -> None:
        super().__init__()
        self.config = config
        c = config
        q_out, kv_out = c.num_heads * c.head_dim, c.num_kv_heads * c.head_dim
        if c.qkv_fused:
            self.qkv_proj = nn.Linear(embedding_dim, q_out + 2 * kv_out, bias=c.qkv_use_bias)
        else:
            self.q_proj = nn.Linear(embedding_dim, q_out, bias=c.qkv_use_bias)
            self.k_proj = nn.Linear(embedding_dim, kv_out, bias=c.qkv_use_bias)
            self.v_proj = nn.Linear(embedding_dim, kv_out, bias=c.qkv_use_bias)
        self.o_proj = nn.Linear(q_out, embedding_dim, bias=c.output_proj_use_bias)
        self.q_norm = build_norm(c.head_dim, c.query_norm) if c.query_norm else None
        self.k_norm = build_norm(c.head_dim, c.key_norm) if c.key_norm else None

    def _project(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        c = self.config
        if c.qkv_fused:
            q_out, kv_out = c.num_heads * c.head_dim, c.num_kv_heads * c.head_dim
            return self.qkv_proj(x).split((q_out, kv_out, kv_out), dim=-1)
        return self.q_proj(x), self.k_proj(x), self.v_proj(x)

    def forward(
        self,
        x: torch.Tensor,
        rope: tuple[torch.Tensor, torch.Tensor],
        input_pos: torch.Tensor,
        kv_cache: KVCache | None = None,
        layer_idx: int = 0,
    ) -> torch.Tensor:
        c = self.config
        b, t, _ = x.shape
        q, k, v = self._project(x)
        q = q.view(b, t, c.num_heads, c.head_dim)
        k = k.view(b, t, c.num_kv_heads, c.head_dim)
        v = v.view(b, t, c.num_kv_heads, c.head_dim)
        if self.q_norm is not None:
            q = self.q_norm(q)
        if self.k_norm is not None:
            k = self.k_norm(k)
        q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)
        cos, sin = rope
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        if kv_cache is not None:
            k = ops.kv_cache_update(kv_cache.k[layer_idx], k, input_pos)
            v = ops.kv_cache_update(kv_cache.v[layer_idx], v, input_pos)
            kv_cache.k[layer_idx], kv_cache.v[layer_idx] = k, v
        out = ops.sdpa(
            q,
            k,
            v,
            input_pos,
            c.attn_scale,
            c.logit_softcap or 0.0,
            c.sliding_window or 0,
        )
        out = out.transpose(1, 2).reshape(b, t, c.num_heads * c.head_dim)
        return self.o_proj(out)
