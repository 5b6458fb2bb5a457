"""Start writing a file's dirty pages to disk while the file is still being produced.

Why: a 1 GB model is well under the kernel's background-writeback threshold (10% of RAM),
so nothing reaches the disk until the final ``fsync``, which then waits for the whole file
(~2 s of a ~15 s conversion, with the CPU idle). ``sync_file_range(SYNC_FILE_RANGE_WRITE)``
queues the pages already written and returns without waiting, so the disk works while the
next weights are quantized and the ``fsync`` only has the tail left. The pages stay in the
page cache (large folios included): the runtime still maps the freshly written file.

Linux only (glibc's ``sync_file_range``); elsewhere, and on any error, it does nothing: the
caller's ``fsync`` still makes the file durable, this only makes it cheaper.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
from collections.abc import Callable
from dataclasses import dataclass, field

SYNC_FILE_RANGE_WRITE = 2  # <fcntl.h>: start writeback of the range's dirty pages


def _load_sync_file_range() -> Callable[[int, int, int, int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        fn = libc.sync_file_range
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
    fn.restype = ctypes.c_int
    return fn  # type: ignore[no-any-return]


_SYNC_FILE_RANGE = _load_sync_file_range()


@dataclass
class EarlyWriteback:
    """Queues writeback of ``fd``'s bytes ``[done, written)`` each time at least ``step``
    new bytes were written (call :meth:`wrote` after each write reaches the kernel)."""

    fd: int
    step: int = 64 << 20
    done: int = 0
    written: int = 0
    enabled: bool = field(default=_SYNC_FILE_RANGE is not None)

    def wrote(self, n: int) -> None:
        self.written += n
        if self.enabled and self.written - self.done >= self.step:
            self.kick()

    def kick(self) -> None:
        """Queue everything written so far (not waiting for it)."""
        if not self.enabled or _SYNC_FILE_RANGE is None or self.written <= self.done:
            return
        if _SYNC_FILE_RANGE(self.fd, self.done, self.written - self.done, SYNC_FILE_RANGE_WRITE):
            self.enabled = False  # e.g. ESPIPE/EINVAL on an odd file: leave it to fsync
            return
        self.done = self.written
