"""Gemma 1 (model_type "gemma"): (1 + w) RMSNorm, sqrt(hidden) embedding scale, GeGLU."""

from __future__ import annotations

from litegen.authoring.config import BlockConfig, FeedForwardConfig, ModelConfig
from litegen.models.hf_config import HFConfig
from litegen.models.llama import TENSOR_NAMES
from litegen.models.registry import Family, attention_config, decoder_config, register


def gemma_activation(hf: HFConfig) -> str:
    key = "hidden_activation" if hf.get("hidden_activation") else "hidden_act"
    # Gemma checkpoints say "gelu" but were trained with the tanh approximation.
    if hf.get(key) == "gelu":
        return "gelu_tanh"
    return hf.activation(key, "gelu_pytorch_tanh")


def build_config(hf: HFConfig) -> ModelConfig:
    norm = hf.rms_norm(zero_centered=True)
    bias = hf.get_bool("attention_bias", False)
    attn = attention_config(hf, qkv_use_bias=bias, output_proj_use_bias=bias)
    ff = FeedForwardConfig(hf.get_int("intermediate_size"), gemma_activation(hf))
    block = BlockConfig(attn, ff, pre_attn_norm=norm, pre_ff_norm=norm)
    return decoder_config(
        hf,
        "gemma",
        block,
        [None] * hf.get_int("num_hidden_layers"),
        final_norm_config=norm,
        embedding_scale=hf.hidden_size**0.5,
        tie_embeddings=hf.get_bool("tie_word_embeddings", True),
    )


FAMILY = register(Family("gemma", ("gemma",), build_config, TENSOR_NAMES))
