"""The public export API.

Builder, like the seed's::

    litegen.signature("prefill", model, (tokens, input_pos, kv_cache)) \\
        .signature("decode", model, (token, pos, kv_cache)) \\
        .convert(quant_config=None, form="fast") \\
        .export("model.tflite")

One shot from a HuggingFace checkpoint: ``litegen.convert(hf_dir, "model.tflite")``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from litegen.errors import ConfigError
from litegen.export.converter import (
    ConvertedModel,
    check_form,
    convert_signatures,
    resolve_quant,
)
from litegen.export.output import check_output_path
from litegen.export.progress import NullProgress, Progress, TqdmProgress
from litegen.export.signatures import SignatureSpec, make_signature

__all__ = ["ConvertedModel", "SignatureBuilder", "convert", "signature"]


class SignatureBuilder:
    """Signatures collected for one model file (see :func:`signature`)."""

    def __init__(self) -> None:
        self._specs: list[SignatureSpec] = []

    def signature(
        self,
        name: str,
        model: nn.Module,
        sample_args: Any = None,
        *,
        sample_kwargs: dict[str, Any] | None = None,
        dynamic: bool | None = None,
    ) -> SignatureBuilder:
        """Add signature ``name``: ``model(tokens, input_pos, kv_cache)`` traced on the
        sample inputs (a tuple, or ``sample_kwargs`` with those keys). The token count is
        dynamic when the sample has more than one token, unless ``dynamic`` is given."""
        if (sample_args is None) == (sample_kwargs is None):
            raise ConfigError(f"signature {name!r}: pass exactly one of sample_args/sample_kwargs")
        sample = sample_args if sample_args is not None else sample_kwargs
        self._specs.append(make_signature(name, model, sample, dynamic))
        return self

    def convert(
        self,
        quant_config: Any = None,
        *,
        form: str = "fast",
        progress: Progress | None = None,
    ) -> ConvertedModel:
        """Export and lower every signature. ``form``: ``"fast"`` (litegen custom ops, our
        runtime) or ``"portable"`` (builtin ops only, stock LiteRT / LiteRT-LM)."""
        return convert_signatures(
            self._specs, form=form, quant_config=quant_config, progress=progress
        )

    @property
    def names(self) -> list[str]:
        return [s.name for s in self._specs]


def signature(
    name: str,
    model: nn.Module,
    sample_args: Any = None,
    *,
    sample_kwargs: dict[str, Any] | None = None,
    dynamic: bool | None = None,
) -> SignatureBuilder:
    """Start a model file with signature ``name`` (see :meth:`SignatureBuilder.signature`)."""
    return SignatureBuilder().signature(
        name, model, sample_args, sample_kwargs=sample_kwargs, dynamic=dynamic
    )


def convert(
    hf_dir: str | os.PathLike[str],
    out_path: str | os.PathLike[str],
    *,
    quant: str = "none",
    form: str = "fast",
    max_context: int = 1024,
    force: bool = False,
    progress: bool | Progress = False,
) -> Path:
    """Convert a HuggingFace checkpoint directory to a ``.tflite`` file with ``prefill``
    (dynamic token count) and ``decode`` (one token) signatures and a KV cache of
    ``max_context`` positions. Returns the path written.

    Raises :class:`ExportError` (existing output without ``force``, unwritable path,
    unsupported quantization or output format, unsupported op), :class:`ConfigError`,
    :class:`CheckpointError` or :class:`UnsupportedModelError`; nothing is written then.
    """
    if isinstance(max_context, bool) or not isinstance(max_context, int) or max_context < 1:
        raise ConfigError(f"max_context must be a positive integer, got {max_context!r}")
    check_form(form)
    resolve_quant(quant)
    out = check_output_path(out_path, force=force)  # fail before any expensive work
    reporter: Progress
    if progress is True:
        reporter = TqdmProgress(num_stages=6)
    elif progress is False:
        reporter = NullProgress()
    else:
        reporter = progress
    try:
        path = _convert(hf_dir, out, quant, form, max_context, force, reporter)
    except BaseException:
        reporter.close(ok=False)
        raise
    reporter.close()
    return path


def _convert(
    hf_dir: str | os.PathLike[str],
    out: Path,
    quant: str,
    form: str,
    max_context: int,
    force: bool,
    progress: Progress,
) -> Path:
    from litegen.loading.pretrained import from_pretrained

    progress.stage("loading weights")
    model = from_pretrained(hf_dir, kv_cache_max_len=max_context, progress=False)
    cache = model.new_kv_cache(max_seq_len=max_context)
    prefill_len = min(8, max_context)
    prefill = (
        torch.zeros((1, prefill_len), dtype=torch.int32),
        torch.arange(prefill_len, dtype=torch.int32),
        cache,
    )
    decode = (torch.zeros((1, 1), dtype=torch.int32), torch.zeros(1, dtype=torch.int32), cache)
    converted = (
        signature("prefill", model, prefill, dynamic=True)
        .signature("decode", model, decode, dynamic=False)
        .convert(quant, form=form, progress=progress)
    )
    return converted.export(out, force=force)
