"""Phi-2 (model_type "phi"): partial rotary, parallel residual, LayerNorm, gelu, biases."""

from __future__ import annotations

from litegen.authoring.config import BlockConfig, FeedForwardConfig, ModelConfig
from litegen.loading.loader import TensorNames
from litegen.models.hf_config import HFConfig
from litegen.models.registry import Family, attention_config, decoder_config, register

TENSOR_NAMES = TensorNames(
    embedding="model.embed_tokens",
    final_norm="model.final_layernorm",
    lm_head="lm_head",
    pre_attn_norm="model.layers.{}.input_layernorm",
    attn_query_proj="model.layers.{}.self_attn.q_proj",
    attn_key_proj="model.layers.{}.self_attn.k_proj",
    attn_value_proj="model.layers.{}.self_attn.v_proj",
    attn_output_proj="model.layers.{}.self_attn.dense",
    attn_query_norm="model.layers.{}.self_attn.q_layernorm",
    attn_key_norm="model.layers.{}.self_attn.k_layernorm",
    ff_up_proj="model.layers.{}.mlp.fc1",
    ff_down_proj="model.layers.{}.mlp.fc2",
)


def build_config(hf: HFConfig) -> ModelConfig:
    norm = hf.layer_norm()
    qk_norm = norm if hf.get_bool("qk_layernorm", False) else None
    attn = attention_config(
        hf,
        default_partial_rotary=0.5,
        qkv_use_bias=True,
        output_proj_use_bias=True,
        query_norm=qk_norm,
        key_norm=qk_norm,
    )
    ff = FeedForwardConfig(
        hf.get_int("intermediate_size"),
        activation=hf.activation("hidden_act", "gelu_new"),
        gated=False,
        use_bias=True,
    )
    block = BlockConfig(attn, ff, pre_attn_norm=norm, pre_ff_norm=None, parallel_residual=True)
    return decoder_config(
        hf,
        "phi",
        block,
        [None] * hf.get_int("num_hidden_layers"),
        final_norm_config=norm,
        tie_embeddings=hf.get_bool("tie_word_embeddings", False),
        lm_head_use_bias=True,
    )


FAMILY = register(Family("phi", ("phi",), build_config, TENSOR_NAMES))
