"""``.litegen`` bundles: one file that is a valid .tflite followed by the tokenizer and
metadata (format: docs/bundle_format.md; C++ reader: cpp/engine/bundle.h)."""

from __future__ import annotations

import os
from pathlib import Path

from litegen.bundle.format import (
    FORMAT_VERSION,
    MAGIC,
    Bundle,
    read_bundle,
    write_bundle,
)
from litegen.bundle.metadata import checkpoint_metadata

__all__ = [
    "FORMAT_VERSION",
    "MAGIC",
    "Bundle",
    "bundle_checkpoint",
    "checkpoint_metadata",
    "read_bundle",
    "write_bundle",
]


def bundle_checkpoint(
    tflite_path: str | os.PathLike[str],
    hf_dir: str | os.PathLike[str],
    out_path: str | os.PathLike[str],
    *,
    context_size: int,
    quant_recipe: str,
    export_form: str,
    signatures: list[str],
    model_vocab_size: int | None = None,
) -> Path:
    """Wrap an exported .tflite into a bundle with ``hf_dir``'s tokenizer and metadata.
    Raises :class:`litegen.errors.TokenizerError` (naming ``hf_dir``) when the checkpoint
    has no usable tokenizer."""
    from litegen.tokenizer.checkpoint import load_checkpoint_tokenizer

    tokenizer = load_checkpoint_tokenizer(hf_dir, model_vocab_size=model_vocab_size)
    metadata = checkpoint_metadata(
        hf_dir,
        tokenizer,
        context_size=context_size,
        quant_recipe=quant_recipe,
        export_form=export_form,
        signatures=signatures,
    )
    return write_bundle(tflite_path, out_path, tokenizer.model_bytes, metadata)
