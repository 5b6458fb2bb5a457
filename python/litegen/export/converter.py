"""Signatures -> one TFLite model: export each signature, lower it into its own subgraph,
with every weight in one buffer shared by all subgraphs."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from litegen.errors import ConfigError, ExportError
from litegen.export.lowering.context import Form, LoweringContext
from litegen.export.lowering.graph import InputSpec, OutputSpec, lower_program
from litegen.export.output import check_output_path
from litegen.export.progress import NullProgress, Progress
from litegen.export.signatures import SignatureSpec, export_signature
from litegen.export.tflite_writer import ModelWriter
from litegen.export.weights import ConstantPool, WeightRecipe

FORMS: tuple[Form, ...] = ("fast", "portable")
_FP32_NAMES = {"none", "fp32", "float32"}


def resolve_quant(quant_config: Any) -> WeightRecipe | None:
    """The weight recipe for ``quant_config`` (None / "none" / "fp32": float32 weights)."""
    if quant_config is None:
        return None
    if isinstance(quant_config, str):
        if quant_config.lower() in _FP32_NAMES:
            return None
        raise ExportError(
            f"quantization {quant_config!r} is not yet supported by the exporter "
            "(supported now: 'none'/'fp32')"
        )
    if hasattr(quant_config, "fully_connected") and hasattr(quant_config, "embedding"):
        return quant_config  # type: ignore[no-any-return]  # a WeightRecipe (the hook)
    raise ExportError(f"quant_config {quant_config!r} is not yet supported by the exporter")


def check_form(form: str) -> Form:
    if form not in FORMS:
        raise ConfigError(f"form must be one of {list(FORMS)}, got {form!r}")
    return form  # type: ignore[return-value]


class ConvertedModel:
    """A converted model, ready to be written with :meth:`export`."""

    def __init__(
        self,
        writer: ModelWriter,
        form: Form,
        signatures: Sequence[str],
        pool: ConstantPool,
        progress: Progress,
    ) -> None:
        self.writer = writer
        self.form = form
        self.signatures = tuple(signatures)
        self._pool = pool
        self._progress = progress

    @property
    def weight_bytes(self) -> int:
        """Bytes of parameter data in the file (each shared weight counted once)."""
        return self._pool.param_bytes

    def export(self, path: str | os.PathLike[str], *, force: bool = False) -> Path:
        """Write the model to ``path`` (a ``.tflite`` file) and return the path.

        Raises :class:`ExportError` if ``path`` exists (unless ``force``), is not writable
        or is not a ``.tflite`` path. Nothing is left behind on failure.
        """
        out = check_output_path(path, force=force)
        self._progress.stage(f"writing {out.name}", total_bytes=self._pool.param_bytes)
        try:
            self.writer.write(out)
        except OSError as e:
            raise ExportError(f"{out}: cannot write the model: {e.strerror or e}") from e
        return out

    def to_bytes(self) -> bytes:
        return self.writer.to_bytes()

    def __repr__(self) -> str:
        return f"ConvertedModel(form={self.form!r}, signatures={list(self.signatures)})"


def convert_signatures(
    specs: Sequence[SignatureSpec],
    *,
    form: str = "fast",
    quant_config: Any = None,
    progress: Progress | None = None,
) -> ConvertedModel:
    """Export and lower every signature into one :class:`ConvertedModel`."""
    form_ = check_form(form)
    recipe = resolve_quant(quant_config)
    if not specs:
        raise ConfigError("no signatures to convert (add one with .signature(...))")
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        raise ConfigError(f"duplicate signature names in {names}")
    for spec in specs:
        _check_float32(spec)
    progress = progress or NullProgress()
    writer = ModelWriter(description=f"litegen ({form_} form)")
    pool = ConstantPool(writer, recipe, progress.advance)
    for spec in specs:
        progress.stage(f"exporting {spec.name}")
        program = export_signature(spec)
        progress.stage(f"lowering {spec.name}")
        ctx = LoweringContext(writer.add_subgraph(spec.name), pool, form_)
        lower_program(ctx, program, _input_specs(spec, form_), _output_specs(spec, form_))
    return ConvertedModel(writer, form_, names, pool, progress)


def _input_specs(spec: SignatureSpec, form: Form) -> list[InputSpec]:
    out = [InputSpec("tokens"), InputSpec("input_pos")]
    for i in range(spec.num_layers):
        # LiteRT-LM reads the context length from V's last dim: [1, Hkv, D, S].
        v_layout = "v_transposed" if form == "portable" else "plain"
        out += [InputSpec(f"kv_cache_k_{i}"), InputSpec(f"kv_cache_v_{i}", v_layout)]
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
