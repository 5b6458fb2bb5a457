"""Gemma 2 (model_type "gemma2"): soft-caps, alternating sliding window, pre+post norms."""

from __future__ import annotations

import dataclasses

from litegen.authoring.config import BlockConfig, FeedForwardConfig, ModelConfig
from litegen.models.gemma import gemma_activation
from litegen.models.hf_config import HFConfig
from litegen.models.llama import TENSOR_NAMES as LLAMA_NAMES
from litegen.models.registry import Family, attention_config, decoder_config, register

TENSOR_NAMES = dataclasses.replace(
    LLAMA_NAMES,
    post_attn_norm="model.layers.{}.post_attention_layernorm",
    pre_ff_norm="model.layers.{}.pre_feedforward_layernorm",
    post_ff_norm="model.layers.{}.post_feedforward_layernorm",
)


def build_config(hf: HFConfig) -> ModelConfig:
    norm = hf.rms_norm(zero_centered=True)
    bias = hf.get_bool("attention_bias", False)
    softcap = hf.get("attn_logit_softcapping")
    attn = attention_config(
        hf,
        qkv_use_bias=bias,
        output_proj_use_bias=bias,
        logit_softcap=float(softcap) if softcap else None,
        scale=hf.get_float("query_pre_attn_scalar", hf.head_dim) ** -0.5,
    )
    ff = FeedForwardConfig(hf.get_int("intermediate_size"), gemma_activation(hf))
    block = BlockConfig(
        attn, ff, pre_attn_norm=norm, post_attn_norm=norm, pre_ff_norm=norm, post_ff_norm=norm
    )
    n = hf.get_int("num_hidden_layers")
    final_cap = hf.get("final_logit_softcapping")
    return decoder_config(
        hf,
        "gemma2",
        block,
        hf.layer_windows([i % 2 == 0 for i in range(n)]),  # even layers slide by default
        final_norm_config=norm,
        embedding_scale=hf.hidden_size**0.5,
        tie_embeddings=hf.get_bool("tie_word_embeddings", True),
        final_logit_softcap=float(final_cap) if final_cap else None,
    )


FAMILY = register(Family("gemma2", ("gemma2",), build_config, TENSOR_NAMES))
