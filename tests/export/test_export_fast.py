"""Fast form: litegen's fused custom ops exactly as docs/custom_ops.md defines them, and
(once the C++ kernels are registered) the numbers through litegen's runtime."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from authoring_hf_models import FAMILIES
from export_helpers import (
    DECODE_STEPS,
    MAX_CONTEXT,
    PREFILL_LEN,
    cache_feeds,
    kv_rtol,
    prompt,
    rel_diff,
)

from litegen.export.tflite_schema import schema

KV_OP, SDPA_OP = b"LITEGEN_KV_CACHE_UPDATE", b"LITEGEN_SDPA"
RMS_NORM_OP, ROPE_OP = b"LITEGEN_RMS_NORM", b"LITEGEN_ROPE"


def _rms_norms(config) -> int:
    """The RMSNorm layers of one forward pass: per block and the final one."""
    count = int(config.final_norm_config.type == "rms")
    for layer in range(config.num_layers):
        block = config.block_config(layer)
        norms = (block.pre_attn_norm, block.post_attn_norm, block.pre_ff_norm, block.post_ff_norm)
        norms += (block.attn.query_norm, block.attn.key_norm)
        count += sum(n is not None and n.type == "rms" for n in norms)
    return count


def _read(path) -> schema.ModelT:
    return schema.ModelT.InitFromPackedBuf(bytearray(path.read_bytes()), 0)


@pytest.mark.parametrize("name", ["gemma2", "llama"])
def test_fast_structure(name, exported):
    ex = exported(name, "fast")
    assert ex.kv_cache_dtype == "float16"  # the fast form's default
    config = ex.family.model.config
    data = ex.path.read_bytes()
    model = _read(ex.path)
    assert all(c.version == 1 for c in model.operatorCodes)
    custom = {c.customCode for c in model.operatorCodes if c.customCode is not None}
    assert custom == {KV_OP, SDPA_OP, ROPE_OP} | ({RMS_NORM_OP} if _rms_norms(config) else set())
    for sig in model.signatureDefs:
        # Caches are inputs only (updated in place): the one output is the logits.
        assert [o.name for o in sig.outputs] == [b"logits"]
    for sg in model.subgraphs:
        names = [t.name.decode() for t in sg.tensors]
        assert len(sg.outputs) == 1
        inputs = {names[i] for i in sg.inputs}
        assert inputs == {"tokens", "input_pos"} | {
            f"kv_cache_{kv}_{i}" for i in range(config.num_layers) for kv in "kv"
        }
        producer: dict[int, tuple[bytes, int]] = {}
        kv_ops, sdpa_ops = [], []
        codes = [model.operatorCodes[op.opcodeIndex].customCode for op in sg.operators]
        # Every RMSNorm and each rotation of q and k is one fused node.
        assert codes.count(RMS_NORM_OP) == _rms_norms(config)
        assert codes.count(ROPE_OP) == 2 * config.num_layers
        for n, op in enumerate(sg.operators):
            code = codes[n]
            assert op.customOptions is None or len(op.customOptions) == 0
            for out in op.outputs:
                producer[out] = (code, n)
            if code == KV_OP:
                kv_ops.append(op)
            elif code == SDPA_OP:
                sdpa_ops.append(op)
        # One call writes a layer's k and v caches.
        assert len(kv_ops) == config.num_layers
        assert len(sdpa_ops) == config.num_layers
        for layer, op in enumerate(kv_ops):
            k_cache, k_update, v_cache, v_update, pos = op.inputs
            assert (names[k_cache], names[v_cache]) == (
                f"kv_cache_k_{layer}",
                f"kv_cache_v_{layer}",
            )
            for cache, update in ((k_cache, k_update), (v_cache, v_update)):
                assert cache in sg.inputs
                assert sg.tensors[cache].type == schema.TensorType.FLOAT16
                assert sg.tensors[update].type == schema.TensorType.FLOAT32
                assert list(sg.tensors[update].shape)[:2] == list(sg.tensors[cache].shape)[:2]
            assert names[pos] == "input_pos"
            (done,) = op.outputs
            assert list(sg.tensors[done].shape) == [1]
            assert sg.tensors[done].type == schema.TensorType.INT32
        for layer, op in enumerate(sdpa_ops):
            attn = config.block_config(layer).attn
            q, k, v, pos, params, window, *deps = op.inputs
            assert (names[k], names[v]) == (f"kv_cache_k_{layer}", f"kv_cache_v_{layer}")
            assert sg.tensors[q].type == sg.tensors[op.outputs[0]].type == schema.TensorType.FLOAT32
            assert names[pos] == "input_pos"
            assert list(sg.tensors[q].shape)[1] == attn.num_heads
            # scale/softcap and the window travel as constant inputs
            p_buf = model.buffers[sg.tensors[params].buffer]
            w_buf = model.buffers[sg.tensors[window].buffer]
            p_val = np.frombuffer(data, np.float32, 2, p_buf.offset)
            w_val = np.frombuffer(data, np.int32, 1, w_buf.offset)
            np.testing.assert_allclose(p_val, [attn.attn_scale, attn.logit_softcap or 0.0])
            assert w_val.tolist() == [attn.sliding_window or 0]
            # dependency token: the done output of this layer's cache write
            (dep,) = deps
            assert kv_ops.index(sg.operators[producer[dep][1]]) == layer
            assert producer[dep][1] < sg.operators.index(op)


def _load_runtime(path):
    """litegen's runtime with its C++ custom kernels (LITEGEN_SDPA / KV_CACHE_UPDATE)."""
    from litegen.runtime import Model

    return Model(path, num_threads=1, weight_cache=False)


@pytest.mark.parametrize("kv_dtype", ["float32", "float16"])
@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_fast_matches_pytorch_in_litegen_runtime(name, kv_dtype, exported):
    """float32 caches: the kernels' float error only; float16 caches: also the rounding of
    every cached key / value (export_helpers.LOGIT_RTOL_FP16_KV says why that tolerance)."""
    ex = exported(name, "fast", kv_dtype)
    rtol = kv_rtol(kv_dtype)
    np_dtype = np.float16 if kv_dtype == "float16" else np.float32
    runtime = _load_runtime(ex.path)
    specs = {s.name: s for s in runtime.signatures["decode"].inputs}
    assert specs["kv_cache_k_0"].dtype == specs["kv_cache_v_0"].dtype == np.dtype(np_dtype)
    model = ex.family.model
    tokens = prompt(model.config.vocab_size)
    ref_cache = model.new_kv_cache(max_seq_len=MAX_CONTEXT)

    # The runtime copies inputs (Model.run does not modify them): feed the cache state the
    # PyTorch reference has before each step.
    feeds = cache_feeds(ref_cache, transposed_v=False, dtype=np_dtype)
    with torch.no_grad():
        ref = model(tokens, torch.arange(PREFILL_LEN), ref_cache)
    out = runtime.run(
        "prefill",
        tokens=tokens.numpy().astype(np.int32),
        input_pos=np.arange(PREFILL_LEN, dtype=np.int32),
        **feeds,
    )
    assert rel_diff(out["logits"], ref.numpy()) <= rtol
    token = int(ref[0, -1].argmax())
    for step in range(DECODE_STEPS):
        pos = PREFILL_LEN + step
        feeds = cache_feeds(ref_cache, transposed_v=False, dtype=np_dtype)
        with torch.no_grad():
            ref = model(torch.tensor([[token]]), torch.tensor([pos]), ref_cache)
        out = runtime.run(
            "decode",
            tokens=np.array([[token]], np.int32),
            input_pos=np.array([pos], np.int32),
            **feeds,
        )
        assert rel_diff(out["logits"], ref.numpy()) <= rtol, f"decode step {step}"
        assert int(out["logits"][0, -1].argmax()) == int(ref[0, -1].argmax())
        token = int(ref[0, -1].argmax())


@pytest.mark.parametrize("name", ["llama", "gemma2"])
def test_convert_fast_prefill_returns_the_last_row(name, family, tmp_path):
    """litegen.convert's fast form: prefill's logits are [1, 1, V], the last position's
    (the LM head skips the other rows); last_logits=False keeps [1, T, V]."""
    import litegen

    fam = family(name)
    model = fam.model
    tokens = prompt(model.config.vocab_size)
    with torch.no_grad():
        ref = model(tokens, torch.arange(PREFILL_LEN), model.new_kv_cache(max_seq_len=MAX_CONTEXT))
    for last_logits, expected in ((None, ref[:, -1:]), (False, ref)):
        path = litegen.convert(
            fam.checkpoint,
            tmp_path / f"{last_logits}.tflite",
            max_context=MAX_CONTEXT,
            last_logits=last_logits,
        )
        runtime = _load_runtime(path)
        (logits,) = runtime.signatures["prefill"].outputs
        assert logits.shape == (
            (1, 1, model.config.vocab_size)
            if last_logits is None
            else (1, -1, model.config.vocab_size)
        )
        feeds = {
            spec.name: np.zeros(spec.shape, spec.dtype)  # float16: the fast form's default
            for spec in runtime.signatures["prefill"].inputs
            if spec.name.startswith("kv_cache_")
        }
        out = runtime.run(
            "prefill",
            tokens=tokens.numpy().astype(np.int32),
            input_pos=np.arange(PREFILL_LEN, dtype=np.int32),
            **feeds,
        )
        assert out["logits"].shape == tuple(expected.shape)
        assert rel_diff(out["logits"], expected.numpy()) <= kv_rtol("float16")
