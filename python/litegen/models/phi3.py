"""Phi-3 / Phi-3.5-mini (model_type "phi3"): fused qkv and gate/up, LongRoPE."""

from __future__ import annotations

from litegen.authoring.config import BlockConfig, FeedForwardConfig, ModelConfig
from litegen.loading.loader import TensorNames
from litegen.models.hf_config import HFConfig
from litegen.models.registry import Family, attention_config, decoder_config, register

TENSOR_NAMES = TensorNames(
    embedding="model.embed_tokens",
    final_norm="model.norm",
    lm_head="lm_head",
    pre_attn_norm="model.layers.{}.input_layernorm",
    attn_fused_qkv_proj="model.layers.{}.self_attn.qkv_proj",
    attn_output_proj="model.layers.{}.self_attn.o_proj",
    pre_ff_norm="model.layers.{}.post_attention_layernorm",
    ff_gate_up_proj="model.layers.{}.mlp.gate_up_proj",
    ff_down_proj="model.layers.{}.mlp.down_proj",
)


def build_config(hf: HFConfig) -> ModelConfig:
    norm = hf.rms_norm()
    attn = attention_config(hf, qkv_fused=True)
    ff = FeedForwardConfig(
        hf.get_int("intermediate_size"), hf.activation("hidden_act", "silu"), gate_up_fused=True
    )
    block = BlockConfig(attn, ff, pre_attn_norm=norm, pre_ff_norm=norm)
    n = hf.get_int("num_hidden_layers")
    window = hf.get_int("sliding_window") if hf.get("sliding_window") is not None else None
    return decoder_config(
        hf,
        "phi3",
        block,
        [window] * n,
        final_norm_config=norm,
        tie_embeddings=hf.get_bool("tie_word_embeddings", False),
    )


FAMILY = register(Family("phi3", ("phi3",), build_config, TENSOR_NAMES))
