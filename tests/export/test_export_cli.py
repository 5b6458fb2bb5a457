"""``litegen convert`` / ``python -m litegen.cli convert``: output, progress, one-line errors."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
from ai_edge_litert.interpreter import Interpreter

from litegen.cli.main import main
from litegen.export.tflite_schema import schema


def test_cli_converts_with_progress(family, tmp_path, capsys):
    ckpt = family("llama").checkpoint
    out = tmp_path / "llama.tflite"
    args = ["convert", str(ckpt), "-o", str(out), "--form", "portable", "--max-context", "16"]
    assert main(args) == 0
    captured = capsys.readouterr()
    assert f"wrote {out}" in captured.out
    assert "lowering prefill" in captured.err and "writing llama.tflite" in captured.err
    interp = Interpreter(model_path=str(out))
    assert set(interp.get_signature_list()) == {"prefill", "decode"}
    decode = interp.get_signature_runner("decode")
    feeds = {
        name: np.zeros(detail["shape"], np.float32)
        for name, detail in decode.get_input_details().items()
        if name.startswith("kv_cache")
    }
    assert feeds["kv_cache_v_0"].shape[-1] == 16  # transposed V: context last
    result = decode(tokens=np.array([[5]], np.int32), input_pos=np.array([0], np.int32), **feeds)
    assert result["logits"].shape == (1, 1, 256)

    # Existing output: a one-line error, exit status 1, the file untouched.
    before = out.read_bytes()
    assert main([*args, "--no-progress"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("litegen: error:") and "already exists" in err
    assert len(err.splitlines()) == 1
    assert out.read_bytes() == before
    assert main([*args, "--no-progress", "--force", "--form", "fast"]) == 0
    assert _cache_types(out) == {schema.TensorType.FLOAT16}  # the fast form's default
    assert main([*args, "--no-progress", "--force", "--form", "fast", "--kv-dtype", "float32"]) == 0
    assert _cache_types(out) == {schema.TensorType.FLOAT32}
    # float16 caches need the fast form: a one-line error, nothing written.
    portable = tmp_path / "p.tflite"
    bad = ["convert", str(ckpt), "-o", str(portable), "--form", "portable", "--kv-dtype", "float16"]
    assert main([*bad, "--no-progress"]) == 1
    err = capsys.readouterr().err.strip()
    assert "needs form='fast'" in err and len(err.splitlines()) == 1
    assert not portable.exists()


def _cache_types(path) -> set[int]:
    """The element types of a model's kv_cache_* inputs."""
    model = schema.ModelT.InitFromPackedBuf(bytearray(path.read_bytes()), 0)
    return {
        model.subgraphs[0].tensors[i].type
        for i in model.subgraphs[0].inputs
        if model.subgraphs[0].tensors[i].name.startswith(b"kv_cache_")
    }


def test_cli_module_reports_errors_on_one_line(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "litegen.cli",
            "convert",
            str(tmp_path / "nope"),
            "-o",
            str(tmp_path / "m.tflite"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert lines[-1].startswith("litegen: error:") and "config.json" in lines[-1]
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "m.tflite").exists()


def test_cli_quant_prints_the_summary(family, tmp_path, capsys):
    ckpt = family("llama").checkpoint
    out = tmp_path / "q.tflite"
    args = ["convert", str(ckpt), "-o", str(out), "--quant", "int4-b32,lm_head=int8"]
    assert main([*args, "--max-context", "16", "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "int4-b32" in printed and "int8" in printed  # bytes by scheme
    assert "largest relative errors" in printed  # the worst weights, int4 ones here
    assert f"wrote {out}" in printed
    # a bad recipe: one line, nothing written
    bad = ["convert", str(ckpt), "-o", str(tmp_path / "bad.tflite"), "--quant", "int3"]
    assert main(bad) == 1
    assert "unknown quantization scheme 'int3'" in capsys.readouterr().err
    assert not (tmp_path / "bad.tflite").exists()
