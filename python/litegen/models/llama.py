"""Llama family (model_type "llama"): TinyLlama, Llama 2, Llama 3.x, SmolLM/SmolLM2."""

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
    attn_query_proj="model.layers.{}.self_attn.q_proj",
    attn_key_proj="model.layers.{}.self_attn.k_proj",
    attn_value_proj="model.layers.{}.self_attn.v_proj",
    attn_output_proj="model.layers.{}.self_attn.o_proj",
    pre_ff_norm="model.layers.{}.post_attention_layernorm",
    ff_gate_proj="model.layers.{}.mlp.gate_proj",
    ff_up_proj="model.layers.{}.mlp.up_proj",
    ff_down_proj="model.layers.{}.mlp.down_proj",
)


def build_config(hf: HFConfig) -> ModelConfig:
    norm = hf.rms_norm()
    bias = hf.get_bool("attention_bias", False)
    attn = attention_config(hf, qkv_use_bias=bias, output_proj_use_bias=bias)
    ff = FeedForwardConfig(
        hf.get_int("intermediate_size"),
        activation=hf.activation("hidden_act", "silu"),
        use_bias=hf.get_bool("mlp_bias", False),
    )
    block = BlockConfig(attn, ff, pre_attn_norm=norm, pre_ff_norm=norm)
    return decoder_config(
        hf,
        "llama",
        block,
        [None] * hf.get_int("num_hidden_layers"),
        final_norm_config=norm,
        tie_embeddings=hf.get_bool("tie_word_embeddings", False),
    )


FAMILY = register(Family("llama", ("llama",), build_config, TENSOR_NAMES))
