"""The quantization hook: a WeightRecipe decides how FULLY_CONNECTED weights and
embeddings are stored; the exporter calls it once per subgraph and weight."""

from __future__ import annotations

import numpy as np
import torch
from ai_edge_litert.interpreter import Interpreter
from export_helpers import PREFILL_LEN, prompt, rel_diff, sample_args

import litegen
from litegen.export.tflite_schema import schema


class Fp16Weights:
    """A toy recipe: FULLY_CONNECTED weights stored as float16 + DEQUANTIZE; embeddings
    left to the float32 default (None)."""

    def __init__(self) -> None:
        self.buffers: dict[tuple[str, ...], int] = {}
        self.calls: list[tuple[str, tuple[str, ...]]] = []

    def fast_linear(self, model, sg, names, weight):
        return None

    def fully_connected(self, model, sg, names, weight):
        self.calls.append((sg.name, names))
        if names not in self.buffers:  # once per model, shared by the subgraphs
            self.buffers[names] = model.add_buffer(weight.detach().half().numpy())
        shape = tuple(weight.shape)
        half = sg.add_constant(f"{names[0]}.f16", self.buffers[names], np.float16, shape)
        full = sg.add_tensor(f"{names[0]}.f32", np.float32, shape)
        sg.add_builtin_op("DEQUANTIZE", [half], [full])
        opts = schema.FullyConnectedOptionsT()
        opts.keepNumDims = True
        return full, opts

    def embedding(self, model, sg, names, table, ids, out_name):
        return None


def test_recipe_decides_weight_storage(family, tmp_path):
    model = family("qwen2_tied").model
    recipe = Fp16Weights()
    converted = (
        litegen.signature("prefill", model, sample_args(model, PREFILL_LEN))
        .signature("decode", model, sample_args(model, 1))
        .convert(quant_config=recipe, form="portable")
    )
    path = converted.export(tmp_path / "fp16.tflite")
    # tied weights reach the recipe under all their names, once per subgraph
    lm_head = [c for c in recipe.calls if "lm_head.weight" in c[1]]
    assert [c[0] for c in lm_head] == ["prefill", "decode"]
    assert set(lm_head[0][1]) == {"tok_embedding.weight", "lm_head.weight"}
    assert len(recipe.buffers) == 7 * model.config.num_layers + 1

    tokens = prompt(model.config.vocab_size)
    with torch.no_grad():
        ref = model(tokens, torch.arange(PREFILL_LEN), model.new_kv_cache(max_seq_len=32))
    runner = Interpreter(model_path=str(path)).get_signature_runner("prefill")
    feeds = {
        name: np.zeros(detail["shape"], np.float32)
        for name, detail in runner.get_input_details().items()
        if name.startswith("kv_cache")
    }
    out = runner(
        tokens=tokens.numpy().astype(np.int32),
        input_pos=np.arange(PREFILL_LEN, dtype=np.int32),
        **feeds,
    )
    assert rel_diff(out["logits"], ref.numpy()) <= 1e-2  # float16 weights
