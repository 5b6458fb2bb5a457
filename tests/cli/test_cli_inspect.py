"""``litegen inspect``: checked against independent sources: the C++ runtime's view of the
signatures and custom ops, the HF checkpoint's parameter sizes, the model's architecture
(operator counts), the tokenizer itself, and Google's Model Explorer when installed."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from safetensors.numpy import load_file
from tests.cli.conftest import CliModel, litegen_command

NUM_LAYERS = 2  # tests/bundle/checkpoints.py
LINEARS_PER_LAYER = 4  # qkv, o, gate_up, down: the fast form fuses the projections


def inspect_json(model: CliModel, path: Path, *python_args: str) -> dict:
    command = litegen_command("inspect", str(path), "--json")
    proc = subprocess.run(
        [command[0], *python_args, *command[1:]],
        capture_output=True,
        text=True,
        timeout=60,
        env=model.env(),
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def checkpoint_tensors(model: CliModel) -> dict:
    return load_file(model.tokenizer.parent / "model.safetensors")


@pytest.fixture(scope="module")
def int8_bundle(cli_model: CliModel, tmp_path_factory) -> Path:
    import litegen

    out = tmp_path_factory.mktemp("inspect_int8") / "q8.litegen"
    ckpt = cli_model.tokenizer.parent
    return Path(litegen.convert(ckpt, out, quant="int8", max_context=64, progress=False))


def test_signatures_and_custom_ops_match_the_runtime(cli_model):
    import litegen

    report = inspect_json(cli_model, cli_model.bundle)
    runtime = litegen.Model(cli_model.bundle, num_threads=1, weight_cache=False)
    assert [s["name"] for s in report["signatures"]] == list(runtime.signatures)
    for sig in report["signatures"]:
        spec = runtime.signatures[sig["name"]]
        for side, specs in (("inputs", spec.inputs), ("outputs", spec.outputs)):
            got = {t["name"]: (t["dtype"], tuple(t["shape"])) for t in sig[side]}
            want = {t.name: (str(t.dtype), t.shape) for t in specs}
            assert got == want
    assert report["custom_ops"] == sorted(runtime.custom_ops)


def test_operator_histogram_follows_the_architecture(cli_model):
    report = inspect_json(cli_model, cli_model.bundle)
    for sig in report["signatures"]:
        ops = sig["op_histogram"]
        # Every projection plus the LM head is one FULLY_CONNECTED; one fused attention,
        # one cache update (K and V together) and one gated activation per layer.
        assert ops["FULLY_CONNECTED"] == LINEARS_PER_LAYER * NUM_LAYERS + 1
        assert ops["LITEGEN_SDPA"] == NUM_LAYERS
        assert ops["LITEGEN_KV_CACHE_UPDATE"] == NUM_LAYERS
        assert ops["LITEGEN_GLU"] == NUM_LAYERS
        assert list(ops.values()) == sorted(ops.values(), reverse=True)


def test_weight_bytes_match_the_checkpoint(cli_model):
    report = inspect_json(cli_model, cli_model.bundle)
    tensors = checkpoint_tensors(cli_model)
    weights = report["weights"]
    for i in range(NUM_LAYERS):
        layer_bytes = sum(
            t.nbytes for name, t in tensors.items() if name.startswith(f"model.layers.{i}.")
        )
        assert weights["by_layer"][f"layer {i}"] == layer_bytes
    # Everything outside the layers: embeddings, final norm, head, plus small constants.
    outside = sum(t.nbytes for name, t in tensors.items() if ".layers." not in name)
    assert outside <= weights["by_layer"]["other"] < outside + 4096
    assert weights["by_dtype"]["float32"] >= sum(t.nbytes for t in tensors.values())
    assert sum(weights["by_dtype"].values()) == weights["total_bytes"]
    assert weights["by_quantization"] == {"none": weights["total_bytes"]}


def test_bundle_metadata_recipe_and_tokenizer(cli_model, int8_bundle):
    from litegen.tokenizer import Tokenizer

    report = inspect_json(cli_model, int8_bundle)
    assert report["format"] == "litegen" and report["quant_recipe"] == "int8"
    meta = report["metadata"]
    assert meta["context_size"] == 64 and meta["eos_token_ids"] == [2, 5]
    assert meta["chat_template"].startswith("{{ bos_token }}")
    # int8 (dynamic range): every matrix is one byte per parameter.
    tensors = checkpoint_tensors(cli_model)
    matrices = sum(t.size for t in tensors.values() if t.ndim == 2)
    assert report["weights"]["by_dtype"]["int8"] == matrices
    assert report["weights"]["by_quantization"]["per-channel"] == matrices
    tok = Tokenizer.from_file(cli_model.tokenizer)
    summary = report["tokenizer"]
    assert summary["vocab_size"] == tok.vocab_size
    assert summary["special"]["bos"] == {"id": tok.bos_id, "piece": tok.id_to_piece(tok.bos_id)}
    assert summary["model_bytes"] == cli_model.tokenizer.stat().st_size

    bare = inspect_json(cli_model, cli_model.tflite)
    assert bare["format"] == "tflite" and bare["metadata"] is None
    assert bare["tokenizer"] is None and bare["quant_recipe"] is None


def test_blockwise_int4_weights_are_reported_as_such(cli_model, tmp_path):
    """The fast form's interleaved int4 (uint8 block codes as LITEGEN_FC's scales) counts as
    int4 blockwise: half a byte per parameter of every matrix the kernels read."""
    import litegen

    out = tmp_path / "q4.tflite"
    ckpt = cli_model.tokenizer.parent
    litegen.convert(ckpt, out, quant="int4-b32", max_context=64, progress=False)
    report = inspect_json(cli_model, out)
    blockwise = report["weights"]["by_quantization"]["blockwise"]
    assert blockwise == report["weights"]["by_dtype"]["int4"] > 0
    tensors = checkpoint_tensors(cli_model)
    matrices = sum(t.size for t in tensors.values() if t.ndim == 2)
    assert blockwise <= matrices // 2


def test_text_report_and_errors(cli_model, tmp_path):
    proc = subprocess.run(
        litegen_command("inspect", str(cli_model.bundle)),
        capture_output=True,
        text=True,
        timeout=60,
        env=cli_model.env(),
    )
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout
    assert "signature 'prefill'" in text and "signature 'decode'" in text
    assert "in  tokens  int32 [1, ?]" in text  # the dynamic prefill length
    fused = "LITEGEN_GLU, LITEGEN_KV_CACHE_UPDATE, LITEGEN_RMS_NORM, LITEGEN_ROPE, LITEGEN_SDPA"
    assert f"custom ops: {fused}" in text
    assert "quantization 'none'" in text and "tokenizer: sentencepiece" in text

    junk = tmp_path / "junk.tflite"
    junk.write_bytes(b"\0" * 100)
    bad = subprocess.run(
        litegen_command("inspect", str(junk)), capture_output=True, text=True, timeout=60
    )
    assert bad.returncode == 1 and "Traceback" not in bad.stderr
    assert bad.stderr.strip().splitlines() == [
        f"litegen: error: '{junk}' is not a .tflite model (no TFL3 identifier at byte 4); "
        "inspect reads .tflite and .litegen files"
    ]


def test_inspect_needs_no_torch(cli_model):
    """The runtime install has no torch: inspect must not import it (or the exporter's
    torch parts)."""
    blocker = (
        "import sys; sys.modules['torch'] = None; "
        "from litegen.cli.main import main; sys.exit(main(sys.argv[1:]))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", blocker, "inspect", str(cli_model.bundle), "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        env=cli_model.env(),
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["signatures"]


def _model_explorer_python() -> str | None:
    """An interpreter with ai-edge-model-explorer: $LITEGEN_MODEL_EXPLORER_PYTHON (it is
    large, ~500 MB, so it may live in a venv of its own), else this one if it has it."""
    if env := os.environ.get("LITEGEN_MODEL_EXPLORER_PYTHON"):
        return env if shutil.which(env) else None
    try:
        import model_explorer  # noqa: F401
    except ImportError:
        return None
    return sys.executable


MODEL_EXPLORER_SCRIPT = """
import collections, json, sys
from model_explorer.builtin_tflite_flatbuffer_adapter import BuiltinTfliteFlatbufferAdapter
graphs = BuiltinTfliteFlatbufferAdapter().convert(sys.argv[1], {})["graphCollections"]
out = {}
for collection in graphs:
    for graph in collection.graphs:
        out[graph["id"]] = collections.Counter(node["label"] for node in graph["nodes"])
print(json.dumps(out))
"""


def test_model_explorer_loads_our_models(cli_model, int8_bundle):
    """Google's Model Explorer (its TFLite flatbuffer adapter, headless) reads our files and
    sees the operators inspect reports."""
    python = _model_explorer_python()
    if python is None:
        pytest.skip(
            "ai-edge-model-explorer is not installed (pip install ai-edge-model-explorer, "
            "or point LITEGEN_MODEL_EXPLORER_PYTHON at a Python that has it)"
        )
    for path in (cli_model.tflite, cli_model.bundle, int8_bundle):
        proc = subprocess.run(
            [python, "-c", MODEL_EXPLORER_SCRIPT, str(path)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 0, proc.stderr
        graphs = json.loads(proc.stdout)
        report = inspect_json(cli_model, path)
        assert set(graphs) == {s["name"] for s in report["signatures"]}
        for sig in report["signatures"]:
            # Model Explorer adds graph input/output and constant nodes, and lowercases
            # builtin operator names.
            seen = Counter(
                {
                    label: n
                    for label, n in graphs[sig["name"]].items()
                    if label not in ("GraphInputs", "GraphOutputs", "pseudo_const")
                }
            )
            ours = Counter(
                {
                    (name if name.startswith("LITEGEN_") else name.lower()): n
                    for name, n in sig["op_histogram"].items()
                }
            )
            assert seen == ours


def test_damaged_flatbuffers_are_model_load_errors(cli_model, tmp_path):
    """Truncated files and flipped table bytes: a ModelLoadError naming the file, never a
    crash or a runaway read (the generated flatbuffer accessors check nothing)."""
    import random

    from litegen.errors import ModelLoadError
    from litegen.inspection import read_tflite

    data = cli_model.tflite.read_bytes()
    rng = random.Random(0)
    path = tmp_path / "damaged.tflite"
    errors = 0
    for trial in range(200):
        if trial % 2:
            damaged = bytearray(data[: rng.randint(8, 4000)])
        else:
            damaged = bytearray(data)
            for _ in range(20):  # in the flatbuffer tables at the start of the file
                damaged[rng.randrange(8, 3000)] ^= rng.randrange(1, 256)
        path.write_bytes(bytes(damaged))
        try:
            read_tflite(path)
        except ModelLoadError as exc:
            assert str(path) in str(exc)
            errors += 1
    assert errors > 100
