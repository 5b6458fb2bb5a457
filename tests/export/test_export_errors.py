"""Typed errors: unsupported ops (named, with the user's source line), unsupported
configs, existing or unwritable outputs — and never a half-written file."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
import torch
from export_helpers import sample_args
from torch import nn

import litegen
from litegen.authoring.kv_cache import KVCache
from litegen.errors import ConfigError, ExportError, UnsupportedOpError
from litegen.quantize import RecipeError


class CumsumModel(nn.Module):
    """A model using an op the exporter does not lower (cumsum)."""

    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.Embedding(16, 8)

    def forward(self, tokens: torch.Tensor, input_pos: torch.Tensor, kv_cache: KVCache):
        x = self.emb(tokens)
        return torch.cumsum(x, dim=1)  # UNSUPPORTED-LINE


class TinyCacheModel(nn.Module):
    """Minimal stand-in with a one-layer cache (for config errors)."""

    def forward(self, tokens, input_pos, kv_cache):
        return tokens.float()


def _cumsum_sample() -> tuple:
    cache = KVCache([torch.zeros(1, 1, 8, 4)], [torch.zeros(1, 1, 8, 4)])
    return torch.zeros(1, 3, dtype=torch.int32), torch.arange(3, dtype=torch.int32), cache


def test_unsupported_op_names_op_and_source_line():
    with pytest.raises(UnsupportedOpError) as info:
        litegen.signature("prefill", CumsumModel(), _cumsum_sample()).convert(form="portable")
    message = str(info.value)
    assert "aten.cumsum" in message
    source, start = inspect.getsourcelines(CumsumModel.forward)
    line = start + next(i for i, s in enumerate(source) if "UNSUPPORTED-LINE" in s)
    assert f"{Path(__file__).name}:{line}" in message
    assert "torch.cumsum(x, dim=1)" in message


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"form": "tiny"}, ConfigError, "form must be one of"),
        ({"quant_config": "int9"}, RecipeError, "int9"),
        ({"quant_config": "int4,lm_head"}, RecipeError, "lm_head"),
        ({"quant_config": 8}, ExportError, "quant_config must be a recipe string"),
        ({"kv_cache_dtype": "bfloat16"}, ConfigError, "kv_cache_dtype must be one of"),
        ({"kv_cache_dtype": "fp16"}, ConfigError, r"\['float32', 'float16'\]"),
        (
            {"form": "portable", "kv_cache_dtype": "float16"},
            ConfigError,
            "kv_cache_dtype='float16' needs form='fast'",
        ),
    ],
)
def test_unsupported_convert_options(kwargs, error, match, family):
    model = family("llama").model
    builder = litegen.signature("decode", model, sample_args(model, 1))
    with pytest.raises(error, match=match):
        builder.convert(**kwargs)


def test_invalid_signatures():
    cache = KVCache([torch.zeros(1, 1, 8, 4)], [torch.zeros(1, 1, 8, 4)])
    pos = torch.arange(3, dtype=torch.int32)
    model = TinyCacheModel()
    with pytest.raises(ConfigError, match=r"tokens must be a \[1, T\]"):
        litegen.signature("p", model, (torch.zeros(2, 3, dtype=torch.int32), pos, cache))
    with pytest.raises(ConfigError, match="input_pos"):
        litegen.signature("p", model, (torch.zeros(1, 3, dtype=torch.int32), pos[:2], cache))
    with pytest.raises(ConfigError, match="do not fit the cache"):
        litegen.signature(
            "p", model, (torch.zeros(1, 9, dtype=torch.int32), torch.arange(9), cache)
        )
    with pytest.raises(ConfigError, match="KVCache"):
        litegen.signature("p", model, (torch.zeros(1, 3, dtype=torch.int32), pos, None))
    builder = litegen.signature("p", model, (torch.zeros(1, 3, dtype=torch.int32), pos, cache))
    with pytest.raises(ConfigError, match="duplicate signature"):
        builder.signature("p", model, (torch.zeros(1, 3, dtype=torch.int32), pos, cache)).convert()


def test_non_float32_model_is_rejected(family):
    model = family("llama").model
    half = type(model)(model.config).to(torch.bfloat16)
    with pytest.raises(ExportError, match="float32"):
        litegen.signature("decode", half, sample_args(model, 1)).convert()


def test_one_shot_config_errors(family, tmp_path):
    ckpt = family("llama").checkpoint
    with pytest.raises(ConfigError, match="max_context"):
        litegen.convert(ckpt, tmp_path / "m.tflite", max_context=0)
    # float16 KV caches need litegen's kernels (the fast form); dtypes are checked upfront.
    with pytest.raises(ConfigError, match="needs form='fast'"):
        litegen.convert(ckpt, tmp_path / "m.tflite", form="portable", kv_cache_dtype="float16")
    with pytest.raises(ConfigError, match="kv_cache_dtype must be one of"):
        litegen.convert(ckpt, tmp_path / "m.litegen", kv_cache_dtype="int8")
    with pytest.raises(RecipeError, match="multiple of 32"):  # int4-b48
        litegen.convert(ckpt, tmp_path / "m.tflite", quant="int4-b48")
    # .litertlm needs the portable form (LiteRT-LM cannot run litegen's custom ops).
    with pytest.raises(ExportError, match="needs form='portable'"):
        litegen.convert(ckpt, tmp_path / "m.litertlm")
    with pytest.raises(ExportError, match="unknown output format"):
        litegen.convert(ckpt, tmp_path / "m.bin")
    assert list(tmp_path.iterdir()) == []


def test_existing_output_needs_force(family, tmp_path):
    ckpt = family("llama").checkpoint
    out = tmp_path / "model.tflite"
    out.write_bytes(b"keep me")
    with pytest.raises(ExportError, match="already exists"):
        litegen.convert(ckpt, out, max_context=16)
    assert out.read_bytes() == b"keep me"
    litegen.convert(ckpt, out, max_context=16, force=True, form="portable")
    assert out.read_bytes()[4:8] == b"TFL3"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.tflite"]


def test_builder_export_refuses_existing_output(exported, tmp_path):
    ex = exported("llama", "portable")
    model = ex.family.model
    converted = litegen.signature("decode", model, sample_args(model, 1)).convert(form="portable")
    out = tmp_path / "m.tflite"
    out.write_bytes(b"x")
    with pytest.raises(ExportError, match="already exists"):
        converted.export(out)
    converted.export(out, force=True)
    assert out.stat().st_size > 1000


def test_unwritable_output(family, tmp_path):
    ckpt = family("llama").checkpoint
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x")
    with pytest.raises(ExportError, match="does not exist"):
        litegen.convert(ckpt, not_a_dir / "m.tflite")
    with pytest.raises(ExportError, match="does not exist"):
        litegen.convert(ckpt, tmp_path / "missing" / "m.tflite")
    (tmp_path / "dir.tflite").mkdir()
    with pytest.raises(ExportError, match="is a directory"):
        litegen.convert(ckpt, tmp_path / "dir.tflite")


def test_write_failure_leaves_nothing(family):
    # /proc accepts no new files, even for root: the write itself fails.
    model = family("llama").model
    converted = litegen.signature("decode", model, sample_args(model, 1)).convert()
    with pytest.raises(ExportError, match="cannot write"):
        converted.export("/proc/litegen-test.tflite")
    assert not list(Path("/proc").glob(".litegen-test*"))
