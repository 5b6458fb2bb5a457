"""QuantReport summarises sizes and errors; QuantRecipe.quantize picks the scheme."""

from __future__ import annotations

import numpy as np

from litegen.quantize import FP32, INT4_B32, INT8, QuantReport, parse_recipe


def test_recipe_quantize_and_report() -> None:
    rng = np.random.default_rng(0)
    recipe = parse_recipe("int4,lm_head=int8")
    q_proj = rng.standard_normal((64, 128)).astype(np.float32)
    lm_head = rng.standard_normal((256, 128)).astype(np.float32)
    norm = np.ones(128, np.float32)
    report = QuantReport()
    weights = [
        recipe.quantize(q_proj, "transformer_blocks.0.attn.q_proj.weight"),
        recipe.quantize(lm_head, ["lm_head.weight", "tok_embedding.weight"]),
        recipe.quantize(norm, "final_norm.weight", "other"),
    ]
    assert [w.scheme for w in weights] == [INT4_B32, INT8, FP32]
    assert weights[1].name == "lm_head.weight"
    for w in weights:
        report.add(w)
    assert report.nbytes == sum(w.nbytes for w in weights)
    assert report.float_nbytes == 4 * (q_proj.size + lm_head.size + norm.size)
    assert report.by_scheme() == {
        "int4-b32": (1, weights[0].nbytes),
        "int8": (1, lm_head.size),
        "fp32": (1, norm.nbytes),
    }
    assert report.worst(1)[0].name == "transformer_blocks.0.attn.q_proj.weight"
    text = report.format()
    assert "int4-b32" in text and "transformer_blocks.0.attn.q_proj.weight [int4-b32]" in text
    assert "final_norm.weight [" not in text  # exact weights are not listed as errors
