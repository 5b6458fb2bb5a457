"""Quantized weights and how they are emitted into a .tflite model.

:func:`quantize` turns one float weight into a :class:`QuantizedWeight` (the stored arrays
plus error statistics). :meth:`QuantizedWeight.add_to` adds its buffers to a
:class:`~litegen.export.tflite_writer.ModelWriter` once and returns a
:class:`StoredWeight`, which emits the tensors (and DEQUANTIZE / lookup ops) that read
those buffers in any number of subgraphs - so prefill and decode share one stored copy.

TFLite forms emitted (which of them XNNPack runs, and how fast: see the package
docstring of :mod:`litegen.quantize`):

=================  ==========================================  ==========================
scheme             FULLY_CONNECTED filter (:meth:`constant`)    row lookup (:meth:`lookup`)
=================  ==========================================  ==========================
fp32               float32 constant                             GATHER
fp16               float16 constant -> DEQUANTIZE -> float32    GATHER (fp16) -> DEQUANTIZE
int8               int8 constant, per-row scales (hybrid FC)    EMBEDDING_LOOKUP (hybrid)
int8-weight-only   int8 constant -> DEQUANTIZE -> float32       EMBEDDING_LOOKUP (hybrid)
int4-ch            int4 constant, per-row scales (hybrid FC)    EMBEDDING_LOOKUP (hybrid)
int4-bN            int4 constant, BlockwiseQuantization with a  EMBEDDING_LOOKUP (blockwise)
                   float16 scales constant [rows, cols / N]
=================  ==========================================  ==========================

Lookups never run on XNNPack (it has no GATHER / EMBEDDING_LOOKUP); TFLite's builtin
kernels copy (and dequantize) only the rows asked for.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np
from ai_edge_litert import schema_py_generated as schema

from litegen.errors import ExportError
from litegen.export.tflite_writer import (
    BlockwiseQuantization,
    ModelWriter,
    Quantization,
    SubgraphWriter,
    TensorHandle,
)
from litegen.quantize.errors import QuantizationError
from litegen.quantize.quantizers import (
    EncodedRows,
    QuantStats,
    RowCodec,
    RowReader,
    StatsCell,
    block_scale_codes,
    dequantize_int4_blockwise,
    dequantize_per_channel,
    encode,
    interleave_int4,
    quantize_fp32,
    unpack_int4,
)
from litegen.quantize.schemes import QuantScheme, WeightFormat, scheme_from_name

__all__ = ["QuantizedWeight", "StoredWeight", "fully_connected_options", "quantize"]

_F = WeightFormat
# Formats whose FULLY_CONNECTED operand is a float32 tensor made by a DEQUANTIZE op.
_DEQUANTIZED_FOR_FC = (_F.FP16, _F.INT8_WEIGHT_ONLY)
_CODECS = {
    _F.FP16: RowCodec("fp16"),
    _F.INT8: RowCodec("int8"),
    _F.INT8_WEIGHT_ONLY: RowCodec("int8"),
    _F.INT4_CHANNEL: RowCodec("int4"),
}
_TFLITE_DTYPE = {
    _F.FP32: "float32",
    _F.FP16: "float16",
    _F.INT8: "int8",
    _F.INT8_WEIGHT_ONLY: "int8",
    _F.INT4_CHANNEL: "int4",
    _F.INT4_BLOCK: "int4",
}


def _free_name(sg: SubgraphWriter, base: str) -> str:
    """``base``, or ``base:N`` if ``sg`` already has a tensor of that name."""
    candidate, n = base, 0
    while True:
        try:
            sg.tensor(candidate)
        except ExportError:
            return candidate
        n += 1
        candidate = f"{base}:{n}"


@dataclass(frozen=True, eq=False)
class QuantizedWeight:
    """One weight in its stored form.

    ``data`` is float32 / float16 / int8 with the weight's ``shape``, or for int4 a flat
    uint8 array (two values per byte, TFLite order) - or, quantized with ``lazy=True``,
    an :class:`EncodedRows` source producing those bytes while the file is written.
    ``scales`` is float32 ``[rows]`` for per-channel schemes, float16
    ``[rows, cols / block]`` for blockwise int4, else None. The arrays (and a lazy
    weight's float source) must not be modified until the model is written.
    """

    name: str
    scheme: QuantScheme
    shape: tuple[int, ...]
    data: np.ndarray | EncodedRows
    scales: np.ndarray | None
    stats_cell: StatsCell = field(default_factory=StatsCell)
    _stored: weakref.WeakKeyDictionary[ModelWriter, StoredWeight] = field(
        default_factory=weakref.WeakKeyDictionary, init=False, repr=False
    )

    @property
    def stats(self) -> QuantStats | None:
        """Error statistics; None with ``stats=False``, or for a lazy weight not yet written."""
        return self.stats_cell.value

    @property
    def lazy(self) -> bool:
        return isinstance(self.data, EncodedRows)

    @property
    def nbytes(self) -> int:
        """Bytes this weight adds to the file (data plus any scales buffer)."""
        blockwise = self.scheme.format is _F.INT4_BLOCK
        extra = self.scales.nbytes if blockwise and self.scales is not None else 0
        return int(self.data.nbytes) + int(extra)

    def stored_values(self) -> np.ndarray:
        """The values as written to the file (encoded now for a lazy weight)."""
        return self.data.materialize() if isinstance(self.data, EncodedRows) else self.data

    def dequantize(self) -> np.ndarray:
        """The float32 weight this stored form stands for (what the kernels compute with)."""
        fmt = self.scheme.format
        data = self.stored_values()
        if fmt in (_F.FP32, _F.FP16):
            return data.astype(np.float32).reshape(self.shape)
        assert self.scales is not None
        if fmt is _F.INT4_BLOCK:
            return dequantize_int4_blockwise(data, self.scales, self.shape)
        count = int(np.prod(self.shape, dtype=np.int64))
        q = unpack_int4(data, count) if fmt is _F.INT4_CHANNEL else data
        return dequantize_per_channel(q, self.scales, self.shape)

    def row_sums(self) -> np.ndarray:
        """float32 ``[rows]``: each row's sum of dequantized values (integer formats; the
        ``wsum`` operand of LITEGEN_FC). A lazy weight's come from its encoding pass."""
        if isinstance(self.data, EncodedRows):
            return self.data.row_sums()
        rows = self.dequantize().reshape(self.shape[0], -1)
        return rows.sum(axis=1, dtype=np.float64).astype(np.float32)

    def add_to(self, model: ModelWriter) -> StoredWeight:
        """This weight's :class:`StoredWeight` in ``model`` (one per model). Its buffers are
        added when a tensor first reads them (see :meth:`StoredWeight.fast_linear_operands`:
        the fast form may store the data in another layout instead)."""
        stored = self._stored.get(model)
        if stored is None:
            stored = StoredWeight(self, model)
            self._stored[model] = stored
        return stored


@dataclass(frozen=True, eq=False)
class StoredWeight:
    """A :class:`QuantizedWeight` whose buffers are in ``model``; emits its tensors.

    Tensors are created once per subgraph and reused by later calls, so a weight read by
    several ops of one subgraph is declared (and, for DEQUANTIZE forms, unpacked) once.
    """

    weight: QuantizedWeight
    model: ModelWriter
    _raw: weakref.WeakKeyDictionary[SubgraphWriter, TensorHandle] = field(
        default_factory=weakref.WeakKeyDictionary, init=False, repr=False
    )
    _fc: weakref.WeakKeyDictionary[SubgraphWriter, TensorHandle] = field(
        default_factory=weakref.WeakKeyDictionary, init=False, repr=False
    )
    _fast: weakref.WeakKeyDictionary[
        SubgraphWriter, tuple[TensorHandle, TensorHandle, TensorHandle]
    ] = field(default_factory=weakref.WeakKeyDictionary, init=False, repr=False)
    # Model buffer indices by role, added on first use: "data", "scales" (the stored form),
    # "fast_data", "fast_scales", "fast_wsum" (LITEGEN_FC's operands).
    _buffers: dict[str, int] = field(default_factory=dict, init=False, repr=False)

    def _buffer(self, role: str, make: Callable[[], object]) -> int:
        found = self._buffers.get(role)
        if found is None:
            found = self._buffers[role] = self.model.add_buffer(make())  # type: ignore[arg-type]
        return found

    @property
    def data_buffer(self) -> int:
        """The buffer of the stored values (added to the model on first use)."""
        return self._buffer("data", lambda: self.weight.data)

    @property
    def scales_buffer(self) -> int | None:
        """The float16 block scales' buffer of blockwise int4 (added on first use), else None."""
        if self.weight.scheme.format is not _F.INT4_BLOCK:
            return None
        return self._buffer("scales", lambda: self.weight.scales)

    @property
    def buffers(self) -> tuple[int, ...]:
        """Model buffer indices holding this weight's stored form (data, then scales if any)."""
        scales = self.scales_buffer
        return (self.data_buffer,) if scales is None else (self.data_buffer, scales)

    def _check_subgraph(self, sg: SubgraphWriter) -> None:
        if not any(s is sg for s in self.model.subgraphs):
            raise QuantizationError(
                f"weight {self.weight.name!r}: subgraph {sg.name!r} is not part of the model "
                "its buffers were added to"
            )

    def stored_tensor(self, sg: SubgraphWriter, name: str | None = None) -> TensorHandle:
        """The constant as stored (int8 / int4 with its quantization, float16 or float32).

        Named ``<name>:<scheme>`` (``name`` defaults to the weight's name), its blockwise
        scales ``<name>:<scheme>/scales``: the scheme suffix keeps these names apart from
        the exporter's own tensor names.
        """
        self._check_subgraph(sg)
        found = self._raw.get(sg)
        if found is not None:
            return found
        w = self.weight
        fmt = w.scheme.format
        base = _free_name(sg, f"{name or w.name}:{w.scheme.name}")
        quant: Quantization | BlockwiseQuantization | None = None
        if fmt is _F.INT4_BLOCK:
            assert w.scales is not None and self.scales_buffer is not None and w.scheme.block_size
            scales = sg.add_constant(
                _free_name(sg, f"{base}/scales"), self.scales_buffer, "float16", w.scales.shape
            )
            quant = BlockwiseQuantization(scales, w.scheme.block_size)
        elif w.scales is not None:
            quant = Quantization(w.scales, None, quantized_dimension=0)
        handle = sg.add_constant(base, self.data_buffer, _TFLITE_DTYPE[fmt], w.shape, quant)
        self._raw[sg] = handle
        return handle

    def constant(self, sg: SubgraphWriter, name: str | None = None) -> TensorHandle:
        """The FULLY_CONNECTED filter input for this weight in ``sg``.

        fp32 / int8 / int4 forms are the stored constant itself (int8/int4 make the FC a
        dynamic-range one); fp16 and int8-weight-only add a DEQUANTIZE whose float32
        output (``<stored name>/float32``) is returned. Feed it to FULLY_CONNECTED only:
        XNNPack folds the DEQUANTIZE into the weights of the GEMM ops it delegates; for
        any other reader it would run on every invocation.
        """
        self._check_subgraph(sg)
        found = self._fc.get(sg)
        if found is not None:
            return found
        raw = self.stored_tensor(sg, name)
        handle = raw
        if self.weight.scheme.format in _DEQUANTIZED_FOR_FC:
            out_name = _free_name(sg, f"{raw.name}/float32")
            handle = sg.add_tensor(out_name, "float32", self.weight.shape)
            sg.add_builtin_op("DEQUANTIZE", [raw], [handle])
        self._fc[sg] = handle
        return handle

    def fast_linear_operands(
        self, sg: SubgraphWriter, name: str | None = None
    ) -> tuple[TensorHandle, TensorHandle, TensorHandle] | None:
        """``(weights, scales, wsum)``: the operands 1-3 of LITEGEN_FC (docs/custom_ops.md)
        for this weight in ``sg``, or None when its format has no LITEGEN_FC form (float
        formats, int8-weight-only, rows that are not a multiple of 64 values).

        int8 and per-channel int4 read the stored buffer itself (``[N, K]`` int8, or
        ``[N, K / 2]`` uint8), with float32 per-channel scales and row sums of their own.
        Blockwise int4 is stored for the fast kernels instead: the interleaved layout, the
        block scales as uint8 codes ``[N, K / block]`` and a float32 ``[2, N]`` of per-row
        scales and row sums - unless the row-order bytes are already in the file (a tied
        embedding read by a lookup first), which are then read as they are, with their
        float16 scales (the same values), so the weight is stored once. Buffers are added
        once per model, the data before the row sums: a lazy weight's sums come from its
        encoding pass, which the writer runs in file order.
        """
        w = self.weight
        fmt = w.scheme.format
        if fmt not in (_F.INT8, _F.INT4_CHANNEL, _F.INT4_BLOCK) or len(w.shape) != 2:
            return None
        n, k = w.shape
        if k % 64:
            return None
        self._check_subgraph(sg)
        found = self._fast.get(sg)
        if found is not None:
            return found
        assert w.scales is not None
        interleaved = fmt is _F.INT4_BLOCK and (
            "fast_data" in self._buffers or "data" not in self._buffers
        )
        base = _free_name(sg, f"{name or w.name}:{w.scheme.name}/fc")
        if interleaved:
            if "fast_data" not in self._buffers:
                codes, row_scales = block_scale_codes(w.scales)
                self._buffer("fast_data", lambda: _InterleavedInt4(w))
                self._buffer("fast_scales", lambda: codes)
                self._buffer("fast_wsum", lambda: _RowSums(w, row_scales))
            buffers = self._buffers
            weights = sg.add_constant(base, buffers["fast_data"], "uint8", (n, k // 2))
            scales = sg.add_constant(
                f"{base}/scales", buffers["fast_scales"], "uint8", w.scales.shape
            )
            wsum = sg.add_constant(f"{base}/wsum", buffers["fast_wsum"], "float32", (2, n))
        else:
            dtype, cols = ("int8", k) if fmt is _F.INT8 else ("uint8", k // 2)
            weights = sg.add_constant(base, self.data_buffer, dtype, (n, cols))
            if fmt is _F.INT4_BLOCK:
                scales_buffer = self.scales_buffer
                assert scales_buffer is not None
                scales = sg.add_constant(f"{base}/scales", scales_buffer, "float16", w.scales.shape)
            else:
                scales_buffer = self._buffer(
                    "fast_scales", lambda: np.ascontiguousarray(w.scales, np.float32)
                )
                scales = sg.add_constant(f"{base}/scales", scales_buffer, "float32", (n,))
            wsum_buffer = self._buffer("fast_wsum", lambda: _RowSums(w))
            wsum = sg.add_constant(f"{base}/wsum", wsum_buffer, "float32", (n,))
        self._fast[sg] = (weights, scales, wsum)
        return self._fast[sg]

    def lookup(self, sg: SubgraphWriter, ids: TensorHandle, name: str) -> TensorHandle:
        """Rows ``ids`` of this (2-D) table as a float32 ``[len(ids), cols]`` tensor ``name``.

        ``ids`` must be a 1-D int32 tensor of ``sg``.
        """
        w = self.weight
        if len(w.shape) != 2:
            raise QuantizationError(
                f"weight {w.name!r}: a lookup table must be 2-D, got shape {list(w.shape)}"
            )
        if len(ids.shape) != 1 or ids.dtype.name != "int32":
            raise QuantizationError(
                f"lookup in {w.name!r}: ids must be a 1-D int32 tensor, got {ids.name!r} "
                f"{ids.dtype} {list(ids.shape)} (reshape/cast it first)"
            )
        raw = self.stored_tensor(sg)
        out_shape = (ids.shape[0], w.shape[1])
        out = sg.add_tensor(name, "float32", out_shape)
        fmt = w.scheme.format
        if fmt is _F.FP32:
            sg.add_builtin_op("GATHER", [raw, ids], [out], options=schema.GatherOptionsT())
        elif fmt is _F.FP16:
            # EMBEDDING_LOOKUP misreads float16 tables (garbage, no error, in 2.3.0): gather
            # the half rows and dequantize only those.
            rows16 = sg.add_tensor(_free_name(sg, f"{name}/float16"), "float16", out_shape)
            sg.add_builtin_op("GATHER", [raw, ids], [rows16], options=schema.GatherOptionsT())
            sg.add_builtin_op("DEQUANTIZE", [rows16], [out])
        else:
            # Hybrid (per-row scales) or blockwise lookup: dequantizes the rows it copies.
            sg.add_builtin_op("EMBEDDING_LOOKUP", [ids, raw], [out])
        return out


class _RowSums:
    """A lazy buffer source: a weight's row sums, float32 ``[rows]``, after ``row_scales``
    if given (computed when the file is written, after the weight's own data)."""

    def __init__(self, weight: QuantizedWeight, row_scales: np.ndarray | None = None) -> None:
        self._weight = weight
        self._row_scales = row_scales
        self.nbytes = 4 * weight.shape[0] * (1 if row_scales is None else 2)

    def chunks(self) -> Iterator[np.ndarray]:
        if self._row_scales is not None:
            yield self._row_scales
        yield self._weight.row_sums()


class _InterleavedInt4:
    """A lazy buffer source: blockwise int4 data in LITEGEN_FC's interleaved layout, made
    chunk by chunk from the row-order bytes (encoded while the file is written)."""

    def __init__(self, weight: QuantizedWeight) -> None:
        self._weight = weight
        self.nbytes = int(weight.data.nbytes)

    def chunks(self) -> Iterator[np.ndarray]:
        w = self._weight
        k, block = w.shape[1], w.scheme.block_size
        assert block
        pieces = w.data.chunks() if isinstance(w.data, EncodedRows) else (w.data,)
        for piece in pieces:
            yield interleave_int4(piece, k, block)


def fully_connected_options(scheme: QuantScheme | str) -> schema.FullyConnectedOptionsT:
    """FULLY_CONNECTED options for a filter in ``scheme`` (set the other fields on it).

    Dynamic-range schemes get ``asymmetric_quantize_inputs``: XNNPack always quantizes
    activation rows asymmetrically and ignores the flag, but TFLite's builtin int8
    hybrid kernel (portable exports, other runtimes) then does the same instead of its
    coarser symmetric default - measured 0.52% -> 0.37% RMS error, equal to XNNPack.
    """
    options = schema.FullyConnectedOptionsT()
    options.asymmetricQuantizeInputs = scheme_from_name(scheme).dynamic_range
    return options


def quantize(
    array: np.ndarray | RowReader,
    scheme: QuantScheme | str,
    name: str = "weight",
    *,
    stats: bool = True,
    lazy: bool = False,
    on_bytes: Callable[[int], None] | None = None,
) -> QuantizedWeight:
    """Quantize one float weight (dimension 0 = output channel / table row) to ``scheme``.

    Eager (default): only the outputs are allocated (plus bounded temporaries); for
    ``fp32`` the input itself is kept when it already is contiguous float32.
    ``lazy=True``: validates and computes the scales now, and encodes the data only
    while the model file is written (:class:`EncodedRows`), so the quantized copy never
    exists in full; ``array`` must then stay alive and unmodified until the write, and
    ``stats`` appear after it; ``on_bytes(n)`` (progress) is called as each chunk is
    written. ``stats=False`` skips the error statistics (about 40% of the time of the
    integer schemes).

    Raises:
        QuantizationError: non-finite values, values beyond float16 range (fp16 and int4
            block scales), a row size that is not a multiple of the int4 block size, or a
            weight with fewer than 2 dimensions for an integer scheme.
    """
    sch = scheme_from_name(scheme)
    # A RowReader (weights streamed from a checkpoint) is read rows at a time, never whole.
    arr = array if isinstance(array, RowReader) else np.asarray(array)
    shape = tuple(int(d) for d in arr.shape)
    fmt = sch.format
    if fmt is _F.FP32:
        if isinstance(arr, RowReader):
            arr = arr.read_rows(0, shape[0]) if shape else np.asarray(arr)
        data, st = quantize_fp32(arr, name, stats)  # the array itself: already streamable
        return QuantizedWeight(name, sch, shape, data, None, StatsCell(st))
    codec = _CODECS[fmt] if fmt is not _F.INT4_BLOCK else RowCodec("int4-block", sch.block_size)
    if lazy:
        source = EncodedRows(arr, codec, name, with_stats=stats, on_bytes=on_bytes)
        return QuantizedWeight(name, sch, shape, source, source.scales, source.cell)
    values, scales, st = encode(arr, codec, name, stats)
    if fmt in (_F.FP16, _F.INT8, _F.INT8_WEIGHT_ONLY):
        values = values.reshape(shape)
    return QuantizedWeight(name, sch, shape, values, scales, StatsCell(st))
