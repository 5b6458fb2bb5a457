"""benchmarks/android/run_android.py against a fake ``adb`` (first on PATH) that records
every call and answers like a device: cpufreq files for the core mask, a bench.json on
``pull``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from benchmarks.android.run_android import (
    AndroidBenchError,
    fastest_cpu_mask,
    parse_max_freqs,
)

from tests.bench.test_results import llm_document

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "android" / "run_android.py"
# A 1 + 3 + 4 layout: cpu7 is the prime core, cpu4-6 the big ones, cpu0-3 the little ones.
FREQS = {0: 1800000, 1: 1800000, 2: 1800000, 3: 1800000, 4: 2400000, 5: 2400000, 6: 2400000}
FREQS[7] = 3000000

FAKE_ADB = textwrap.dedent(
    """\
    #!{python}
    import json, os, sys
    args = sys.argv[1:]
    with open(os.environ["FAKE_ADB_LOG"], "a") as log:
        log.write(json.dumps(args) + "\\n")
    if args[:1] == ["-s"]:
        args = args[2:]
    fail = os.environ.get("FAKE_ADB_FAIL_ON")
    if fail and fail in " ".join(args):
        sys.stderr.write("device error: " + fail + "\\n")
        sys.exit(1)
    if args[0] == "push":
        sys.exit(0 if os.path.isfile(args[1]) else 1)
    if args[0] == "pull":
        with open(os.environ["FAKE_ADB_PULL"]) as src, open(args[2], "w") as dst:
            dst.write(src.read())
        sys.exit(0)
    if args[0] == "shell" and "cpuinfo_max_freq" in args[1]:
        print(os.environ["FAKE_ADB_FREQS"].replace(",", "\\n"))
    """
)


@pytest.fixture
def device(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The fake adb on PATH; returns the call log."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    adb = bin_dir / "adb"
    adb.write_text(FAKE_ADB.format(python=sys.executable))
    adb.chmod(0o755)
    log = tmp_path / "adb_calls.jsonl"
    pulled = tmp_path / "device_bench.json"
    pulled.write_text(json.dumps(llm_document()))
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_ADB_LOG", str(log))
    monkeypatch.setenv("FAKE_ADB_PULL", str(pulled))
    monkeypatch.setenv("FAKE_ADB_FREQS", ",".join(f"cpu{c}:{f}" for c, f in FREQS.items()))
    monkeypatch.delenv("ADB", raising=False)
    monkeypatch.delenv("ANDROID_SERIAL", raising=False)
    for name in ("litegen-run", "libLiteRt.so", "model.tflite"):
        (tmp_path / name).write_bytes(b"x")
    return log


def run_script(tmp_path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, str(SCRIPT), "--binary", str(tmp_path / "litegen-run")]
    cmd += [
        "--litert-lib",
        str(tmp_path / "libLiteRt.so"),
        "--model",
        str(tmp_path / "model.tflite"),
    ]
    return subprocess.run([*cmd, *extra], capture_output=True, text=True, check=False)


def calls(log: Path) -> list[list[str]]:
    return [json.loads(line) for line in log.read_text().splitlines()]


def test_pushes_pins_runs_and_pulls(device: Path, tmp_path: Path) -> None:
    out = tmp_path / "result.json"
    proc = run_script(tmp_path, "-s", "SER123", "--prompt-tokens", "64", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    log = calls(device)
    assert all(c[:2] == ["-s", "SER123"] for c in log)
    pushes = {c[3]: c[4] for c in log if c[2] == "push"}
    assert pushes == {
        str(tmp_path / "libLiteRt.so"): "/data/local/tmp/litegen/libLiteRt.so",
        str(tmp_path / "litegen-run"): "/data/local/tmp/litegen/litegen-run",
        str(tmp_path / "model.tflite"): "/data/local/tmp/litegen/model.tflite",
    }
    run = [c[3] for c in log if c[2] == "shell" and "--bench" in c[3]]
    assert len(run) == 1
    # 4 threads: the prime core (cpu7) and the 3 big ones (cpu4-6), mask in hex for taskset.
    assert "taskset f0 ./litegen-run" in run[0]
    assert "LD_LIBRARY_PATH=/data/local/tmp/litegen" in run[0]
    for flag in ("--threads 4", "--prompt-tokens 64", "--json-file bench.json"):
        assert flag in run[0]
    pulls = [c for c in log if c[2] == "pull"]
    assert len(pulls) == 1 and pulls[0][3] == "/data/local/tmp/litegen/bench.json"
    # The pull comes after the run, which comes after every push.
    order = [
        i for i, c in enumerate(log) if c[2] == "push" or "--bench" in " ".join(c) or c[2] == "pull"
    ]
    assert log[order[-1]][2] == "pull" and "--bench" in log[order[-2]][3]
    expected = llm_document()
    assert f"| {expected['prefill_tokens_per_second']:.1f} |" in proc.stdout
    saved = json.loads(out.read_text())
    assert saved["decode_tokens_per_second"] == expected["decode_tokens_per_second"]
    assert saved["cpu_mask"] == "0xf0"


def test_android_serial_from_the_environment(
    device: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANDROID_SERIAL", "FROM_ENV")
    proc = run_script(tmp_path, "--json", "--skip-model-push", "--cold", "--threads", "1")
    assert proc.returncode == 0, proc.stderr
    log = calls(device)
    assert all(c[:2] == ["-s", "FROM_ENV"] for c in log)
    assert not any(c[2] == "push" and c[3].endswith("model.tflite") for c in log)
    assert any(c[2] == "shell" and "rm -f" in c[3] and "xnnpack_cache" in c[3] for c in log)
    assert any("taskset 80 ./litegen-run" in c[3] for c in log if c[2] == "shell")  # prime
    assert json.loads(proc.stdout)["prefill_tokens_per_second"] > 0


def test_device_failure_is_reported(
    device: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_ADB_FAIL_ON", "--bench")
    proc = run_script(tmp_path)
    assert proc.returncode == 1
    assert "device error: --bench" in proc.stderr
    assert not any(c[0] == "pull" for c in calls(device))


def test_core_mask_parsing() -> None:
    text = "\n".join(f"cpu{c}:{f}" for c, f in FREQS.items())
    assert parse_max_freqs(text) == FREQS
    assert fastest_cpu_mask(FREQS, 1) == 0x80
    assert fastest_cpu_mask(FREQS, 2) == 0xF0  # cpu4-6 tie for second place
    assert fastest_cpu_mask(FREQS, 4) == 0xF0
    assert fastest_cpu_mask(FREQS, 5) == 0xFF
    assert fastest_cpu_mask(FREQS, 64) == 0xFF
    assert fastest_cpu_mask({0: 1, 1: 2, 2: 2, 3: 2}, 3) == 0b1110
    with pytest.raises(AndroidBenchError):
        parse_max_freqs("cat: /sys/...: Permission denied")
    with pytest.raises(AndroidBenchError):
        parse_max_freqs("")
