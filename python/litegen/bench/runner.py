"""Runs ``litegen-run`` benchmark processes, one per measurement.

A fresh process per measurement makes its init time (model load + compile) and its peak
RSS belong to that measurement alone. The weight cache is always an explicit file that
the harness controls: deleting it before a run gives a cold init (XNNPack packs the
weights and writes the cache), keeping it a warm one (the packed weights are mapped).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from litegen.bench.errors import BenchmarkError
from litegen.bench.results import (
    BandwidthMeasurement,
    LlmMeasurement,
    parse_bandwidth,
    parse_llm,
)

BINARY_ENV = "LITEGEN_RUN"  # overrides where litegen-run is found


def find_litegen_run() -> Path:
    """$LITEGEN_RUN, else litegen-run next to this Python (the venv's bin/), else PATH."""
    override = os.environ.get(BINARY_ENV)
    if override:
        path = Path(override)
        if not path.is_file():
            raise BenchmarkError(f"${BINARY_ENV} is '{path}', which is not a file")
        return path
    beside = Path(sys.executable).parent / "litegen-run"
    if beside.is_file():
        return beside
    found = shutil.which("litegen-run")
    if found:
        return Path(found)
    raise BenchmarkError(
        "litegen-run not found (next to the Python interpreter or on PATH): install litegen "
        f"with its native build (make install) or set ${BINARY_ENV}"
    )


@dataclass(frozen=True)
class ProcessResult:
    stdout: str
    stderr: str
    wall_seconds: float
    peak_rss_bytes: int  # the child's ru_maxrss, as the OS reports it


def run_process(cmd: list[str]) -> ProcessResult:
    """Runs ``cmd``; BenchmarkError (with its stderr) if it fails."""
    # Output goes to files, not pipes: nobody reads a pipe while wait4 blocks.
    with tempfile.TemporaryFile() as out_f, tempfile.TemporaryFile() as err_f:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out_f, stderr=err_f)
        # wait4 gives this child's own rusage (RUSAGE_CHILDREN would mix in earlier runs).
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = code = os.waitstatus_to_exitcode(status)
        out_f.seek(0)
        err_f.seek(0)
        stdout = out_f.read().decode(errors="replace")
        stderr = err_f.read().decode(errors="replace")
    if code != 0:
        # LiteRT's unconditional "INFO: Created TensorFlow Lite XNNPACK delegate" is noise.
        reason = " ".join(line for line in stderr.splitlines() if not line.startswith("INFO: "))
        raise BenchmarkError(f"{' '.join(cmd)} failed (exit status {code}): {reason.strip()}")
    return ProcessResult(stdout, stderr, wall, usage.ru_maxrss * 1024)  # Linux: KiB


def remove_weight_cache(cache: Path) -> None:
    """Deletes a weight cache and litegen's fingerprint beside it (the next init is cold)."""
    for path in (cache, cache.with_name(cache.name + ".fingerprint")):
        path.unlink(missing_ok=True)


@dataclass(frozen=True)
class BenchRunner:
    """Spawns litegen-run for one model with a fixed thread count and weight-cache file.

    ``weight_cache=None`` runs without a weight cache (the packed weights are then rebuilt
    by every process and not shared by prefill and decode).
    """

    model: Path
    threads: int
    weight_cache: Path | None
    binary: Path

    def llm(
        self,
        prompt_tokens: int,
        decode_tokens: int,
        *,
        warmup: int = 1,
        repeat: int = 3,
        cold: bool = False,
    ) -> LlmMeasurement:
        """One ``litegen-run --bench`` process; ``cold`` deletes the weight cache first."""
        if cold and self.weight_cache is not None:
            remove_weight_cache(self.weight_cache)
        cmd = [
            str(self.binary),
            "--model",
            str(self.model),
            "--bench",
            "--prompt-tokens",
            str(prompt_tokens),
            "--decode-tokens",
            str(decode_tokens),
            "--warmup",
            str(warmup),
            "--repeat",
            str(repeat),
            "--threads",
            str(self.threads),
            "--json",
        ]
        if self.weight_cache is None:
            cmd.append("--no-weight-cache")
        else:
            self.weight_cache.parent.mkdir(parents=True, exist_ok=True)
            cmd += ["--weight-cache", str(self.weight_cache)]
        result = run_process(cmd)
        measurement = parse_llm(result.stdout)
        if cold and self.weight_cache is not None and measurement.weight_cache_state != "cold":
            raise BenchmarkError(
                f"expected a cold init after deleting '{self.weight_cache}', litegen-run "
                f"reports {measurement.weight_cache_state!r}"
            )
        return measurement

    def init(self, *, cold: bool) -> LlmMeasurement:
        """Init only (plus the shortest possible run): cold or warm weight cache."""
        return self.llm(1, 0, warmup=0, repeat=1, cold=cold)


def measure_bandwidth(
    binary: Path, threads: int, *, buffer_mib: int = 1024, repeat: int = 5
) -> BandwidthMeasurement:
    """The machine's memory-read bandwidth with ``threads`` threads (best pass)."""
    cmd = [
        str(binary),
        "--measure-bandwidth",
        "--threads",
        str(threads),
        "--bandwidth-mib",
        str(buffer_mib),
        "--repeat",
        str(repeat),
        "--json",
    ]
    return parse_bandwidth(run_process(cmd).stdout)
