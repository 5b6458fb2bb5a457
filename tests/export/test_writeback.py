"""Early writeback of the model file (litegen.export.writeback): queued while writing, so
the final fsync has little left; never an error."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

from litegen.export import writeback
from litegen.export.tflite_writer import _BlockWriter
from litegen.export.writeback import EarlyWriteback

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="sync_file_range")


@linux_only
def test_queues_each_step_of_written_bytes(tmp_path: Path) -> None:
    with open(tmp_path / "f", "wb") as f:
        wb = EarlyWriteback(f.fileno(), step=4096)
        assert wb.enabled
        f.write(b"x" * 3000)
        f.flush()
        wb.wrote(3000)
        assert wb.done == 0  # under one step: nothing queued yet
        f.write(b"y" * 2000)
        f.flush()
        wb.wrote(2000)
        assert (wb.done, wb.written, wb.enabled) == (5000, 5000, True)


@linux_only
def test_a_pipe_disables_it_quietly() -> None:
    read_fd, write_fd = os.pipe()
    try:
        wb = EarlyWriteback(write_fd, step=1)
        os.write(write_fd, b"abc")
        wb.wrote(3)  # sync_file_range fails on a pipe (ESPIPE): no exception
        assert not wb.enabled and wb.done == 0
    finally:
        os.close(read_fd)
        os.close(write_fd)


def test_without_sync_file_range_it_does_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(writeback, "_SYNC_FILE_RANGE", None)
    with open(tmp_path / "f", "wb") as f:
        wb = EarlyWriteback(f.fileno(), step=1)
        f.write(b"abc")
        wb.wrote(3)
        wb.kick()
        assert wb.done == 0


def test_block_writer_reports_every_emitted_byte(tmp_path: Path) -> None:
    """With writeback, the block writer still writes the same bytes in whole blocks, and
    counts every byte it handed to the file."""
    rng = np.random.default_rng(0)
    expected = bytearray()
    path = tmp_path / "model.bin"
    with open(path, "wb") as f:
        wb = EarlyWriteback(f.fileno(), step=4096)
        writer = _BlockWriter(f, block=1024, writeback=wb)
        for size in rng.integers(0, 3000, 50):
            chunk = rng.integers(0, 256, int(size), dtype=np.uint8)
            writer.write(memoryview(chunk))
            expected += chunk.tobytes()
        writer.flush()
        assert wb.written == len(expected)
    assert path.read_bytes() == expected
