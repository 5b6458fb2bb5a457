"""Every family against HF transformers' own modeling code (fp32, small random weights).

Relative differences are max|ours - hf| / max|hf| over the whole logits tensor.
"""

from __future__ import annotations

import dataclasses

import pytest
import torch
from authoring_hf_models import FAMILIES, rel_diff

import litegen
from litegen.authoring import DecoderModel
from litegen.verify import greedy_generate

PROMPT_LEN = 8
NEW_TOKENS = 32
LOGIT_RTOL = 1e-4
CACHE_RTOL = 1e-5


def _prompt(vocab: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(1)
    return torch.randint(3, vocab, (1, PROMPT_LEN), generator=g)


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_family_matches_hf(name, saved_model):
    saved = saved_model(name)
    model = litegen.from_pretrained(saved.path, progress=False, **saved.spec.load_kwargs)
    prompt = _prompt(model.config.vocab_size)

    # 32 greedy tokens: HF generate (its own KV cache) vs our prefill + cached decode.
    with torch.no_grad():
        ref_seq = saved.hf.generate(
            prompt, max_new_tokens=NEW_TOKENS, do_sample=False, pad_token_id=0
        )
    ref_new = ref_seq[0, PROMPT_LEN:].tolist()
    assert len(ref_new) == NEW_TOKENS
    assert greedy_generate(model, prompt, NEW_TOKENS) == ref_new

    # Full-forward logits over prompt + generated tokens (40 > every sliding window).
    with torch.no_grad():
        ours = model(ref_seq)
        theirs = saved.hf(ref_seq).logits
    assert rel_diff(ours, theirs) <= LOGIT_RTOL

    # Chunked prefill (5 + 3 tokens) then one-token decode steps == the full forward.
    cache = model.new_kv_cache(max_seq_len=48)
    steps = [(0, 5), (5, PROMPT_LEN)] + [(i, i + 1) for i in range(PROMPT_LEN, ref_seq.shape[1])]
    with torch.no_grad():
        parts = [model(ref_seq[:, a:b], torch.arange(a, b), cache) for a, b in steps]
    assert rel_diff(torch.cat(parts, dim=1), ours) <= CACHE_RTOL


def _without_windows(model: DecoderModel) -> DecoderModel:
    cfg = model.config
    blocks = tuple(
        dataclasses.replace(b, attn=dataclasses.replace(b.attn, sliding_window=None))
        for b in (cfg.block_config(i) for i in range(cfg.num_layers))
    )
    plain = DecoderModel(cfg.replace(block_configs=blocks)).eval()
    plain.load_state_dict(model.state_dict())
    return plain


@pytest.mark.parametrize("name", ["gemma2", "phi3"])
def test_sliding_window_matters_within_tested_length(name, saved_model):
    saved = saved_model(name)
    model = litegen.from_pretrained(saved.path, progress=False)
    windows = [model.config.block_config(i).attn.sliding_window for i in range(2)]
    assert windows == ([8, None] if name == "gemma2" else [16, 16])
    seq = torch.randint(3, 256, (1, 40), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        theirs = saved.hf(seq).logits
        assert rel_diff(model(seq), theirs) <= LOGIT_RTOL
        assert rel_diff(_without_windows(model)(seq), theirs) > 1e-3


def test_longrope_long_factors_beyond_original_context(saved_model):
    """Built for a context beyond the original 64, Phi-3 uses the long factors (as HF does
    for sequences longer than 64)."""
    saved = saved_model("phi3_longrope")
    long_model = litegen.from_pretrained(saved.path, progress=False, kv_cache_max_len=256)
    short_model = litegen.from_pretrained(saved.path, progress=False, kv_cache_max_len=64)
    seq = torch.randint(3, 256, (1, 80), generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        theirs = saved.hf(seq).logits
        assert rel_diff(long_model(seq), theirs) <= LOGIT_RTOL
        assert rel_diff(short_model(seq), theirs) > 1e-3


def test_family_configs_map_features(saved_model):
    cfg = litegen.from_pretrained(saved_model("gemma2").path, progress=False).config
    b0, b1 = cfg.block_config(0), cfg.block_config(1)
    assert (b0.attn.sliding_window, b1.attn.sliding_window) == (8, None)
    assert b0.attn.logit_softcap == 1.0 and cfg.final_logit_softcap == 2.0
    assert b0.attn.attn_scale == pytest.approx(24**-0.5)
    assert b0.post_attn_norm is not None and b0.post_ff_norm is not None
    assert cfg.embedding_scale == pytest.approx(8.0) and cfg.tie_embeddings

    phi = litegen.from_pretrained(saved_model("phi").path, progress=False).config.block_config(0)
    assert phi.parallel_residual and phi.pre_attn_norm.type == "layer"
    assert phi.attn.rotary_dim == 8 and not phi.ff.gated and phi.ff.activation == "gelu_tanh"

    q3 = litegen.from_pretrained(saved_model("qwen3").path, progress=False).config
    assert q3.block_config(0).attn.query_norm is not None and q3.head_dim == 32

    p3 = litegen.from_pretrained(saved_model("phi3").path, progress=False).config.block_config(0)
    assert p3.attn.qkv_fused and p3.ff.gate_up_fused


def test_llama3_rope_scaling_hits_all_three_bands(saved_model):
    model = litegen.from_pretrained(saved_model("llama3").path, progress=False)
    scaled = model.ropes[0].inv_freq
    plain = 1.0 / (500000.0 ** (torch.arange(0, 16, 2).float() / 16))
    ratio = plain / scaled
    assert ratio[0] == pytest.approx(1.0)  # high frequency: unchanged
    assert 1.0 < float(ratio[1]) < 8.0  # medium: blended
    assert torch.allclose(ratio[2:], torch.full((6,), 8.0))  # low: divided by factor
