"""Lean conversion: ``litegen.convert`` streams the large weights from the checkpoint
(``lazy=True``, the default) and writes exactly the file a fully loaded model gives."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from authoring_hf_models import FAMILIES

import litegen
from litegen.errors import ExportError
from litegen.export.weights import ConstantPool, LazySource
from litegen.loading.lazy import lazy_pretrained


@pytest.fixture(scope="module")
def bf16_checkpoints(tmp_path_factory):
    """bf16 checkpoints (what real ones hold): converted to float32 chunk by chunk."""
    made = {}

    def get(name):
        if name not in made:
            spec = FAMILIES[name]
            spec = dataclasses.replace(spec, kwargs={**spec.kwargs, "initializer_range": 0.02})
            path = tmp_path_factory.mktemp(f"bf16_{name}")
            spec.build().to(torch.bfloat16).save_pretrained(path)
            made[name] = path
        return made[name]

    return get


# llama: plain; phi3: fused qkv / gate_up; qwen2_tied: tied head + biases; gemma: 1 + w norms.
@pytest.mark.parametrize("name", ["llama", "phi3", "qwen2_tied", "gemma"])
# none: the float path (LazySource); the mix: both integer schemes (EncodedRows).
@pytest.mark.parametrize("quant", ["none", "int4-b32,lm_head=int8"])
def test_lazy_conversion_writes_the_same_file(name, quant, bf16_checkpoints, tmp_path):
    ckpt = bf16_checkpoints(name)
    files = []
    for lazy in (True, False):
        out = tmp_path / f"{lazy}.tflite"
        litegen.convert(ckpt, out, quant=quant, form="portable", max_context=16, lazy=lazy)
        files.append(out.read_bytes())
    assert files[0] == files[1]


def test_lazy_model_keeps_large_weights_in_the_checkpoint(bf16_checkpoints):
    ckpt = bf16_checkpoints("phi3")
    model, lazy = lazy_pretrained(ckpt, kv_cache_max_len=16)
    eager = litegen.from_pretrained(ckpt, kv_cache_max_len=16, progress=False)
    params = dict(model.named_parameters())
    by_storage = {p.untyped_storage().data_ptr(): n for n, p in params.items()}
    lazy_names = {by_storage[k] for k in lazy}
    assert lazy_names == {n for n, p in params.items() if p.dim() >= 2}
    for key, weight in lazy.items():
        expected = dict(eager.named_parameters())[by_storage[key]].detach().numpy()
        assert weight.read_rows(0, weight.shape[0]).tobytes() == expected.tobytes()
        # any row range, across the fused pieces' boundaries
        np.testing.assert_array_equal(weight.read_rows(3, 21), expected[3:21])
    for name, p in params.items():  # norms and biases are loaded
        if p.dim() < 2:
            torch.testing.assert_close(p, dict(eager.named_parameters())[name])


def test_lazy_weights_stream_in_bounded_chunks(bf16_checkpoints):
    _, lazy = lazy_pretrained(bf16_checkpoints("llama"), kv_cache_max_len=16)
    weight = next(iter(lazy.values()))
    chunks = list(LazySource(weight).chunks())
    assert sum(c.nbytes for c in chunks) == weight.nbytes
    assert np.concatenate(chunks).tobytes() == weight.read_rows(0, weight.shape[0]).tobytes()


def test_lazy_weight_used_as_a_view_is_refused(bf16_checkpoints):
    model, lazy = lazy_pretrained(bf16_checkpoints("llama"), kv_cache_max_len=16)
    pool = ConstantPool(litegen.export.ModelWriter(), lazy=lazy)
    w = model.lm_head.weight
    assert pool.source_of(w) is lazy[w.untyped_storage().data_ptr()]
    with pytest.raises(ExportError, match="used as a view"):
        pool.source_of(w[1:])
    with pytest.raises(ExportError, match="read without their data"):
        pool.check_lazy_used()  # the other weights never went through source_of


def test_lazy_conversion_of_a_pytorch_bin_checkpoint(tmp_path):
    """pytorch_model.bin checkpoints (read through torch.load's mmap) stream too."""
    ckpt = tmp_path / "bin"
    FAMILIES["llama"].build().to(torch.bfloat16).save_pretrained(ckpt)
    from safetensors.torch import load_file

    weights = ckpt / "model.safetensors"
    torch.save(load_file(weights), ckpt / "pytorch_model.bin")
    weights.unlink()
    files = []
    for lazy in (True, False):
        out = tmp_path / f"{lazy}.tflite"
        litegen.convert(ckpt, out, quant="int8", max_context=16, lazy=lazy)
        files.append(out.read_bytes())
    assert files[0] == files[1]
