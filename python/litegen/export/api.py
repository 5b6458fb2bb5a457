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
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from litegen.errors import ConfigError
from litegen.export.converter import (
    ConvertedModel,
    check_form,
    check_kv_cache_dtype,
    convert_signatures,
    resolve_quant,
)
from litegen.export.output import check_output_path
from litegen.export.progress import NullProgress, Progress, TqdmProgress
from litegen.export.signatures import SignatureSpec, make_signature

if TYPE_CHECKING:
    from litegen.quantize import QuantReport

__all__ = [
    "ConversionResult",
    "ConvertedModel",
    "SignatureBuilder",
    "convert",
    "convert_checkpoint",
    "signature",
]


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
        last_logits: bool = False,
    ) -> SignatureBuilder:
        """Add signature ``name``: ``model(tokens, input_pos, kv_cache)`` traced on the
        sample inputs (a tuple, or ``sample_kwargs`` with those keys). The token count is
        dynamic when the sample has more than one token, unless ``dynamic`` is given.
        ``last_logits``: output the last position's logits only ([1, 1, V])."""
        if (sample_args is None) == (sample_kwargs is None):
            raise ConfigError(f"signature {name!r}: pass exactly one of sample_args/sample_kwargs")
        sample = sample_args if sample_args is not None else sample_kwargs
        self._specs.append(make_signature(name, model, sample, dynamic, last_logits))
        return self

    def convert(
        self,
        quant_config: Any = None,
        *,
        form: str = "fast",
        progress: Progress | None = None,
        kv_cache_dtype: str | None = None,
    ) -> ConvertedModel:
        """Export and lower every signature. ``form``: ``"fast"`` (litegen custom ops, our
        runtime) or ``"portable"`` (builtin ops only, stock LiteRT / LiteRT-LM).
        ``kv_cache_dtype``: ``"float16"`` (the fast form's default) or ``"float32"`` (the
        portable form's only choice) for the ``kv_cache_*`` inputs."""
        return convert_signatures(
            self._specs,
            form=form,
            quant_config=quant_config,
            progress=progress,
            kv_cache_dtype=kv_cache_dtype,
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
    last_logits: bool = False,
) -> SignatureBuilder:
    """Start a model file with signature ``name`` (see :meth:`SignatureBuilder.signature`)."""
    return SignatureBuilder().signature(
        name,
        model,
        sample_args,
        sample_kwargs=sample_kwargs,
        dynamic=dynamic,
        last_logits=last_logits,
    )


@dataclass(frozen=True)
class ConversionResult:
    """What :func:`convert_checkpoint` wrote."""

    path: Path
    weight_bytes: int  # parameter bytes in the file, float and quantized
    quant_report: QuantReport | None  # None when every weight is float32


def convert(
    hf_dir: str | os.PathLike[str],
    out_path: str | os.PathLike[str],
    *,
    quant: Any = "none",
    form: str = "fast",
    max_context: int = 1024,
    force: bool = False,
    progress: bool | Progress = False,
    lazy: bool = True,
    last_logits: bool | None = None,
    kv_cache_dtype: str | None = None,
) -> Path:
    """Convert a HuggingFace checkpoint directory to a ``.tflite`` file with ``prefill``
    (dynamic token count) and ``decode`` (one token) signatures and a KV cache of
    ``max_context`` positions. Returns the path written.

    ``quant``: a recipe string - ``none``/``fp32``, ``fp16``, ``int8`` (dynamic range),
    ``int8-weight-only``, ``int4`` / ``int4-b32|b64|b128`` (blockwise), with overrides
    such as ``"int4-b32,lm_head=int8"`` (:mod:`litegen.quantize.recipe`) - or a
    ``QuantRecipe``. ``lazy`` (default) streams the large weights from the checkpoint
    while the file is written instead of loading the float32 model first.
    ``last_logits``: ``prefill`` outputs the last position's logits only ([1, 1, V], all
    that generation reads; the LM head runs on one row) - the default for the fast form;
    ``False`` keeps every row ([1, T, V]), the portable form's default.
    ``kv_cache_dtype``: ``"float16"`` (the fast form's default: half the KV-cache memory
    and decode traffic; litegen's kernels compute in float32) or ``"float32"`` (the
    portable form's default and only choice).

    Raises :class:`ExportError` (existing output without ``force``, unwritable path,
    unsupported quantization or output format, unsupported op), :class:`ConfigError`,
    :class:`CheckpointError` or :class:`UnsupportedModelError`; nothing is written then.
    """
    return convert_checkpoint(
        hf_dir,
        out_path,
        quant=quant,
        form=form,
        max_context=max_context,
        force=force,
        progress=progress,
        lazy=lazy,
        last_logits=last_logits,
        kv_cache_dtype=kv_cache_dtype,
    ).path


def convert_checkpoint(
    hf_dir: str | os.PathLike[str],
    out_path: str | os.PathLike[str],
    *,
    quant: Any = "none",
    form: str = "fast",
    max_context: int = 1024,
    force: bool = False,
    progress: bool | Progress = False,
    lazy: bool = True,
    last_logits: bool | None = None,
    kv_cache_dtype: str | None = None,
) -> ConversionResult:
    """:func:`convert`, returning the quantization report and sizes with the path."""
    if isinstance(max_context, bool) or not isinstance(max_context, int) or max_context < 1:
        raise ConfigError(f"max_context must be a positive integer, got {max_context!r}")
    check_form(form)
    kv_dtype = check_kv_cache_dtype(kv_cache_dtype, form)
    last = form == "fast" if last_logits is None else bool(last_logits)
    resolve_quant(quant)  # a bad recipe fails before any expensive work
    out = check_output_path(out_path, force=force, litertlm=True)  # fail before any work
    if out.suffix.lower() == ".litertlm":
        from litegen.bundle.litertlm import check_litertlm_request

        check_litertlm_request(form)  # portable form only; litert-lm-builder installed
    reporter: Progress
    if progress is True:
        reporter = TqdmProgress(num_stages=6)
    elif progress is False:
        reporter = NullProgress()
    else:
        reporter = progress

    def run(path: Path, force: bool = True, **extra: Any) -> ConversionResult:
        # Bundles export to a temporary path they own (force=True) and add their sections.
        return _convert(
            hf_dir,
            path,
            quant,
            form,
            max_context,
            force,
            reporter,
            lazy,
            last_logits=last,
            kv_cache_dtype=kv_dtype,
            **extra,
        )

    try:
        if out.suffix.lower() == ".litegen":  # .tflite + tokenizer + metadata (litegen.bundle)
            from litegen.bundle.export import export_bundle

            result = export_bundle(
                hf_dir,
                out,
                quant=quant,
                form=form,
                max_context=max_context,
                # The bundle fsyncs the file once, after appending its sections.
                export=lambda tmp: run(tmp, fsync=False),
            )
        elif out.suffix.lower() == ".litertlm":  # LiteRT-LM bundle (litegen.bundle.litertlm)
            from litegen.bundle.litertlm import export_litertlm

            result = export_litertlm(
                hf_dir,
                out,
                quant=quant,
                form=form,
                max_context=max_context,
                export=lambda tmp, lens: run(tmp, prefill_lens=lens),
            )
        else:
            result = run(out, force)
    except BaseException:
        reporter.close(ok=False)
        raise
    reporter.close()
    return result


_SPLIT_PROJECTIONS = ("q_proj", "k_proj", "v_proj", "gate_proj", "up_proj")


def _fuse_projections(form: str, quant: Any) -> bool | None:
    """The fast form fuses q/k/v and gate/up into one matmul each: the same numbers (every
    scheme quantizes rows or row blocks independently), 3 fewer kernel calls per layer.
    Not when the weight recipe could tell the split projections apart (an override naming
    one, a custom hook), nor in the portable form (its layout stays the checkpoint's)."""
    from litegen.quantize import QuantRecipe

    if form != "fast":
        return None
    if quant is None:
        return True
    if hasattr(quant, "fully_connected"):
        return None
    recipe = QuantRecipe.parse(quant)
    if any(p in o.pattern for o in recipe.overrides for p in _SPLIT_PROJECTIONS):
        return None
    return True


def _convert(
    hf_dir: str | os.PathLike[str],
    out: Path,
    quant: Any,
    form: str,
    max_context: int,
    force: bool,
    progress: Progress,
    lazy: bool,
    prefill_lens: tuple[int, ...] = (),
    last_logits: bool = False,
    fsync: bool = True,
    kv_cache_dtype: str | None = None,
) -> ConversionResult:
    """No ``prefill_lens``: one ``prefill`` signature with a dynamic token count; else a
    fixed-length ``prefill_N`` per N (what LiteRT-LM reads), then ``decode``. ``fsync``:
    see :meth:`ConvertedModel.export`."""
    from litegen.loading.lazy import lazy_pretrained
    from litegen.loading.pretrained import from_pretrained

    progress.stage("loading weights")
    fused = _fuse_projections(form, quant)
    lazy_weights = None
    if lazy:
        # The large weights stay in the checkpoint: the writer reads, converts and
        # quantizes them one chunk at a time (the float32 model never exists in full).
        model, lazy_weights = lazy_pretrained(
            hf_dir, kv_cache_max_len=max_context, fused_projections=fused
        )
    else:
        model = from_pretrained(
            hf_dir, kv_cache_max_len=max_context, fused_projections=fused, progress=False
        )
    cache = model.new_kv_cache(max_seq_len=max_context)

    def prefill(n: int) -> tuple[Any, ...]:
        return (
            torch.zeros((1, n), dtype=torch.int32),
            torch.arange(n, dtype=torch.int32),
            cache,
        )

    decode = (torch.zeros((1, 1), dtype=torch.int32), torch.zeros(1, dtype=torch.int32), cache)
    if prefill_lens:
        specs = [
            make_signature(
                f"prefill_{n}", model, prefill(n), dynamic=False, last_logits=last_logits
            )
            for n in prefill_lens
        ]
    else:
        specs = [
            make_signature(
                "prefill",
                model,
                prefill(min(8, max_context)),
                dynamic=True,
                last_logits=last_logits,
            )
        ]
    specs.append(make_signature("decode", model, decode, dynamic=False))
    converted = convert_signatures(
        specs,
        form=form,
        quant_config=quant,
        progress=progress,
        lazy_weights=lazy_weights,
        kv_cache_dtype=kv_cache_dtype,
    )
    path = converted.export(out, force=force, fsync=fsync)
    return ConversionResult(path, converted.weight_bytes, converted.quant_report)
