"""Smoke test of benchmarks/convert_benchmark.py on a tiny shape: it runs and reports
sane numbers (its timings are not checked: the benchmark is not a test)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "convert_benchmark.py"


def test_convert_benchmark_tiny(tmp_path):
    out = tmp_path / "bench.json"
    cmd = [sys.executable, str(SCRIPT), "--tiny", "--ckpt-dir", str(tmp_path / "ckpt")]
    cmd += ["--quant", "int8", "--quant", "int4", "--max-context", "64", "--json", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert "| int8 | tflite | fast | 64 |" in proc.stdout
    result = json.loads(out.read_text())
    assert result["shape"]["name"] == "tiny" and result["checkpoint_bytes"] > 0
    assert result["machine"]["cpu_count"] >= 1 and len(result["machine"]["load_avg_after"]) == 3
    assert [r["quant"] for r in result["runs"]] == ["int8", "int4"]
    for run in result["runs"]:
        assert run["format"] == "tflite" and run["form"] == "fast" and run["max_context"] == 64
        for key in ("wall_s", "cpu_user_s", "peak_rss_bytes", "file_bytes"):
            assert run[key] > 0, key
    assert result["runs"][1]["file_bytes"] < result["runs"][0]["file_bytes"]  # int4 < int8


def test_convert_benchmark_tiny_bundle(tmp_path):
    """--format litegen adds a tokenizer to the checkpoint and times the bundle next to
    the .tflite."""
    out = tmp_path / "bench.json"
    cmd = [sys.executable, str(SCRIPT), "--tiny", "--ckpt-dir", str(tmp_path / "ckpt")]
    cmd += ["--format", "tflite", "--format", "litegen", "--max-context", "64"]
    proc = subprocess.run([*cmd, "--json", str(out)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert "| int8 | litegen | fast | 64 |" in proc.stdout
    assert (tmp_path / "ckpt" / "tiny" / "tokenizer.model").is_file()
    runs = json.loads(out.read_text())["runs"]
    assert [r["format"] for r in runs] == ["tflite", "litegen"]
    assert runs[1]["file_bytes"] > runs[0]["file_bytes"]  # + tokenizer and metadata
