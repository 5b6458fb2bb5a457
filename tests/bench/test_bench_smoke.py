"""Smoke runs of the benchmark on a tiny converted model: the JSON has its schema and the
numbers are positive. No speed is asserted (speed belongs in benchmarks/)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from litegen.bench import BenchmarkError, BenchRunner, SweepConfig, find_litegen_run, run_sweep
from litegen.bench.compute_peak import MatmulShape
from litegen.bench.report import single_markdown, sweep_markdown
from litegen.bench.runner import measure_bandwidth
from litegen.bench.sweep import decode_prompt
from litegen.runtime.model import default_weight_cache_path
from tests.bench.conftest import TINY_CONTEXT

CLI_KEYS = (
    "prefill_tokens_per_second",
    "decode_tokens_per_second",
    "time_to_first_token_seconds",
    "init_seconds",
    "peak_rss_bytes",
)


def runner_for(model: Path, tmp_path: Path) -> BenchRunner:
    return BenchRunner(model, 1, tmp_path / "w.xnnpack_cache", find_litegen_run())


def test_cold_then_warm_measurement(tiny_model: Path, tmp_path: Path) -> None:
    runner = runner_for(tiny_model, tmp_path)
    cold = runner.llm(16, 8, warmup=1, repeat=2, cold=True)
    warm = runner.llm(16, 8, warmup=0, repeat=2)
    assert (cold.weight_cache_state, warm.weight_cache_state) == ("cold", "warm")
    for m in (cold, warm):
        assert m.prompt_tokens == 16 and m.decode_tokens == 8 and len(m.runs) == 2
        assert m.max_context == TINY_CONTEXT and m.num_layers == 2
        assert m.model_file_bytes == tiny_model.stat().st_size
        assert m.init_seconds > 0 and m.peak_rss_bytes >= m.rss_after_init_bytes > 0
        assert m.model_huge_page_bytes is not None
        assert 0 <= m.model_huge_page_bytes <= m.model_file_bytes
        for r in m.runs:
            assert r.decoded_tokens == 8
            assert r.prefill_seconds > 0 and r.decode_seconds > 0
            assert r.prefill_tokens_per_second == pytest.approx(16 / r.prefill_seconds)
            assert r.time_to_first_token_seconds >= r.prefill_seconds
            assert r.decode_tokens_per_second > 0


def test_a_cache_for_an_older_model_file_is_a_cold_init(tiny_model: Path, tmp_path: Path) -> None:
    model = tmp_path / "copy.tflite"
    shutil.copyfile(tiny_model, model)
    runner = runner_for(model, tmp_path)
    states = [runner.llm(4, 1, warmup=0, repeat=1).weight_cache_state for _ in range(2)]
    assert states == ["cold", "warm"]
    stat = model.stat()
    os.utime(model, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # "rewritten"
    assert runner.llm(4, 1, warmup=0, repeat=1).weight_cache_state == "cold"


def test_no_weight_cache_and_prefill_only(tiny_model: Path) -> None:
    runner = BenchRunner(tiny_model, 1, None, find_litegen_run())
    m = runner.llm(TINY_CONTEXT, 0, warmup=0, repeat=1)  # the whole context, no decode
    assert m.weight_cache_state == "none"
    assert m.runs[0].decoded_tokens == 0 and m.runs[0].decode_tokens_per_second == 0
    assert m.runs[0].prefill_tokens_per_second > 0


def test_prompt_plus_decode_over_the_context_is_an_error(tiny_model: Path, tmp_path: Path) -> None:
    with pytest.raises(BenchmarkError, match=f"exceeds the context of {TINY_CONTEXT}"):
        runner_for(tiny_model, tmp_path).llm(TINY_CONTEXT, 1, warmup=0, repeat=1)


def test_decode_prompt_ends_at_the_context() -> None:
    assert decode_prompt(128, 32, 1024) == 128
    assert decode_prompt(1024, 32, 1024) == 1024 - 32
    with pytest.raises(BenchmarkError):
        decode_prompt(16, 64, 64)


def test_bandwidth_is_positive() -> None:
    m = measure_bandwidth(find_litegen_run(), 1, buffer_mib=8, repeat=2)
    assert m.threads == 1 and m.buffer_bytes <= 8 << 20 and len(m.passes_gb_per_s) == 2
    assert m.read_gb_per_s == max(m.passes_gb_per_s) > 0


def test_quick_sweep_report_and_plot(tiny_model: Path, tmp_path: Path) -> None:
    config = SweepConfig(
        threads=1,
        prefill_lengths=(8, 32, 2 * TINY_CONTEXT),  # the last one does not fit: skipped
        decode_depths=(16, TINY_CONTEXT),
        decode_tokens=8,
        warmup=0,
        repeat=2,
        init_repeat=1,
        bandwidth_mib=8,
        matmul=MatmulShape(rows=8, hidden=32, inner=64, pairs=1),
    )
    result = run_sweep(runner_for(tiny_model, tmp_path), config)
    json.dumps(result)  # JSON-ready
    assert result["schema"] == "litegen.bench.sweep/1"
    assert [e["prompt_tokens"] for e in result["prefill"]] == [8, 32]
    assert [(e["depth"], e["prompt_tokens"]) for e in result["decode"]] == [
        (16, 16),
        (TINY_CONTEXT, TINY_CONTEXT - 8),
    ]
    for e in result["prefill"]:
        assert e["tokens_per_second"]["median"] > 0 and e["percent_of_compute_limit"] > 0
        assert e["time_to_first_token_seconds"]["n"] == 2
    for e in result["decode"]:
        assert e["tokens_per_second"]["min"] > 0 and e["percent_of_bandwidth_limit"] > 0
    assert result["init"]["cold_seconds"]["median"] > 0
    assert result["init"]["warm_seconds"]["median"] > 0
    assert result["peak_rss_bytes"] > 0
    limits = result["limits"]
    assert limits["bandwidth_gb_per_s"] > 0 and limits["compute_peak_gops"] > 0
    assert limits["weight_bytes"] > 0 and result["model"]["file_bytes"] > 0
    # Deeper decode reads more of the KV cache: a lower bandwidth limit.
    shallow, deep = (e["bandwidth_limit_tokens_per_second"] for e in result["decode"])
    assert limits["decode_limit_tokens_per_second"] > shallow > deep > 0

    table = sweep_markdown(result)
    assert "| prefill 32 tokens (tok/s) |" in table
    assert f"| decode at depth {TINY_CONTEXT - 8} (for {TINY_CONTEXT}:" in table
    assert "memory-read bandwidth" in table

    pytest.importorskip("matplotlib")
    from litegen.bench.plot import plot_sweep

    png = plot_sweep(result, tmp_path / "out" / "bench.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_json(tiny_model: Path, tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "litegen.cli", "bench", str(tiny_model)]
    cmd += ["--prompt-tokens", "16", "--decode-tokens", "8", "--threads", "1", "--repeat", "2"]
    cache = tmp_path / "cli.cache"
    out = subprocess.run(
        [*cmd, "--weight-cache", str(cache), "--json"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    lines = out.strip().splitlines()
    assert len(lines) == 1  # exactly one JSON object on stdout
    result = json.loads(lines[0])
    for key in CLI_KEYS:
        assert result[key] > 0, key
    assert result["prompt_tokens"] == 16 and result["decode_tokens"] == 8
    assert result["weight_cache_state"] == "cold" and cache.is_file()
    assert len(result["runs"]) == 2
    assert "| prefill 16 tokens (tok/s) |" in single_markdown(result)

    text = subprocess.run(
        [*cmd, "--weight-cache", str(cache)], capture_output=True, text=True, check=True
    ).stdout
    assert "(warm weight cache)" in text

    bad = subprocess.run(
        [*cmd[:4], str(tmp_path / "missing.tflite")], capture_output=True, text=True
    )
    assert bad.returncode == 1 and "missing.tflite" in bad.stderr


def test_litegen_run_and_python_pick_the_same_default_cache(
    tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LITEGEN_CACHE_DIR", str(tmp_path / "cache"))
    cmd = [str(find_litegen_run()), str(tiny_model), "--bench", "--prompt-tokens", "4"]
    cmd += ["--decode-tokens", "1", "--warmup", "0", "--repeat", "1", "--threads", "1", "--json"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    expected = default_weight_cache_path(tiny_model)
    assert json.loads(out.strip().splitlines()[-1])["weight_cache"] == str(expected)
    assert expected.is_file()


def test_bench_script_writes_its_outputs(tiny_model: Path, tmp_path: Path) -> None:
    """benchmarks/bench.py end to end (quick settings, on the tiny model)."""
    script = Path(__file__).resolve().parents[2] / "benchmarks" / "bench.py"
    out_dir = tmp_path / "results"
    cmd = [sys.executable, str(script), "--quick", "--model", str(tiny_model)]
    cmd += ["--threads", "1", "--repeat", "1", "--init-repeat", "1", "--decode-depths", "8,16"]
    cmd += ["--prefill-lengths", "8,16", "--out-dir", str(out_dir)]
    plot = True
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        cmd.append("--no-plot")
        plot = False
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    result = json.loads((out_dir / "bench.json").read_text())
    assert result["schema"] == "litegen.bench.sweep/1"
    assert result["settings"]["threads"] == 1 and result["settings"]["repeat"] == 1
    assert [e["depth"] for e in result["decode"]] == [8, 16]
    assert result["command"].startswith("python benchmarks/bench.py --quick")
    table = (out_dir / "bench.md").read_text()
    assert table.strip() in proc.stdout
    assert "| prefill 16 tokens (tok/s) |" in table
    assert (out_dir / "bench.png").is_file() == plot
