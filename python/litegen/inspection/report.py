"""``litegen inspect``'s report: the flatbuffer facts plus, for a ``.litegen`` bundle, its
metadata, quantization recipe and tokenizer; as a JSON-ready dict or as text."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from litegen.errors import LitegenError
from litegen.inspection.tflite_reader import TFLiteInfo, read_tflite

# Metadata keys shown in their own report sections rather than in the metadata list.
_SUMMARIZED_KEYS = ("chat_template",)


@dataclass(frozen=True)
class TokenizerSummary:
    kind: str
    vocab_size: int
    model_bytes: int
    special: dict[str, dict[str, Any]]  # "bos"/"eos"/... -> {"id": int, "piece": str}
    control_tokens: int


@dataclass(frozen=True)
class ModelReport:
    path: Path
    file_size: int
    is_bundle: bool
    model_size: int  # the .tflite part of the file
    tflite: TFLiteInfo
    metadata: dict[str, Any] | None  # bundle metadata
    tokenizer: TokenizerSummary | None

    @property
    def quant_recipe(self) -> str | None:
        recipe = (self.metadata or {}).get("quant_recipe")
        return recipe if isinstance(recipe, str) else None

    def to_dict(self) -> dict[str, Any]:
        info = self.tflite
        return {
            "path": str(self.path),
            "format": "litegen" if self.is_bundle else "tflite",
            "file_bytes": self.file_size,
            "model_bytes": self.model_size,
            "tflite_schema_version": info.version,
            "description": info.description,
            "subgraphs": info.subgraphs,
            "signatures": [
                {
                    "name": s.name,
                    "subgraph": s.subgraph,
                    "inputs": [_tensor_dict(t) for t in s.inputs],
                    "outputs": [_tensor_dict(t) for t in s.outputs],
                    "op_histogram": s.op_histogram,
                }
                for s in info.signatures
            ],
            "custom_ops": list(info.custom_ops),
            "weights": {
                "total_bytes": info.weight_bytes,
                "scale_bytes": info.scale_bytes,
                "buffers": len(info.weights),
                "by_dtype": info.weight_bytes_by_dtype(),
                "by_layer": info.weight_bytes_by_layer(),
                "by_quantization": _by_quantization(info),
            },
            "quant_recipe": self.quant_recipe,
            "metadata": self.metadata,
            "tokenizer": None if self.tokenizer is None else vars(self.tokenizer),
        }

    def format(self) -> str:
        info = self.tflite
        lines = [
            f"{self.path}: {'.litegen bundle' if self.is_bundle else '.tflite model'}, "
            f"{_size(self.file_size)}"
            + (f" (model {_size(self.model_size)})" if self.is_bundle else ""),
        ]
        if self.metadata is not None:
            meta = self.metadata
            lines.append(
                f"  model_type {meta.get('model_type')}, {meta.get('export_form')} form, "
                f"context {meta.get('context_size')}, quantization {self.quant_recipe!r}, "
                f"written by litegen {meta.get('litegen_version')}"
            )
        for sig in info.signatures:
            lines.append("")
            lines.append(f"signature {sig.name!r} (subgraph {sig.subgraph})")
            for label, tensors in (("in ", sig.inputs), ("out", sig.outputs)):
                for t in _compact(tensors):
                    lines.append(f"  {label} {t}")
            ops = ", ".join(f"{name} x{n}" for name, n in sig.op_histogram.items())
            lines.append(f"  ops ({sum(sig.op_histogram.values())}): {ops}")
        lines.append("")
        lines.append("custom ops: " + (", ".join(info.custom_ops) or "none"))
        scales = f" + {_size(info.scale_bytes)} of quantization scales" if info.scale_bytes else ""
        lines.append(
            f"weights: {_size(info.weight_bytes)} in {len(info.weights)} buffers{scales} "
            "(shared by every signature)"
        )
        for dtype, n in info.weight_bytes_by_dtype().items():
            lines.append(f"  {dtype:<10} {_size(n):>12}")
        lines.append(
            "  quantization: "
            + ", ".join(f"{kind} {_size(n)}" for kind, n in _by_quantization(info).items())
        )
        by_layer = info.weight_bytes_by_layer()
        if by_layer:
            lines.append("weights by layer:")
            for layer, n in by_layer.items():
                lines.append(f"  {layer:<10} {_size(n):>12}")
        if self.metadata is not None:
            lines.append("")
            lines.append("metadata:")
            for key in sorted(self.metadata):
                if key in _SUMMARIZED_KEYS:
                    continue
                lines.append(f"  {key}: {self.metadata[key]!r}")
            template = self.metadata.get("chat_template")
            lines.append(
                "  chat_template: "
                + (f"{len(template)} characters" if isinstance(template, str) else "none")
            )
        if self.tokenizer is not None:
            tok = self.tokenizer
            specials = ", ".join(
                f"{role} {v['id']} {v['piece']!r}" for role, v in tok.special.items()
            )
            lines.append(
                f"tokenizer: {tok.kind}, {tok.vocab_size} pieces, {_size(tok.model_bytes)}, "
                f"{tok.control_tokens} control tokens; {specials or 'no special tokens'}"
            )
        return "\n".join(lines)


def _tensor_dict(t: Any) -> dict[str, Any]:
    return {"name": t.name, "dtype": t.dtype, "shape": list(t.shape)}


def _by_quantization(info: TFLiteInfo) -> dict[str, int]:
    out: dict[str, int] = {}
    for w in info.weights:
        out[w.quantization] = out.get(w.quantization, 0) + w.nbytes
    return dict(sorted(out.items(), key=lambda kv: -kv[1]))


def _shape(shape: tuple[int, ...]) -> str:
    return "[" + ", ".join("?" if d < 0 else str(d) for d in shape) + "]"


def _compact(tensors: tuple[Any, ...]) -> list[str]:
    """One line per tensor, except families like kv_cache_k_0 .. kv_cache_k_21 (one number
    in the name, same dtype and shape), which become one line: a 22-layer model has 44
    cache tensors."""
    groups: dict[tuple[str, str, tuple[int, ...]], list[Any]] = {}
    for t in tensors:
        numbers = re.findall(r"\d+", t.name)
        stem = re.sub(r"\d+", "{i}", t.name) if len(numbers) == 1 else t.name
        groups.setdefault((stem, t.dtype, t.shape), []).append(t)
    lines = []
    for (stem, dtype, shape), members in groups.items():
        if len(members) > 2:
            indices = [int(re.findall(r"\d+", t.name)[0]) for t in members]
            name = stem.replace("{i}", f"{{{min(indices)}..{max(indices)}}}")
        else:
            for t in members[:-1]:
                lines.append(f"{t.name}  {t.dtype} {_shape(t.shape)}")
            name = members[-1].name
        lines.append(f"{name}  {dtype} {_shape(shape)}")
    return lines


def _size(n: int) -> str:
    if n >= 2**30:
        return f"{n / 2**30:.2f} GiB"
    if n >= 2**20:
        return f"{n / 2**20:.1f} MiB"
    if n >= 2**10:
        return f"{n / 2**10:.1f} KiB"
    return f"{n} B"


def _tokenizer_summary(model_bytes: bytes, source: str) -> TokenizerSummary:
    from litegen.tokenizer import Tokenizer

    tok = Tokenizer.from_bytes(model_bytes, source=source)
    special: dict[str, dict[str, Any]] = {}
    for role in ("bos", "eos", "unk", "pad"):
        token_id = getattr(tok, f"{role}_id")
        if token_id is not None:
            special[role] = {"id": token_id, "piece": tok.id_to_piece(token_id)}
    controls = sum(1 for i in range(tok.vocab_size) if tok.is_control(i))
    return TokenizerSummary(
        kind="sentencepiece",
        vocab_size=tok.vocab_size,
        model_bytes=len(model_bytes),
        special=special,
        control_tokens=controls,
    )


def _has_bundle_footer(path: Path, file_size: int) -> bool:
    from litegen.bundle.format import FOOTER_SIZE, MAGIC

    if file_size < FOOTER_SIZE:
        return False
    with open(path, "rb") as f:
        f.seek(file_size - FOOTER_SIZE)
        return f.read(len(MAGIC)) == MAGIC


def inspect_model(path: str | os.PathLike[str]) -> ModelReport:
    """Reads everything ``litegen inspect`` shows. Raises :class:`ModelLoadError` (missing,
    not a model, corrupt bundle) naming the file."""
    from litegen.bundle.format import read_bundle

    p = Path(path)
    tflite = read_tflite(p)  # also the missing-file / not-a-model errors
    file_size = p.stat().st_size
    if p.suffix != ".litegen" and not _has_bundle_footer(p, file_size):
        return ModelReport(p, file_size, False, file_size, tflite, None, None)
    bundle = read_bundle(p)
    try:
        tokenizer = _tokenizer_summary(bundle.tokenizer_model, f"bundle '{p}'")
    except LitegenError:
        # The native tokenizer is not built (or rejects the model): the rest is still useful.
        tokenizer = None
    return ModelReport(
        p, file_size, True, bundle.model_size, tflite, dict(bundle.metadata), tokenizer
    )
