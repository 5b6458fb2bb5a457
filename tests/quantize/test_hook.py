"""RecipeWeights: the exporter's WeightRecipe hook built on a QuantRecipe."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from litegen.export.tflite_writer import ModelWriter
from litegen.quantize import QuantizationError, RecipeWeights
from litegen.runtime import Model

VOCAB, DIM, HIDDEN = 256, 64, 96
TIED = ("tok_embedding.weight", "lm_head.weight")
UP = ("transformer_blocks.0.mlp.up_proj.weight",)


@pytest.fixture(scope="module")
def params() -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    return {
        "table": torch.randn(VOCAB, DIM, generator=gen) * 0.05,
        "up": torch.randn(HIDDEN, DIM, generator=gen) * 0.05,
    }


def build(weights: RecipeWeights, params: dict[str, torch.Tensor], path: Path) -> ModelWriter:
    """ids -> embedding h -> up_proj(h) and lm_head(h), lm_head tied to the embedding."""
    model = ModelWriter()
    for name, rows in (("prefill", -1), ("decode", 1)):
        sg = model.add_subgraph(name)
        ids = sg.add_input("ids", np.int32, (rows,))
        h = weights.embedding(model, sg, TIED, params["table"], ids, "h")
        assert h is not None
        for out, names, w, size in (("u", UP, "up", HIDDEN), ("logits", TIED, "table", VOCAB)):
            found = weights.fully_connected(model, sg, names, params[w])
            assert found is not None
            filt, options = found
            assert options.keepNumDims
            y = sg.add_tensor(out, np.float32, (rows, size))
            sg.add_builtin_op("FULLY_CONNECTED", [h, filt, None], [y], options=options)
            sg.add_output(y, out)
    model.write(path)
    return model


@pytest.mark.parametrize("recipe", ["int8", "int4-b32,lm_head=int8", "fp16"])
def test_hook_builds_a_model_that_runs(recipe: str, params, tmp_path: Path) -> None:
    written: list[int] = []
    weights = RecipeWeights(recipe, on_bytes=written.append)
    path = tmp_path / "m.tflite"
    model = build(weights, params, path)
    scales = sum(w.scales.nbytes for w in weights.quantized(model) if w.scheme.block_size)
    assert sum(written) + scales == weights.nbytes  # progress: every data byte, once
    # The tied table is quantized and stored once for the lookup and the lm_head.
    quantized = weights.quantized(model)
    assert len(weights.report.entries) == len(quantized) == 2
    blockwise_scales = 1 if "int4" in recipe else 0
    assert model.num_buffers == 1 + 2 + blockwise_scales  # + the empty buffer 0
    data = path.read_bytes()
    assert all(data.count(w.stored_values().tobytes()) == 1 for w in quantized)
    # Lazy by default: encoded while written, so the error statistics exist only now.
    assert all(w.lazy for w in quantized)
    assert all(e.stats is not None for e in weights.report.entries)

    runtime = Model(path, weight_cache_path=tmp_path / "m.cache")
    ids = np.array([1, 255, 7], np.int32)
    out = runtime.run("prefill", ids=ids)
    table = params["table"].numpy()
    np.testing.assert_allclose(out["logits"], table[ids] @ table.T, atol=0.01, rtol=0.05)
    np.testing.assert_allclose(out["u"], table[ids] @ params["up"].numpy().T, atol=0.01)


def test_weights_are_per_model(params) -> None:
    """A hook reused for a second conversion quantizes that model's weights again."""
    weights = RecipeWeights("int8")
    first, second = ModelWriter(), ModelWriter()
    weights.fully_connected(first, first.add_subgraph("decode"), UP, params["up"])
    other = params["up"] * 2
    weights.fully_connected(second, second.add_subgraph("decode"), UP, other)
    a, b = weights.quantized(first)[0], weights.quantized(second)[0]
    assert a is not b
    np.testing.assert_allclose(b.dequantize(), 2 * a.dequantize(), rtol=1e-6)


def test_fp32_weights_are_left_to_the_exporter(params) -> None:
    weights = RecipeWeights("int8,lm_head=fp32,tok_embedding=fp32")
    model = ModelWriter()
    sg = model.add_subgraph("decode")
    ids = sg.add_input("ids", np.int32, (1,))
    assert weights.fully_connected(model, sg, TIED, params["table"]) is None
    assert weights.embedding(model, sg, TIED, params["table"], ids, "h") is None
    assert model.num_buffers == 1
    assert RecipeWeights("none").is_float and not RecipeWeights("fp32,lm_head=int8").is_float


def test_hook_errors(params) -> None:
    weights = RecipeWeights("int8")
    model, other = ModelWriter(), ModelWriter()
    with pytest.raises(QuantizationError, match="not part of the model"):
        weights.fully_connected(model, other.add_subgraph("decode"), UP, params["up"])
    with pytest.raises(QuantizationError, match="float weights only"):
        sg = model.add_subgraph("decode")
        weights.fully_connected(model, sg, ("i",), torch.ones(4, 4, dtype=torch.int64))


def test_bfloat16_parameters_are_widened(params) -> None:
    weights = RecipeWeights("int8")
    model = ModelWriter()
    found = weights.fully_connected(
        model, model.add_subgraph("decode"), UP, params["up"].to(torch.bfloat16)
    )
    assert found is not None and found[0].dtype.name == "int8"
