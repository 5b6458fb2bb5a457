"""Output paths: which format an extension means, and checks made before any work."""

from __future__ import annotations

import os
from pathlib import Path

from litegen.errors import ExportError

BUNDLE_SUFFIXES = (".litegen", ".litertlm")


def check_output_path(path: str | os.PathLike[str], *, force: bool) -> Path:
    """Validate ``path`` for a bare ``.tflite`` model; raise :class:`ExportError` if it
    cannot (or must not) be written."""
    out = Path(path)
    suffix = out.suffix.lower()
    if suffix in BUNDLE_SUFFIXES:
        raise ExportError(
            f"{out}: the {suffix} bundle format is not yet supported by litegen's exporter; "
            "write a bare .tflite model for now"
        )
    if suffix != ".tflite":
        raise ExportError(
            f"{out}: unknown output format {suffix or '(no extension)'!r}; use a .tflite path"
        )
    if out.is_dir():
        raise ExportError(f"{out}: is a directory")
    if out.exists() and not force:
        raise ExportError(f"{out}: already exists (pass force=True / --force to overwrite)")
    parent = out.parent if str(out.parent) else Path(".")
    if not parent.is_dir():
        raise ExportError(f"{out}: the directory {parent} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ExportError(f"{out}: the directory {parent} is not writable")
    return out
