"""The seed blog's workflow: a hand-written TinyLlama from the building blocks, explicit
TensorNames, ModelLoader, then a numerical check against the original."""

from __future__ import annotations

import torch
from authoring_hf_models import rel_diff
from torch import nn

import litegen.authoring.builder as builder
import litegen.authoring.config as cfg
from litegen.authoring import KVCache, TransformerBlock
from litegen.loading import ModelLoader
from litegen.verify import greedy_generate, verify


# Step 1: define the model structure.
class TinyLlama(nn.Module):
    def __init__(self, config: cfg.ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.tok_embedding = nn.Embedding(config.vocab_size, config.embedding_dim)
        self.transformer_blocks = nn.ModuleList(
            TransformerBlock(config.block_config(i), config) for i in range(config.num_layers)
        )
        self.final_norm = builder.build_norm(config.embedding_dim, config.final_norm_config)
        self.lm_head = nn.Linear(
            config.embedding_dim, config.vocab_size, bias=config.lm_head_use_bias
        )
        self.rope = builder.RotaryEmbedding(config.block_config(0).attn, config.kv_cache_max_len)

    # Step 2: the forward function (full forward, or a cached step when given a KVCache).
    def forward(
        self,
        idx: torch.Tensor,
        input_pos: torch.Tensor | None = None,
        kv_cache: KVCache | None = None,
    ) -> torch.Tensor:
        if input_pos is None:
            input_pos = torch.arange(idx.shape[1])
        x = self.tok_embedding(idx)
        rope = self.rope(input_pos)
        for i, block in enumerate(self.transformer_blocks):
            x = block(x, rope, input_pos, kv_cache, i)
        return self.lm_head(self.final_norm(x))


def get_model_config(kv_cache_max_len: int = 128) -> cfg.ModelConfig:
    attn = cfg.AttentionConfig(num_heads=4, num_kv_heads=2, head_dim=16, rotary_base=10_000)
    norm = cfg.NormConfig("rms", eps=1e-5)
    block = cfg.BlockConfig(
        attn=attn,
        ff=cfg.FeedForwardConfig(intermediate_size=128, activation="silu", gated=True),
        pre_attn_norm=norm,
        pre_ff_norm=norm,
    )
    return cfg.ModelConfig(
        vocab_size=256,
        embedding_dim=64,
        num_layers=2,
        block_configs=block,
        final_norm_config=norm,
        kv_cache_max_len=kv_cache_max_len,
    )


# Step 3: map the original weight names onto the new model.
TENSOR_NAMES = ModelLoader.TensorNames(
    ff_up_proj="model.layers.{}.mlp.up_proj",
    ff_down_proj="model.layers.{}.mlp.down_proj",
    ff_gate_proj="model.layers.{}.mlp.gate_proj",
    attn_query_proj="model.layers.{}.self_attn.q_proj",
    attn_key_proj="model.layers.{}.self_attn.k_proj",
    attn_value_proj="model.layers.{}.self_attn.v_proj",
    attn_output_proj="model.layers.{}.self_attn.o_proj",
    pre_attn_norm="model.layers.{}.input_layernorm",
    pre_ff_norm="model.layers.{}.post_attention_layernorm",
    embedding="model.embed_tokens",
    final_norm="model.norm",
    lm_head="lm_head",
)


def test_hand_written_tinyllama_loads_and_matches(saved_model):
    saved = saved_model("llama")  # the same checkpoint the llama family test uses
    model = TinyLlama(get_model_config()).eval()
    ModelLoader(saved.path, TENSOR_NAMES, progress=False).load(model)

    tokens = torch.randint(3, 256, (1, 20), generator=torch.Generator().manual_seed(7))
    with torch.no_grad():
        assert rel_diff(model(tokens), saved.hf(tokens).logits) <= 1e-4

    report = verify(model, saved.hf, tokens[:, :8], num_greedy_tokens=32)
    assert report.passed, str(report)
    assert report.layers is not None and report.layers.first_divergent is None

    # Same tokens as litegen's generic llama family built by from_pretrained.
    import litegen

    generic = litegen.from_pretrained(saved.path, progress=False)
    assert greedy_generate(model, tokens[:, :8], 32) == greedy_generate(generic, tokens[:, :8], 32)
