"""Small random-weight HF models standing in for each family (the numerical references)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
import transformers

COMMON: dict[str, Any] = {
    "vocab_size": 256,
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "max_position_embeddings": 128,
    # Larger than the default 0.02 so random logits have clear argmax gaps.
    "initializer_range": 0.2,
    "bos_token_id": 1,
    "eos_token_id": 2,
    "pad_token_id": 0,
}


@dataclass(frozen=True)
class FamilySpec:
    """A small HF model standing in for a family; ``kwargs`` override COMMON."""

    config_cls: str
    model_cls: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    load_kwargs: dict[str, Any] = field(default_factory=dict)  # for from_pretrained

    def build(self) -> Any:
        cfg_cls: Callable[..., Any] = getattr(transformers, self.config_cls)
        config = cfg_cls(**{**COMMON, **self.kwargs})
        config._attn_implementation = "eager"
        torch.manual_seed(0)
        model = getattr(transformers, self.model_cls)(config).eval()
        model.generation_config.eos_token_id = None  # never stop early
        return model


_LONGROPE = {
    "rope_type": "longrope",
    "rope_theta": 10000.0,
    "short_factor": [1.0 + 0.05 * i for i in range(8)],
    "long_factor": [1.5 + 0.5 * i for i in range(8)],
    "original_max_position_embeddings": 64,
}

FAMILIES: dict[str, FamilySpec] = {
    # TinyLlama / Llama 2: untied, plain RoPE.
    "llama": FamilySpec("LlamaConfig", "LlamaForCausalLM", {"rms_norm_eps": 1e-5}),
    # Llama 3.x: llama3 RoPE scaling (all three frequency bands hit), tied (3.2 1B/3B).
    "llama3": FamilySpec(
        "LlamaConfig",
        "LlamaForCausalLM",
        {
            "num_hidden_layers": 3,
            "tie_word_embeddings": True,
            "rope_parameters": {
                "rope_type": "llama3",
                "rope_theta": 500000.0,
                "factor": 8.0,
                "low_freq_factor": 1.0,
                "high_freq_factor": 4.0,
                # head_dim 16: wavelengths 6.3 (kept), 32.5 (blended), 168+ (divided by 8).
                "original_max_position_embeddings": 64,
            },
        },
    ),
    # SmolLM2: llama architecture, tied, 3 query heads per kv head.
    "smollm2": FamilySpec(
        "LlamaConfig",
        "LlamaForCausalLM",
        {
            "hidden_size": 96,
            "num_attention_heads": 6,
            "num_key_value_heads": 2,
            "tie_word_embeddings": True,
            "rope_parameters": {"rope_type": "default", "rope_theta": 100000.0},
        },
    ),
    # Phi-2: partial rotary, parallel residual, LayerNorm, gelu_new, biases.
    "phi": FamilySpec(
        "PhiConfig",
        "PhiForCausalLM",
        {"num_key_value_heads": 4, "partial_rotary_factor": 0.5, "hidden_act": "gelu_new"},
    ),
    # Phi-3-mini-4k: fused qkv / gate_up, sliding window on every layer.
    "phi3": FamilySpec("Phi3Config", "Phi3ForCausalLM", {"sliding_window": 16}),
    # Phi-3.5-mini: LongRoPE; within the original context the short factors apply.
    "phi3_longrope": FamilySpec(
        "Phi3Config",
        "Phi3ForCausalLM",
        {
            "max_position_embeddings": 256,
            "original_max_position_embeddings": 64,
            "rope_parameters": _LONGROPE,
        },
        load_kwargs={"kv_cache_max_len": 64},
    ),
    # Gemma 1: (1 + w) RMSNorm, sqrt(hidden) embedding scale, GeGLU, tied, MQA.
    "gemma": FamilySpec(
        "GemmaConfig", "GemmaForCausalLM", {"head_dim": 16, "num_key_value_heads": 1}
    ),
    # Gemma 2: soft-caps small enough to bite, window 8 on layers 0 and 2, post-norms,
    # query_pre_attn_scalar != head_dim.
    "gemma2": FamilySpec(
        "Gemma2Config",
        "Gemma2ForCausalLM",
        {
            "num_hidden_layers": 3,
            "head_dim": 16,
            "sliding_window": 8,
            "query_pre_attn_scalar": 24,
            "attn_logit_softcapping": 1.0,
            "final_logit_softcapping": 2.0,
        },
    ),
    # Qwen2 / Qwen2.5: q/k/v biases, untied (7B) and tied (0.5B).
    "qwen2": FamilySpec("Qwen2Config", "Qwen2ForCausalLM", {"tie_word_embeddings": False}),
    "qwen2_tied": FamilySpec("Qwen2Config", "Qwen2ForCausalLM", {"tie_word_embeddings": True}),
    # Qwen3: per-head q/k RMSNorm, explicit head_dim != hidden / heads, tied.
    "qwen3": FamilySpec(
        "Qwen3Config", "Qwen3ForCausalLM", {"head_dim": 32, "tie_word_embeddings": True}
    ),
}


def rel_diff(a: Any, b: Any) -> float:
    """max|a - b| / max|b| (b is the reference)."""
    return float((a.double() - b.double()).abs().max() / b.double().abs().max())
