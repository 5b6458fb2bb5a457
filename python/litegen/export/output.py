"""Output paths: which format an extension means, and checks made before any work."""

from __future__ import annotations

import os
from pathlib import Path

from litegen.errors import ExportError

SUFFIXES = (".tflite", ".litegen", ".litertlm")  # bundles: litegen.bundle(.litertlm)


def check_output_path(path: str | os.PathLike[str], *, force: bool, litertlm: bool = False) -> Path:
    """Validate ``path`` for a ``.tflite`` model, ``.litegen`` bundle or (``litertlm=True``,
    :func:`litegen.convert` only) ``.litertlm`` LiteRT-LM bundle; raise
    :class:`ExportError` if it cannot (or must not) be written."""
    out = Path(path)
    suffix = out.suffix.lower()
    if suffix not in SUFFIXES:
        raise ExportError(
            f"{out}: unknown output format {suffix or '(no extension)'!r}; "
            "use a .tflite, .litegen or .litertlm path"
        )
    if suffix == ".litertlm" and not litertlm:  # only litegen.convert packs the bundle
        raise ExportError(
            f"{out}: a .litertlm bundle needs the tokenizer and metadata of a checkpoint; "
            "write it with litegen.convert(hf_dir, 'x.litertlm', form='portable')"
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
