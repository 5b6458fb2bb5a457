"""Qwen3 (model_type "qwen3"): Llama layout with per-head RMSNorm of q and k."""

from __future__ import annotations

import dataclasses

from litegen.authoring.config import BlockConfig, FeedForwardConfig, ModelConfig
from litegen.models.hf_config import HFConfig
from litegen.models.llama import TENSOR_NAMES as LLAMA_NAMES
from litegen.models.qwen2 import qwen_windows
from litegen.models.registry import Family, attention_config, decoder_config, register

TENSOR_NAMES = dataclasses.replace(
    LLAMA_NAMES,
    attn_query_norm="model.layers.{}.self_attn.q_norm",
    attn_key_norm="model.layers.{}.self_attn.k_norm",
)


def build_config(hf: HFConfig) -> ModelConfig:
    norm = hf.rms_norm()
    bias = hf.get_bool("attention_bias", False)
    attn = attention_config(
        hf, qkv_use_bias=bias, output_proj_use_bias=bias, query_norm=norm, key_norm=norm
    )
    ff = FeedForwardConfig(hf.get_int("intermediate_size"), hf.activation("hidden_act", "silu"))
    block = BlockConfig(attn, ff, pre_attn_norm=norm, pre_ff_norm=norm)
    return decoder_config(
        hf,
        "qwen3",
        block,
        qwen_windows(hf),
        final_norm_config=norm,
        tie_embeddings=hf.get_bool("tie_word_embeddings", False),
    )


FAMILY = register(Family("qwen3", ("qwen3",), build_config, TENSOR_NAMES))
