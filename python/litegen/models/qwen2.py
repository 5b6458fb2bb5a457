"""Qwen2 / Qwen2.5 (model_type "qwen2"): Llama layout with q/k/v biases."""

from __future__ import annotations

from litegen.authoring.config import BlockConfig, FeedForwardConfig, ModelConfig
from litegen.models.hf_config import HFConfig
from litegen.models.llama import TENSOR_NAMES
from litegen.models.registry import Family, attention_config, decoder_config, register


def qwen_windows(hf: HFConfig) -> list[int | None]:
    """Qwen's optional sliding window: layers >= max_window_layers, when enabled."""
    n = hf.get_int("num_hidden_layers")
    if not hf.get_bool("use_sliding_window", False):
        return [None] * n
    first = int(hf.get("max_window_layers", n))
    return hf.layer_windows([i >= first for i in range(n)])


def build_config(hf: HFConfig) -> ModelConfig:
    norm = hf.rms_norm()
    attn = attention_config(hf, qkv_use_bias=True)
    ff = FeedForwardConfig(hf.get_int("intermediate_size"), hf.activation("hidden_act", "silu"))
    block = BlockConfig(attn, ff, pre_attn_norm=norm, pre_ff_norm=norm)
    return decoder_config(
        hf,
        "qwen2",
        block,
        qwen_windows(hf),
        final_norm_config=norm,
        tie_embeddings=hf.get_bool("tie_word_embeddings", False),
    )


FAMILY = register(Family("qwen2", ("qwen2",), build_config, TENSOR_NAMES))
