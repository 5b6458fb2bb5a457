"""Large models: an export over 2 GiB (constant buffers placed after the flatbuffer, addressed
by offsets) loads and runs in LiteRT through litegen's runtime and matches PyTorch."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch
from export_helpers import LOGIT_RTOL, cache_feeds, rel_diff

import litegen
from litegen.authoring.config import (
    AttentionConfig,
    BlockConfig,
    FeedForwardConfig,
    ModelConfig,
)
from litegen.authoring.model import DecoderModel

# Untied embedding and lm_head: 2 x VOCAB x DIM x 4 B = 2.46 GB of fp32 weights.
VOCAB, DIM, CONTEXT, PREFILL = 150_000, 2048, 16, 5
MIN_FREE_BYTES = 6 * 10**9


def _model() -> DecoderModel:
    config = ModelConfig(
        vocab_size=VOCAB,
        embedding_dim=DIM,
        num_layers=1,
        block_configs=BlockConfig(
            attn=AttentionConfig(num_heads=16, num_kv_heads=4, head_dim=DIM // 16),
            ff=FeedForwardConfig(intermediate_size=512),
        ),
        kv_cache_max_len=CONTEXT,
        tie_embeddings=False,
        name="large",
    )
    model = DecoderModel.empty(config)  # no default init: fill each parameter once, in place
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name:
                p.fill_(1.0)
            else:
                p.normal_(0.0, 0.02, generator=gen)
    return model


def _args(model: DecoderModel, length: int) -> tuple[torch.Tensor, torch.Tensor, object]:
    return (
        torch.zeros((1, length), dtype=torch.int32),
        torch.arange(length, dtype=torch.int32),
        model.new_kv_cache(max_seq_len=CONTEXT),
    )


@pytest.mark.slow
def test_export_over_2gib_loads_and_runs_in_litegen_runtime(tmp_path):
    free = shutil.disk_usage(tmp_path).free
    if free < MIN_FREE_BYTES:
        pytest.skip(f"needs >= 6 GB free under {tmp_path} for a 2.5 GB export, {free / 1e9:.1f}")
    model = _model()
    path = tmp_path / "large.tflite"
    try:
        (
            litegen.signature("prefill", model, _args(model, PREFILL))
            .signature("decode", model, _args(model, 1))
            .convert(form="fast", kv_cache_dtype="float32")  # LOGIT_RTOL: exact caches
            .export(path)
        )
        assert path.stat().st_size > 2**31

        from litegen.runtime import Model

        runtime = Model(path, num_threads=1, weight_cache=False)
        ref_cache = model.new_kv_cache(max_seq_len=CONTEXT)

        tokens = torch.randint(3, VOCAB, (1, PREFILL), generator=torch.Generator().manual_seed(1))
        feeds = cache_feeds(ref_cache, transposed_v=False)  # the runtime copies inputs
        with torch.no_grad():
            ref = model(tokens, torch.arange(PREFILL), ref_cache)
        out = runtime.run(
            "prefill",
            tokens=tokens.numpy().astype(np.int32),
            input_pos=np.arange(PREFILL, dtype=np.int32),
            **feeds,
        )
        assert rel_diff(out["logits"], ref.numpy()) <= LOGIT_RTOL, "prefill"

        token = int(ref[0, -1].argmax())
        feeds = cache_feeds(ref_cache, transposed_v=False)  # the runtime copies inputs
        with torch.no_grad():
            ref = model(torch.tensor([[token]]), torch.tensor([PREFILL]), ref_cache)
        out = runtime.run(
            "decode",
            tokens=np.array([[token]], np.int32),
            input_pos=np.array([PREFILL], np.int32),
            **feeds,
        )
        assert rel_diff(out["logits"], ref.numpy()) <= LOGIT_RTOL, "decode"
        assert int(out["logits"][0, -1].argmax()) == int(ref[0, -1].argmax())
        del runtime
    finally:
        path.unlink(missing_ok=True)
