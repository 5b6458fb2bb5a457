"""What a ``.tflite`` flatbuffer holds, read without compiling it: signatures, operators,
constant buffers (weights). Works on ``.litegen`` bundles too (the bundle starts with
the model), and needs only the runtime dependencies (no torch).

The file is memory-mapped, so inspecting a multi-GB model reads the flatbuffer tables,
never the weights themselves.
"""

from __future__ import annotations

import mmap
import os
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ai_edge_litert import schema_py_generated as schema

from litegen.errors import ModelLoadError

_TFLITE_IDENTIFIER = b"TFL3"
_TENSOR_TYPE_NAMES: dict[int, str] = {
    code: name.lower()
    for name, code in vars(schema.TensorType).items()
    if not name.startswith("_") and isinstance(code, int)
}
_BUILTIN_NAMES: dict[int, str] = {
    code: name
    for name, code in vars(schema.BuiltinOperator).items()
    if not name.startswith("_") and isinstance(code, int)
}
# "model.layers.3.self_attn.q_proj.weight", "blocks_12_ffn", "h.0.attn": the layer index
# follows a layer-ish word. Checkpoint-style and litegen-style names both match.
_LAYER_PATTERN = re.compile(r"(?:^|[./_])(?:layers?|blocks?|h)[./_](\d+)(?=[./_]|$)")


@dataclass(frozen=True)
class TensorInfo:
    name: str
    dtype: str
    shape: tuple[int, ...]  # -1 marks a dynamic dimension


@dataclass(frozen=True)
class SignatureInfo:
    name: str
    subgraph: int
    inputs: tuple[TensorInfo, ...]
    outputs: tuple[TensorInfo, ...]
    op_histogram: dict[str, int]  # operator name -> count, most frequent first


@dataclass(frozen=True)
class WeightInfo:
    """One constant buffer, counted once however many tensors (signatures) share it."""

    name: str  # the first tensor found using the buffer
    dtype: str
    shape: tuple[int, ...]
    nbytes: int  # the buffer (the tensor's data)
    quantization: str  # "none", "per-tensor", "per-channel" or "blockwise"
    scale_bytes: int  # quantization scales and zero points kept in the tensor's table
    layer: int | None  # decoder layer index from the name, None for embeddings, heads, ...


@dataclass(frozen=True)
class TFLiteInfo:
    path: Path
    version: int
    description: str
    subgraphs: int
    signatures: tuple[SignatureInfo, ...]
    custom_ops: tuple[str, ...]
    weights: tuple[WeightInfo, ...]
    metadata_names: tuple[str, ...]  # TFLite Model.metadata entries

    @property
    def weight_bytes(self) -> int:
        return sum(w.nbytes for w in self.weights)

    @property
    def scale_bytes(self) -> int:
        return sum(w.scale_bytes for w in self.weights)

    def weight_bytes_by_dtype(self) -> dict[str, int]:
        out: Counter[str] = Counter()
        for w in self.weights:
            out[w.dtype] += w.nbytes
        return dict(out.most_common())

    def weight_bytes_by_layer(self) -> dict[str, int]:
        """``"layer 0"``, ``"layer 1"``, ... in order, then ``"other"`` (embeddings, final
        norm, head)."""
        layers: Counter[int] = Counter()
        other = 0
        for w in self.weights:
            if w.layer is None:
                other += w.nbytes
            else:
                layers[w.layer] += w.nbytes
        out = {f"layer {i}": layers[i] for i in sorted(layers)}
        if other:
            out["other"] = other
        return out


def layer_index(tensor_name: str) -> int | None:
    match = _LAYER_PATTERN.search(tensor_name)
    return int(match.group(1)) if match else None


def read_tflite(path: str | os.PathLike[str]) -> TFLiteInfo:
    """Reads ``path`` (a .tflite or a .litegen bundle). Raises :class:`ModelLoadError`
    naming the file when it is missing or not a TFLite flatbuffer."""
    p = Path(path)
    try:
        with open(p, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size < 8:
                raise ModelLoadError(
                    f"'{p}' is not a .tflite model: the file has only {size} bytes"
                )
            with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
                if data[4:8] != _TFLITE_IDENTIFIER:
                    raise ModelLoadError(
                        f"'{p}' is not a .tflite model (no TFL3 identifier at byte 4); "
                        "inspect reads .tflite and .litegen files"
                    )
                try:
                    return _read(p, data)
                except ModelLoadError:
                    raise
                except Exception as exc:
                    # The generated accessors do not check bounds or types: a damaged table
                    # shows up as an out-of-range read (IndexError, struct.error) or as
                    # garbage values the flatbuffers library rejects (TypeError, ...).
                    raise ModelLoadError(f"'{p}' is a corrupt .tflite flatbuffer ({exc})") from exc
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise ModelLoadError(f"cannot read model file '{p}': {reason}") from exc


def _str(value: bytes | None) -> str:
    return value.decode("utf-8") if value else ""


def _count(length: int, limit: int) -> range:
    """``range(length)`` for a vector length read from the file. A damaged file can claim
    billions of entries; a vector cannot have more entries than the file has 4-byte words."""
    if not 0 <= length <= limit:
        raise ValueError(f"a vector claims {length} entries")
    return range(length)


def _tensor(sg: Any, index: int, limit: int) -> TensorInfo:
    t = sg.Tensors(index)
    if t.ShapeSignatureLength():
        shape = tuple(t.ShapeSignature(k) for k in _count(t.ShapeSignatureLength(), limit))
    else:
        shape = tuple(t.Shape(k) for k in _count(t.ShapeLength(), limit))
    return TensorInfo(_str(t.Name()), _TENSOR_TYPE_NAMES.get(t.Type(), f"type{t.Type()}"), shape)


def _quantization(t: Any) -> str:
    q = t.Quantization()
    if q is None:
        return "none"
    if q.DetailsType() == schema.QuantizationDetails.BlockwiseQuantization:
        return "blockwise"
    scales = q.ScaleLength()
    if scales > 1:
        return "per-channel"
    return "per-tensor" if scales == 1 else "none"


def _scale_bytes(t: Any) -> int:
    q = t.Quantization()
    if q is None:
        return 0
    return 4 * q.ScaleLength() + 8 * q.ZeroPointLength()  # float32 scales, int64 zero points


def _buffer_size(buffer: Any) -> int:
    inline = buffer.DataLength()
    if inline:
        return inline
    # Buffers placed after the flatbuffer (models over 2 GiB): offset/size in the file;
    # offset 1 is the "no data" marker some writers use.
    return int(buffer.Size()) if buffer.Offset() > 1 else 0


def _builtin_code(code: Any) -> int:
    # Codes < 127 live in the deprecated int8 field, larger ones in the int32 field; the
    # other field is 0 (or 127, "use the other field").
    return max(code.BuiltinCode(), code.DeprecatedBuiltinCode())


def _is_custom(code: Any) -> bool:
    return _builtin_code(code) == schema.BuiltinOperator.CUSTOM


def _op_name(code: Any) -> str:
    if _is_custom(code):
        return _str(code.CustomCode()) or "<custom>"
    builtin = _builtin_code(code)
    return _BUILTIN_NAMES.get(builtin, f"<builtin {builtin}>")


def _fast_linear_weights(
    subgraphs: list[Any], op_names: list[str], count: Callable[[int], range]
) -> dict[tuple[int, int], tuple[str, str]]:
    """``{(subgraph, tensor): (dtype, quantization)}`` for the weights LITEGEN_FC reads.

    Their scales are operands of the op (docs/custom_ops.md), not tensor quantization
    parameters: uint8 weights are int4 pairs, float16 scales or uint8 block codes mean
    blockwise.
    """
    found = {}
    for s, sg in enumerate(subgraphs):
        for k in count(sg.OperatorsLength()):
            op = sg.Operators(k)
            if op_names[op.OpcodeIndex()] != "LITEGEN_FC" or op.InputsLength() < 3:
                continue
            weights, scales = sg.Tensors(op.Inputs(1)), sg.Tensors(op.Inputs(2))
            int4 = weights.Type() == schema.TensorType.UINT8
            blockwise = scales.Type() in (schema.TensorType.FLOAT16, schema.TensorType.UINT8)
            found[(s, op.Inputs(1))] = (
                "int4" if int4 else "int8",
                "blockwise" if blockwise else "per-channel",
            )
    return found


def _read(path: Path, data: mmap.mmap) -> TFLiteInfo:
    model = schema.Model.GetRootAs(data, 0)
    limit = len(data) // 4

    def count(length: int) -> range:
        return _count(length, limit)

    codes = [model.OperatorCodes(i) for i in count(model.OperatorCodesLength())]
    op_names = [_op_name(code) for code in codes]
    custom_ops = sorted({_str(code.CustomCode()) for code in codes if _is_custom(code)})
    subgraphs = [model.Subgraphs(i) for i in count(model.SubgraphsLength())]

    signatures = []
    for i in count(model.SignatureDefsLength()):
        sig = model.SignatureDefs(i)
        index = sig.SubgraphIndex()
        if not 0 <= index < len(subgraphs):
            raise ModelLoadError(f"'{path}': signature {i} names subgraph {index}, which is absent")
        sg = subgraphs[index]

        def mapped(tensor_map: Any, sg: Any = sg) -> TensorInfo:
            t = _tensor(sg, tensor_map.TensorIndex(), limit)
            return TensorInfo(_str(tensor_map.Name()) or t.name, t.dtype, t.shape)

        histogram = Counter(
            op_names[sg.Operators(k).OpcodeIndex()] for k in count(sg.OperatorsLength())
        )
        signatures.append(
            SignatureInfo(
                name=_str(sig.SignatureKey()),
                subgraph=index,
                inputs=tuple(mapped(sig.Inputs(j)) for j in count(sig.InputsLength())),
                outputs=tuple(mapped(sig.Outputs(j)) for j in count(sig.OutputsLength())),
                op_histogram=dict(histogram.most_common()),
            )
        )

    fc_weights = _fast_linear_weights(subgraphs, op_names, count)
    buffer_sizes = [_buffer_size(model.Buffers(b)) for b in count(model.BuffersLength())]
    metadata_buffers = {model.Metadata(i).Buffer() for i in count(model.MetadataLength())}
    weights: list[WeightInfo] = []
    seen: set[int] = set()
    for s, sg in enumerate(subgraphs):
        for j in count(sg.TensorsLength()):
            t = sg.Tensors(j)
            b = t.Buffer()
            if b in seen or not 0 < b < len(buffer_sizes) or buffer_sizes[b] == 0:
                continue
            if b in metadata_buffers:
                continue
            seen.add(b)
            info = _tensor(sg, j, limit)
            dtype, quantization = fc_weights.get((s, j), (info.dtype, _quantization(t)))
            weights.append(
                WeightInfo(
                    info.name,
                    dtype,
                    info.shape,
                    buffer_sizes[b],
                    quantization,
                    _scale_bytes(t),
                    layer_index(info.name),
                )
            )
    metadata_names = tuple(_str(model.Metadata(i).Name()) for i in count(model.MetadataLength()))
    return TFLiteInfo(
        path=path,
        version=model.Version(),
        description=_str(model.Description()),
        subgraphs=len(subgraphs),
        signatures=tuple(signatures),
        custom_ops=tuple(custom_ops),
        weights=tuple(weights),
        metadata_names=metadata_names,
    )
