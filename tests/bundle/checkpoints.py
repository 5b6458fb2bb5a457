"""A small random-weight HF Llama checkpoint, shared by the bundle tests."""

from __future__ import annotations

from pathlib import Path

import torch
import transformers


def write_llama(path: Path, vocab_size: int) -> torch.nn.Module:
    """Saves a 2-layer Llama (seeded; EOS ids 2 and 5) to ``path`` and returns it."""
    config = transformers.LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=128,
        initializer_range=0.2,
        bos_token_id=1,
        eos_token_id=2,
        rms_norm_eps=1e-5,
    )
    config._attn_implementation = "eager"
    torch.manual_seed(0)
    model = transformers.LlamaForCausalLM(config).eval()
    model.generation_config.eos_token_id = [2, 5]
    model.save_pretrained(path)
    return model
