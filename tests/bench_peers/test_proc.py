"""The measured subprocess (benchmarks/peers/proc.py) and the made-once cache of model
files (benchmarks/peers/run.py)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from benchmarks.peers.proc import Measured, PeerFailed, run_measured
from benchmarks.peers.run import made_once


def test_peak_rss_is_the_childs() -> None:
    size = 300 * 2**20
    code = f"b = bytearray({size}); b[::4096] = b'x' * len(b[::4096]); print('done')"
    measured = run_measured([sys.executable, "-c", code])
    assert measured.returncode == 0 and measured.stdout.strip() == "done"
    assert measured.peak_rss_bytes >= size  # the buffer was touched, so it was resident
    assert measured.wall_seconds > 0


def test_failure_names_the_exit_code_and_keeps_output() -> None:
    code = "import sys; print('partial'); sys.stderr.write('boom'); sys.exit(3)"
    with pytest.raises(PeerFailed, match=r"^exit 3: ") as info:
        run_measured([sys.executable, "-c", code])
    assert "partial" in str(info.value) and "boom" in str(info.value)
    unchecked = run_measured([sys.executable, "-c", code], check=False)
    assert unchecked.returncode == 3 and unchecked.stderr == "boom"


def test_killed_by_a_signal() -> None:
    code = "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"
    with pytest.raises(PeerFailed, match=r"^exit -9 \(killed by signal 9"):
        run_measured([sys.executable, "-c", code])


def test_made_once(tmp_path: Path) -> None:
    out = tmp_path / "sub" / "model.bin"
    calls = []

    def make() -> Measured:
        calls.append(1)
        out.write_bytes(b"weights")
        return Measured(("convert", str(out)), 0, 12.5, 4096, "", "")

    first = made_once(out, make)
    second = made_once(out, make)
    assert len(calls) == 1
    assert first == {**second, "cached": False} and second["cached"] is True
    assert second["wall_seconds"] == 12.5 and second["peak_rss_bytes"] == 4096
    record = json.loads((tmp_path / "sub" / "model.bin.build.json").read_text())
    assert record["command"] == f"convert {out}"
    # without its record the file is not trusted (a run killed while writing it): remade
    (tmp_path / "sub" / "model.bin.build.json").unlink()
    made_once(out, make)
    assert len(calls) == 2


def test_conversion_cost_of_a_row_sums_its_steps(tmp_path: Path) -> None:
    from benchmarks.peers.parsing import Speeds
    from benchmarks.peers.run import _row

    steps = {
        "convert_f16": {"wall_seconds": 13.0, "peak_rss_bytes": 700},
        "quantize": {"wall_seconds": 5.0, "peak_rss_bytes": 500},
        "model_size": 1234,  # not a build step
    }
    row = _row("llama.cpp Q8_0", None, Speeds(150.0, 40.0), 900, extra=steps)
    assert row.convert_seconds == 18.0 and row.convert_peak_rss_bytes == 700
    assert _row("x", None, Speeds(1.0, 1.0), None).convert_seconds is None


def test_checkpoint_module_makes_the_checkpoint_and_prints_its_path(tmp_path: Path) -> None:
    """run.py takes the checkpoint path from the last stdout line of this subprocess."""
    repo = Path(__file__).resolve().parents[2]
    cmd = [sys.executable, "-m", "benchmarks.peers.checkpoint", str(tmp_path), "--quick"]
    measured = run_measured(cmd, cwd=repo)
    ckpt = Path(measured.stdout.strip().splitlines()[-1])
    assert ckpt == tmp_path / "quick"
    for name in ("config.json", "model.safetensors", "tokenizer.model"):
        assert (ckpt / name).is_file(), name
