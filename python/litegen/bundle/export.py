"""``litegen.convert(hf_dir, "x.litegen")``: export the .tflite, then wrap it into a bundle
with the checkpoint's tokenizer and metadata."""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from litegen.bundle.format import append_bundle_sections
from litegen.bundle.metadata import checkpoint_metadata
from litegen.tokenizer.checkpoint import load_checkpoint_tokenizer

R = TypeVar("R")


def _recipe_name(quant: Any) -> str:
    if isinstance(quant, str):
        return quant
    for attr in ("name", "spec"):
        value = getattr(quant, attr, None)
        if isinstance(value, str):
            return value
    return repr(quant)


def _model_vocab_size(hf_dir: Path) -> int | None:
    try:
        config = json.loads((hf_dir / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # the checkpoint loader reports config problems itself
    value = config.get("vocab_size") if isinstance(config, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def export_bundle(
    hf_dir: str | os.PathLike[str],
    out: Path,
    *,
    quant: Any,
    form: str,
    max_context: int,
    export: Callable[[Path], R],
    signatures: tuple[str, ...] = ("prefill", "decode"),
) -> R:
    """Check the tokenizer first (a missing one fails before any export work), run
    ``export(tmp_tflite)``, then write the bundle to ``out`` atomically. Returns
    ``export``'s result with its ``path`` replaced by ``out`` (when it has one)."""
    root = Path(hf_dir)
    tokenizer = load_checkpoint_tokenizer(root, model_vocab_size=_model_vocab_size(root))
    parent = out.parent if str(out.parent) else Path(".")
    with tempfile.TemporaryDirectory(prefix=f".{out.name}.", dir=parent) as tmp:
        tflite = Path(tmp) / "model.tflite"
        result = export(tflite)
        metadata = checkpoint_metadata(
            root,
            tokenizer,
            context_size=max_context,
            quant_recipe=_recipe_name(quant),
            export_form=form,
            signatures=list(signatures),
        )
        append_bundle_sections(tflite, out, tokenizer.model_bytes, metadata)
    if dataclasses.is_dataclass(result) and hasattr(result, "path"):
        return dataclasses.replace(result, path=out)  # type: ignore[type-var]
    return result
