"""Signatures -> one TFLite model: export each signature, lower it into its own subgraph,
with every weight in one buffer shared by all subgraphs."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from litegen.errors import ConfigError, ExportError
from litegen.export.lowering.context import Form, LoweringContext
from litegen.export.lowering.graph import InputSpec, OutputSpec, lower_program
from litegen.export.output import check_output_path
from litegen.export.progress import NullProgress, Progress
from litegen.export.signatures import SignatureSpec, export_signature
from litegen.export.tflite_writer import ModelWriter
from litegen.export.weights import ConstantPool, LazyWeight, WeightRecipe

if TYPE_CHECKING:
    from litegen.quantize import QuantReport

FORMS: tuple[Form, ...] = ("fast", "portable")
_FP32_NAMES = {"none", "fp32", "float32"}
KV_CACHE_DTYPES = ("float32", "float16")
_KV_TORCH_DTYPES = {"float32": torch.float32, "float16": torch.float16}


def resolve_quant(
    quant_config: Any, on_bytes: Callable[[int], None] | None = None
) -> WeightRecipe | None:
    """The weight recipe for ``quant_config``: None / "none" / "fp32" (float32 weights), a
    recipe string such as ``"int8"`` or ``"int4-b64,lm_head=int8"`` (see
    :mod:`litegen.quantize.recipe`), a ``QuantRecipe`` / ``QuantScheme``, or a ready
    ``WeightRecipe`` (used as is). ``on_bytes`` reports quantized bytes as they are
    written (progress). Raises ``RecipeError`` (a :class:`ConfigError`) for a bad recipe
    string and :class:`ExportError` for anything else.
    """
    if quant_config is None:
        return None
    if hasattr(quant_config, "fully_connected") and hasattr(quant_config, "embedding"):
        return quant_config  # type: ignore[no-any-return]  # a WeightRecipe (the hook)
    from litegen.quantize import QuantRecipe, QuantScheme, RecipeWeights

    if isinstance(quant_config, str) and quant_config.strip().lower() in _FP32_NAMES:
        return None
    if not isinstance(quant_config, (str, QuantRecipe, QuantScheme)):
        raise ExportError(
            f"quant_config must be a recipe string (e.g. 'int8', 'int4-b64,lm_head=int8'), "
            f"a QuantRecipe or a WeightRecipe, got {quant_config!r}"
        )
    # Lazy: each weight is encoded while the file is written, so the quantized copy of
    # the model never exists in full (only its scales do).
    weights = RecipeWeights(quant_config, lazy=True, on_bytes=on_bytes)
    return None if weights.is_float else weights


def check_form(form: str) -> Form:
    if form not in FORMS:
        raise ConfigError(f"form must be one of {list(FORMS)}, got {form!r}")
    return form  # type: ignore[return-value]


def check_kv_cache_dtype(kv_cache_dtype: str | None, form: str) -> str:
    """The KV-cache dtype for ``form``: ``kv_cache_dtype``, or the form's default when None
    - float16 for the fast form (decode reads the whole cache every step: half the bytes),
    float32 for the portable form (its builtin ops compute on float32 caches). Raises
    :class:`ConfigError` for any other value and for float16 in the portable form."""
    if kv_cache_dtype is None:
        return "float16" if form == "fast" else "float32"
    if kv_cache_dtype not in KV_CACHE_DTYPES:
        raise ConfigError(
            f"kv_cache_dtype must be one of {list(KV_CACHE_DTYPES)}, got {kv_cache_dtype!r}"
        )
    if kv_cache_dtype != "float32" and form != "fast":
        raise ConfigError(
            f"kv_cache_dtype={kv_cache_dtype!r} needs form='fast' (litegen's KV-cache kernels); "
            "the portable form's builtin ops keep float32 KV caches"
        )
    return kv_cache_dtype


class ConvertedModel:
    """A converted model, ready to be written with :meth:`export`."""

    def __init__(
        self,
        writer: ModelWriter,
        form: Form,
        signatures: Sequence[str],
        pool: ConstantPool,
        progress: Progress,
        kv_cache_dtype: str = "float32",
    ) -> None:
        self.writer = writer
        self.form = form
        self.signatures = tuple(signatures)
        self.kv_cache_dtype = kv_cache_dtype
        self._pool = pool
        self._progress = progress

    @property
    def weight_bytes(self) -> int:
        """Bytes of parameter data in the file (each shared weight counted once), float
        and quantized."""
        return self._pool.param_bytes + self.quantized_bytes

    @property
    def quantized_bytes(self) -> int:
        """Bytes of the weights the quantization recipe stores (0 without one)."""
        return int(getattr(self._pool.recipe, "nbytes", 0))

    @property
    def quant_report(self) -> QuantReport | None:
        """Sizes per scheme and errors of the quantized weights (errors complete after
        :meth:`export`), or None when every weight is float32."""
        return getattr(self._pool.recipe, "report", None)

    def export(
        self, path: str | os.PathLike[str], *, force: bool = False, fsync: bool = True
    ) -> Path:
        """Write the model to ``path`` (a ``.tflite`` file) and return the path.

        Raises :class:`ExportError` if ``path`` exists (unless ``force``), is not writable
        or is not a ``.tflite`` path. Nothing is left behind on failure. ``fsync=False``
        leaves forcing the data to disk to a caller that finishes the file itself.
        """
        out = check_output_path(path, force=force)
        self._progress.stage(f"writing {out.name}", total_bytes=self._streamed_bytes())
        try:
            self.writer.write(out, fsync=fsync)
        except OSError as e:
            raise ExportError(f"{out}: cannot write the model: {e.strerror or e}") from e
        return out

    def _streamed_bytes(self) -> int:
        """The bytes whose writing is reported to the progress: float parameters and the
        data of lazily quantized weights (their small scales buffers are not counted)."""
        quantized = getattr(self._pool.recipe, "quantized", None)
        weights = quantized(self.writer) if quantized is not None else ()
        return self._pool.param_bytes + sum(int(w.data.nbytes) for w in weights if w.lazy)

    def to_bytes(self) -> bytes:
        return self.writer.to_bytes()

    def __repr__(self) -> str:
        return (
            f"ConvertedModel(form={self.form!r}, signatures={list(self.signatures)}, "
            f"kv_cache_dtype={self.kv_cache_dtype!r})"
        )


def convert_signatures(
    specs: Sequence[SignatureSpec],
    *,
    form: str = "fast",
    quant_config: Any = None,
    progress: Progress | None = None,
    lazy_weights: Mapping[int, LazyWeight] | None = None,
    kv_cache_dtype: str | None = None,
) -> ConvertedModel:
    """Export and lower every signature into one :class:`ConvertedModel`.

    ``lazy_weights`` maps parameter storages (``data_ptr``) of a lazily loaded model to
    the weights' checkpoint data (:func:`litegen.loading.lazy.lazy_pretrained`).
    ``kv_cache_dtype``: the dtype of the ``kv_cache_*`` inputs (see
    :func:`check_kv_cache_dtype`; the model is traced with float32 caches either way)."""
    form_ = check_form(form)
    kv_dtype = check_kv_cache_dtype(kv_cache_dtype, form_)
    progress = progress or NullProgress()
    recipe = resolve_quant(quant_config, on_bytes=progress.advance)
    if not specs:
        raise ConfigError("no signatures to convert (add one with .signature(...))")
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        raise ConfigError(f"duplicate signature names in {names}")
    for spec in specs:
        _check_float32(spec)
    writer = ModelWriter(description=f"litegen ({form_} form)")
    pool = ConstantPool(writer, recipe, progress.advance, lazy=lazy_weights)
    for spec in specs:
        progress.stage(f"exporting {spec.name}")
        program = export_signature(spec)
        progress.stage(f"lowering {spec.name}")
        ctx = LoweringContext(writer.add_subgraph(spec.name), pool, form_)
        inputs = _input_specs(spec, form_, kv_dtype)
        lower_program(ctx, program, inputs, _output_specs(spec, form_))
        del program  # its graph and fake tensors are not needed for the next signature
    pool.check_lazy_used()
    return ConvertedModel(writer, form_, names, pool, progress, kv_dtype)


def _input_specs(spec: SignatureSpec, form: Form, kv_dtype: str = "float32") -> list[InputSpec]:
    out = [InputSpec("tokens"), InputSpec("input_pos")]
    # Traced with float32 caches: a float16 cache is only a storage dtype, which the fast
    # form's kernels (its only readers and writer) convert.
    storage = None if kv_dtype == "float32" else _KV_TORCH_DTYPES[kv_dtype]
    for i in range(spec.num_layers):
        # LiteRT-LM reads the context length from V's last dim: [1, Hkv, D, S].
        v_layout = "v_transposed" if form == "portable" else "plain"
        out += [
            InputSpec(f"kv_cache_k_{i}", dtype=storage),
            InputSpec(f"kv_cache_v_{i}", v_layout, dtype=storage),
        ]
    return out


def _output_specs(spec: SignatureSpec, form: Form) -> list[OutputSpec]:
    out = [OutputSpec("logits")]
    for i in range(spec.num_layers):
        if form == "portable":
            out += [OutputSpec(f"kv_cache_k_{i}"), OutputSpec(f"kv_cache_v_{i}")]
        else:  # updated in place by LITEGEN_KV_CACHE_UPDATE: not outputs
            out += [OutputSpec(None), OutputSpec(None)]
    return out


def _check_float32(spec: SignatureSpec) -> None:
    for name, p in [*spec.model.named_parameters(), *spec.model.named_buffers()]:
        if p.is_floating_point() and p.dtype != torch.float32:
            raise ExportError(
                f"signature {spec.name!r}: {name} is {p.dtype}; export needs a float32 model "
                "(call model.float(); quantization is chosen with quant_config)"
            )
