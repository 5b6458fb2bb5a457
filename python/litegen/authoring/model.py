"""The generic decoder-only language model built from a :class:`ModelConfig`."""

from __future__ import annotations

import torch
from torch import nn

from litegen.authoring.block import TransformerBlock
from litegen.authoring.config import AttentionConfig, ModelConfig
from litegen.authoring.kv_cache import KVCache
from litegen.authoring.norms import build_norm
from litegen.authoring.rope import RotaryEmbedding
from litegen.errors import InputError


def _rope_key(attn: AttentionConfig) -> tuple[object, ...]:
    return (attn.head_dim, attn.rotary_dim, attn.rotary_base, attn.rotary_scaling)


class DecoderModel(nn.Module):
    """Token embedding, transformer blocks, final norm and LM head.

    Two modes:
    - ``model(tokens)`` -> logits [B, T, V]: full causal forward, no cache.
    - ``model(tokens, input_pos, kv_cache)`` -> logits [B, T, V]: a cached step (prefill
      or decode) at absolute positions ``input_pos`` [T]; ``kv_cache`` is updated in place.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.tok_embedding = nn.Embedding(config.vocab_size, config.embedding_dim)
        self.transformer_blocks = nn.ModuleList(
            TransformerBlock(config.block_config(i), config) for i in range(config.num_layers)
        )
        self.final_norm = build_norm(config.embedding_dim, config.final_norm_config)
        self.lm_head = nn.Linear(
            config.embedding_dim, config.vocab_size, bias=config.lm_head_use_bias
        )
        if config.tie_embeddings:
            self.lm_head.weight = self.tok_embedding.weight
        # One RotaryEmbedding per distinct rotary setting; layers index into ``ropes``.
        first_layer: dict[tuple[object, ...], int] = {}
        for i in range(config.num_layers):
            first_layer.setdefault(_rope_key(config.block_config(i).attn), i)
        keys = list(first_layer)
        self.rope_index = [
            keys.index(_rope_key(config.block_config(i).attn)) for i in range(config.num_layers)
        ]
        self.ropes = nn.ModuleList(
            RotaryEmbedding(config.block_config(i).attn, config.kv_cache_max_len)
            for i in first_layer.values()
        )

    @classmethod
    def empty(
        cls,
        config: ModelConfig,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str = "cpu",
    ) -> DecoderModel:
        """A model with uninitialised parameters (no random init), ready to be loaded."""
        with torch.device("meta"):
            model = cls(config)
        model = model.to_empty(device=device).to(dtype)
        if config.tie_embeddings:  # to_empty re-creates parameters and so unties them
            model.lm_head.weight = model.tok_embedding.weight
        for rope in model.ropes:
            rope.reset_buffers(device)
        return model.eval()

    def forward(
        self,
        tokens: torch.Tensor,
        input_pos: torch.Tensor | None = None,
        kv_cache: KVCache | None = None,
        last_logits: bool = False,
    ) -> torch.Tensor:
        """Logits [B, T, V] (``last_logits``: [B, 1, V] for the last position only, which
        is all generation needs and skips the LM head for the other rows)."""
        if input_pos is None:
            if kv_cache is not None:
                raise InputError("a cached step needs input_pos (the absolute positions)")
            input_pos = torch.arange(tokens.shape[1], device=tokens.device)
        x = self.tok_embedding(tokens)
        if self.config.embedding_scale is not None:
            x = x * self.config.embedding_scale
        ropes = [rope(input_pos) for rope in self.ropes]
        for i, block in enumerate(self.transformer_blocks):
            x = block(x, ropes[self.rope_index[i]], input_pos, kv_cache, i)
        if last_logits:
            x = x[:, -1:, :]
        logits = self.lm_head(self.final_norm(x))
        cap = self.config.final_logit_softcap
        if cap:
            logits = torch.tanh(logits / cap) * cap
        return logits

    def new_kv_cache(
        self, batch_size: int = 1, max_seq_len: int | None = None, dtype: torch.dtype | None = None
    ) -> KVCache:
        """A zero cache matching this model's parameters' dtype and device."""
        p = self.tok_embedding.weight
        return KVCache.create(self.config, batch_size, max_seq_len, dtype or p.dtype, p.device)


def build_model(config: ModelConfig) -> DecoderModel:
    """A randomly initialised :class:`DecoderModel` for ``config`` (eval mode)."""
    return DecoderModel(config).eval()
