"""One measured subprocess: its wall time, peak RSS and output.

Every peer runs in its own process so that its peak RSS is its own: ``os.wait4`` returns
the child's rusage (``RUSAGE_CHILDREN`` would mix in every earlier child)."""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path


class PeerFailed(RuntimeError):
    """A peer's command exited non-zero (its output is in the message)."""


@dataclass(frozen=True)
class Measured:
    args: tuple[str, ...]
    returncode: int
    wall_seconds: float
    peak_rss_bytes: int
    stdout: str
    stderr: str


def run_measured(
    args: Sequence[str | os.PathLike[str]],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    check: bool = True,
) -> Measured:
    """Run ``args`` to completion; raise :class:`PeerFailed` on a non-zero exit if
    ``check``."""
    argv = tuple(str(a) for a in args)
    # Output goes to files, not pipes: nobody drains a pipe while wait4 blocks.
    with tempfile.TemporaryFile() as out_f, tempfile.TemporaryFile() as err_f:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=out_f, stderr=err_f, env=env, cwd=cwd)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = code = os.waitstatus_to_exitcode(status)
        out_f.seek(0)
        err_f.seek(0)
        stdout = out_f.read().decode(errors="replace")
        stderr = err_f.read().decode(errors="replace")
    measured = Measured(argv, code, wall, usage.ru_maxrss * 1024, stdout, stderr)  # KiB
    if check and code != 0:
        signal_note = f" (killed by signal {-code}: out of memory?)" if code < 0 else ""
        raise PeerFailed(
            f"exit {code}{signal_note}: {' '.join(argv)}"
            + f"\n--- stdout (tail)\n{stdout[-3000:]}\n--- stderr (tail)\n{stderr[-3000:]}"
        )
    return measured
