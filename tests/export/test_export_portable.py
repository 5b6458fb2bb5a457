"""Portable form, every family: the .tflite run by the stock ai_edge_litert interpreter
(builtin ops only) matches our PyTorch model over a prefill and decode steps."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ai_edge_litert.interpreter import Interpreter
from authoring_hf_models import FAMILIES
from export_helpers import DECODE_STEPS, LOGIT_RTOL, MAX_CONTEXT, PREFILL_LEN, prompt, rel_diff

from litegen.export.tflite_schema import schema


def zero_caches(model) -> dict[str, np.ndarray]:
    """Portable caches: K [1, Hkv, S, D] and V transposed [1, Hkv, D, S] (LiteRT-LM)."""
    feeds = {}
    for i in range(model.config.num_layers):
        attn = model.config.block_config(i).attn
        h, d = attn.num_kv_heads, attn.head_dim
        feeds[f"kv_cache_k_{i}"] = np.zeros((1, h, MAX_CONTEXT, d), np.float32)
        feeds[f"kv_cache_v_{i}"] = np.zeros((1, h, d, MAX_CONTEXT), np.float32)
    return feeds


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_portable_matches_pytorch(name, exported):
    ex = exported(name, "portable")
    model = ex.family.model
    interp = Interpreter(model_path=str(ex.path))
    signatures = interp.get_signature_list()
    cache_names = sorted(zero_caches(model))
    assert sorted(signatures["decode"]["inputs"]) == sorted(["tokens", "input_pos", *cache_names])
    assert sorted(signatures["decode"]["outputs"]) == sorted(["logits", *cache_names])

    tokens = prompt(model.config.vocab_size)
    ref_cache = model.new_kv_cache(max_seq_len=MAX_CONTEXT)
    with torch.no_grad():
        ref = model(tokens, torch.arange(PREFILL_LEN), ref_cache)
    out = interp.get_signature_runner("prefill")(
        tokens=tokens.numpy().astype(np.int32),
        input_pos=np.arange(PREFILL_LEN, dtype=np.int32),
        **zero_caches(model),
    )
    assert out["logits"].shape == (1, PREFILL_LEN, model.config.vocab_size)
    assert rel_diff(out["logits"], ref.numpy()) <= LOGIT_RTOL

    decode = interp.get_signature_runner("decode")
    ours_tokens, ref_tokens = [], []
    token, ref_token = int(out["logits"][0, -1].argmax()), int(ref[0, -1].argmax())
    for step in range(DECODE_STEPS):
        pos = PREFILL_LEN + step
        caches = {k: v for k, v in out.items() if k.startswith("kv_cache_")}  # fed back
        out = decode(
            tokens=np.array([[token]], np.int32), input_pos=np.array([pos], np.int32), **caches
        )
        with torch.no_grad():
            ref = model(torch.tensor([[ref_token]]), torch.tensor([pos]), ref_cache)
        assert rel_diff(out["logits"], ref.numpy()) <= LOGIT_RTOL, f"decode step {step}"
        ours_tokens.append(token)
        ref_tokens.append(ref_token)
        token, ref_token = int(out["logits"][0, -1].argmax()), int(ref[0, -1].argmax())
    assert ours_tokens == ref_tokens


def test_portable_uses_builtin_ops_only(exported):
    ex = exported("llama", "portable")
    model = schema.ModelT.InitFromPackedBuf(bytearray(ex.path.read_bytes()), 0)
    assert all(c.customCode is None for c in model.operatorCodes)
    ops = {c.builtinCode for c in model.operatorCodes}
    op = schema.BuiltinOperator
    assert {op.DYNAMIC_UPDATE_SLICE, op.BATCH_MATMUL, op.SOFTMAX, op.FULLY_CONNECTED} <= ops
    # prefill takes a dynamic token count, decode exactly one
    for sg in model.subgraphs:
        tokens = next(t for t in sg.tensors if t.name == b"tokens")
        expected = [1, -1] if sg.name == b"prefill" else [1, 1]
        signature = tokens.shapeSignature if tokens.shapeSignature is not None else tokens.shape
        assert list(signature) == expected


def test_portable_chunked_prefill(exported):
    """The dynamic prefill signature at other lengths and start positions (5 + 2 tokens):
    the cache write lands at input_pos[0] and the mask follows input_pos (Gemma 2's
    window of 8 is crossed by the decode steps that follow)."""
    ex = exported("gemma2", "portable")
    model = ex.family.model
    interp = Interpreter(model_path=str(ex.path))
    prefill = interp.get_signature_runner("prefill")
    decode = interp.get_signature_runner("decode")
    tokens = prompt(model.config.vocab_size, 12)
    ref_cache = model.new_kv_cache(max_seq_len=MAX_CONTEXT)
    caches = zero_caches(model)
    steps = [(0, 5), (5, 7)] + [(i, i + 1) for i in range(7, 12)]
    for start, end in steps:
        runner = prefill if end - start > 1 else decode
        out = runner(
            tokens=tokens[:, start:end].numpy().astype(np.int32),
            input_pos=np.arange(start, end, dtype=np.int32),
            **caches,
        )
        caches = {k: v for k, v in out.items() if k.startswith("kv_cache_")}
        with torch.no_grad():
            ref = model(tokens[:, start:end], torch.arange(start, end), ref_cache)
        assert rel_diff(out["logits"], ref.numpy()) <= LOGIT_RTOL, f"tokens {start}:{end}"
    # the caches themselves: K as in PyTorch, V transposed (LiteRT-LM layout)
    for i in range(model.config.num_layers):
        np.testing.assert_allclose(caches[f"kv_cache_k_{i}"], ref_cache.k[i].numpy(), atol=1e-5)
        v_t = ref_cache.v[i].transpose(-1, -2).numpy()
        np.testing.assert_allclose(caches[f"kv_cache_v_{i}"], v_t, atol=1e-5)
