"""The KV cache as explicit state: per-layer K and V tensors [B, Hkv, S_max, D]."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from litegen.authoring.config import ModelConfig


@dataclass
class KVCache:
    """Per-layer key/value caches. Layers replace ``k[i]``/``v[i]`` with updated tensors.

    Registered as a pytree dataclass so it can be an input/output of ``torch.export``.
    """

    k: list[torch.Tensor]
    v: list[torch.Tensor]

    @classmethod
    def create(
        cls,
        config: ModelConfig,
        batch_size: int = 1,
        max_seq_len: int | None = None,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str | None = None,
    ) -> KVCache:
        """A zero-filled cache for ``config`` (``max_seq_len`` defaults to kv_cache_max_len)."""
        seq = max_seq_len if max_seq_len is not None else config.kv_cache_max_len
        ks, vs = [], []
        for i in range(config.num_layers):
            attn = config.block_config(i).attn
            shape = (batch_size, attn.num_kv_heads, seq, attn.head_dim)
            ks.append(torch.zeros(shape, dtype=dtype, device=device))
            vs.append(torch.zeros(shape, dtype=dtype, device=device))
        return cls(ks, vs)

    @property
    def max_seq_len(self) -> int:
        return self.k[0].shape[2]

    def clone(self) -> KVCache:
        return KVCache([t.clone() for t in self.k], [t.clone() for t in self.v])


torch.export.register_dataclass(KVCache, serialized_type_name="litegen.KVCache")
