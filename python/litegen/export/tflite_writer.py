"""Write ``.tflite`` files (TFLite flatbuffer schema, model version 3) without TensorFlow.

A :class:`ModelWriter` holds model-level state (constant buffers, operator codes,
metadata) and one :class:`SubgraphWriter` per subgraph; every subgraph added with
``signature=True`` (the default) becomes a signature whose key is the subgraph name.

File layout. By default constant data is *not* inlined in the flatbuffer: the
flatbuffer comes first, then every non-empty buffer, each starting on a 64-byte
boundary, referenced through ``Buffer.offset``/``Buffer.size`` (offsets count from the
start of the file). This is the layout TFLite uses for models over 2 GB; it keeps the
flatbuffer small, lets :meth:`ModelWriter.write` stream weights to disk one buffer at a
time and gives mmap-friendly aligned weights. ``inline_buffers=True`` instead stores the
data in ``Buffer.data`` (16-byte aligned) for small models and tools that do not
understand offset buffers.
"""

from __future__ import annotations

import contextlib
import io
import os
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Protocol, runtime_checkable

import flatbuffers
import numpy as np

from litegen.errors import ExportError
from litegen.export.tflite_schema import (
    DType,
    DTypeLike,
    builtin_op_code,
    builtin_op_name,
    options_union,
    resolve_dtype,
    schema,
)
from litegen.export.writeback import EarlyWriteback

__all__ = [
    "BUFFER_ALIGNMENT",
    "INLINE_ALIGNMENT",
    "PAGE_ALIGNMENT",
    "TFLITE_SCHEMA_VERSION",
    "BlockwiseQuantization",
    "BufferData",
    "BufferSource",
    "ModelWriter",
    "Quantization",
    "SubgraphWriter",
    "TensorHandle",
    "buffer_alignment",
]

TFLITE_SCHEMA_VERSION = 3
FILE_IDENTIFIER = b"TFL3"
BUFFER_ALIGNMENT = 64  # offset layout: cache-line/SIMD friendly and safe for mmap users
# Offset layout, buffers of a page or more (the weights): each starts on a 4 KiB page.
# Measured (TinyLlama-1.1B shape, 2 threads): decode was 6-16% faster than with the same
# weights at the 64-byte offsets that the flatbuffer's size happened to give, and the
# speed no longer changes with unrelated edits to the graph.
PAGE_ALIGNMENT = 4096
INLINE_ALIGNMENT = 16  # inline layout: what TFLite kernels need for in-place reads
# A flatbuffer cannot exceed 2 GiB (32-bit offsets); keep a margin for the tables.
_INLINE_LIMIT = 2**31 - 2**24


class _BlockWriter:
    """Writes what it is given in whole, aligned blocks of ``block`` bytes.

    Why: Linux sizes the page-cache folios of a freshly written file by the writes, and
    only 2 MiB folios get mapped with 2 MiB pages. The weights of a model file written in
    odd-sized chunks at odd offsets sit in small folios, which the runtime then reads
    through 4 KiB pages: measured 24-26 GB/s instead of 28-31 GB/s, and 20% slower
    decode until the pages leave the cache.
    """

    def __init__(
        self, out: IO[bytes], block: int = 8 << 20, writeback: EarlyWriteback | None = None
    ) -> None:
        self._out = out
        self._block = block
        self._pending = bytearray()
        self._writeback = writeback

    def _emit(self, data: bytes | bytearray | memoryview) -> None:
        self._out.write(data)
        if self._writeback is not None:
            # Large writes go straight through the buffered file (larger than its
            # buffer), so the bytes are in the kernel and can be queued for the disk.
            self._out.flush()
            self._writeback.wrote(memoryview(data).nbytes)

    def write(self, data: bytes | bytearray | memoryview) -> int:
        view = memoryview(data).cast("B")
        n = view.nbytes
        if self._pending:
            take = min(n, self._block - len(self._pending))
            self._pending += view[:take]
            view = view[take:]
            if len(self._pending) < self._block:
                return n
            self._emit(self._pending)
            self._pending = bytearray()
        whole = view.nbytes - view.nbytes % self._block
        if whole:
            self._emit(view[:whole])
        self._pending += view[whole:]
        return n

    def flush(self) -> None:
        if self._pending:
            self._emit(self._pending)
            self._pending = bytearray()


@runtime_checkable
class BufferSource(Protocol):
    """Constant data produced lazily, e.g. read from a checkpoint while the file is written.

    ``nbytes`` is the exact byte size, known up front (offsets are computed before any
    data is written). ``chunks()`` yields the bytes in order as ``bytes``, ``memoryview``
    or (little-endian, any dtype) numpy arrays, split any way. It is called once per
    :meth:`ModelWriter.write` / :meth:`ModelWriter.to_bytes` call.
    """

    @property
    def nbytes(self) -> int: ...

    def chunks(self) -> Iterable[bytes | memoryview | np.ndarray]: ...


BufferData = np.ndarray | bytes | bytearray | memoryview | BufferSource
Shape = Sequence[int]


@dataclass(frozen=True, eq=False)
class Quantization:
    """Affine quantization ``real = scale * (q - zero_point)``, per tensor or per channel.

    One scale means per-tensor; ``n > 1`` scales mean per-channel along
    ``quantized_dimension`` (whose size must be ``n``). ``zero_point`` defaults to zeros.
    """

    scale: np.ndarray
    zero_point: np.ndarray | None = None
    quantized_dimension: int = 0

    def __post_init__(self) -> None:
        scale = np.atleast_1d(np.asarray(self.scale, dtype=np.float32))
        zp = self.zero_point
        zero_point = (
            np.zeros(scale.shape, np.int64)
            if zp is None
            else np.atleast_1d(np.asarray(zp, dtype=np.int64))
        )
        if scale.ndim != 1 or scale.size == 0 or zero_point.shape != scale.shape:
            raise ExportError(
                f"Quantization: scale and zero_point must be 1-D with the same non-zero length "
                f"(got {scale.shape} and {zero_point.shape})"
            )
        # Frozen dataclass: normalise the arrays once, here.
        object.__setattr__(self, "scale", scale)
        object.__setattr__(self, "zero_point", zero_point)


@dataclass(frozen=True, eq=False)
class BlockwiseQuantization:
    """Blockwise quantization (schema ``BlockwiseQuantization``): one scale per block.

    ``scales`` (and optional ``zero_points``) are constant tensors of the same subgraph;
    without zero points the file stores -1, which means "all zero".
    """

    scales: TensorHandle
    block_size: int
    zero_points: TensorHandle | None = None


QuantizationLike = Quantization | BlockwiseQuantization


@dataclass(frozen=True, eq=False)
class TensorHandle:
    """A tensor of one subgraph. Compare by identity; only valid in its own subgraph."""

    subgraph: SubgraphWriter = field(repr=False)
    index: int
    name: str
    dtype: DType
    shape: tuple[int, ...]  # -1 marks a dynamic dimension
    buffer: int = 0  # 0 (the empty sentinel) unless constant
    quantization: QuantizationLike | None = field(default=None, repr=False)

    @property
    def is_constant(self) -> bool:
        return self.buffer != 0


@dataclass(frozen=True)
class _Buffer:
    data: np.ndarray | bytes | memoryview | BufferSource | None
    nbytes: int
    array_dtype: np.dtype[Any] | None  # dtype of the array the data came from, if any


@dataclass(frozen=True)
class _OperatorCode:
    builtin_code: int
    custom_code: str | None
    version: int


@dataclass(frozen=True)
class _Operator:
    opcode_index: int
    label: str  # op name for messages
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    options: Any | None
    custom_options: bytes | None


def buffer_alignment(nbytes: int) -> int:
    """Where a buffer of ``nbytes`` starts in the offset layout (a multiple of this)."""
    return PAGE_ALIGNMENT if nbytes >= PAGE_ALIGNMENT else BUFFER_ALIGNMENT


def _align(value: int, alignment: int) -> int:
    return (value + alignment - 1) // alignment * alignment


def _little_endian(arr: np.ndarray, what: str) -> np.ndarray:
    """``arr`` as a C-contiguous little-endian array (copied only when it is not one)."""
    if arr.dtype.kind not in "biuf":
        raise ExportError(f"{what}: arrays of dtype {arr.dtype} are not supported")
    arr = np.ascontiguousarray(arr)
    if arr.dtype.byteorder == ">" or (arr.dtype.byteorder == "=" and not np.little_endian):
        arr = arr.astype(arr.dtype.newbyteorder("<"))
    return arr


def _as_bytes_view(chunk: object, what: str) -> memoryview:
    """A flat byte view of ``chunk`` (no copy for contiguous little-endian data)."""
    if isinstance(chunk, np.ndarray):
        return memoryview(_little_endian(chunk, what).reshape(-1).view(np.uint8))
    if isinstance(chunk, (bytes, bytearray, memoryview)):
        view = memoryview(chunk)
        if not view.c_contiguous:
            raise ExportError(f"{what}: memoryview chunks must be C-contiguous")
        return view.cast("B") if view.format != "B" or view.ndim != 1 else view
    raise ExportError(
        f"{what}: chunks must be bytes, memoryview or numpy arrays, got {type(chunk).__name__}"
    )


def _byte_vector(builder: flatbuffers.Builder, data: memoryview, alignment: int) -> int:
    """A ``[ubyte]`` vector whose first byte is ``alignment``-aligned in the finished file.

    ``Builder.CreateByteVector`` only aligns to 4 bytes. The builder aligns relative to the
    buffer end and ``Finish`` pads the total size to the largest alignment used, so an
    aligned position here is also aligned relative to the start of the file.
    """
    n = data.nbytes
    builder.StartVector(1, n, alignment)
    builder.head = builder.head - n
    builder.Bytes[builder.head : builder.head + n] = data
    return builder.EndVector()


def _int_vector(builder: flatbuffers.Builder, values: Sequence[int], dtype: type) -> int:
    return builder.CreateNumpyVector(np.asarray(values, dtype=dtype).reshape(-1))


def _offset_vector(builder: flatbuffers.Builder, offsets: Sequence[int]) -> int:
    builder.StartVector(4, len(offsets), 4)
    for off in reversed(offsets):
        builder.PrependUOffsetTRelative(off)
    return builder.EndVector()


class SubgraphWriter:
    """Tensors and operators of one subgraph. Create with :meth:`ModelWriter.add_subgraph`."""

    def __init__(self, model: ModelWriter, index: int, name: str, signature: bool) -> None:
        self._model = model
        self.index = index
        self.name = name
        self.signature = signature
        self._tensors: list[TensorHandle] = []
        self._by_name: dict[str, TensorHandle] = {}
        self._inputs: list[TensorHandle] = []
        self._outputs: list[tuple[str, TensorHandle]] = []
        self._operators: list[_Operator] = []
        # Tensors the next operator may read: inputs, constants, earlier ops' outputs.
        # Checking this while ops are added keeps the op list in execution order, which
        # is what TFLite runs, and names the op at fault.
        self._available: set[int] = set()
        self._producer: dict[int, str] = {}

    def __repr__(self) -> str:
        return (
            f"SubgraphWriter({self.name!r}, tensors={len(self._tensors)}, "
            f"ops={len(self._operators)})"
        )

    @property
    def tensors(self) -> tuple[TensorHandle, ...]:
        return tuple(self._tensors)

    @property
    def inputs(self) -> tuple[TensorHandle, ...]:
        return tuple(self._inputs)

    @property
    def outputs(self) -> tuple[tuple[str, TensorHandle], ...]:
        return tuple(self._outputs)

    def tensor(self, name: str) -> TensorHandle:
        """The tensor called ``name`` in this subgraph."""
        try:
            return self._by_name[name]
        except KeyError:
            raise ExportError(f"subgraph {self.name!r} has no tensor {name!r}") from None

    # -- tensors -----------------------------------------------------------------------

    def add_input(
        self,
        name: str,
        dtype: DTypeLike,
        shape: Shape,
        quantization: QuantizationLike | None = None,
    ) -> TensorHandle:
        """Add a subgraph (and signature) input; -1 in ``shape`` marks a dynamic dim."""
        handle = self._new_tensor(name, dtype, shape, 0, quantization)
        self._inputs.append(handle)
        self._available.add(handle.index)
        return handle

    def add_tensor(
        self,
        name: str,
        dtype: DTypeLike,
        shape: Shape,
        quantization: QuantizationLike | None = None,
    ) -> TensorHandle:
        """Add an intermediate or output tensor (written by an operator)."""
        return self._new_tensor(name, dtype, shape, 0, quantization)

    def add_constant(
        self,
        name: str,
        buffer: int,
        dtype: DTypeLike,
        shape: Shape,
        quantization: QuantizationLike | None = None,
    ) -> TensorHandle:
        """Add a constant tensor backed by model buffer ``buffer`` (see ``add_buffer``).

        Any number of tensors, in any subgraph, may share one buffer.
        """
        dt = resolve_dtype(dtype)
        shape_t = self._check_shape(name, shape)
        if any(d < 0 for d in shape_t):
            raise ExportError(f"constant tensor {name!r}: shape {shape_t} must be static")
        buf = self._model._get_buffer(buffer, f"constant tensor {name!r}")
        expected = dt.nbytes(int(np.prod(shape_t, dtype=np.int64)))
        if buf.nbytes != expected:
            hint = " (int4 data must be packed two per byte: see pack_int4)" if dt.bits < 8 else ""
            raise ExportError(
                f"constant tensor {name!r}: buffer {buffer} holds {buf.nbytes} bytes but "
                f"{dt} {list(shape_t)} needs {expected}{hint}"
            )
        ad = buf.array_dtype
        # Same byte size but another element type is almost always a mistake (e.g. float32
        # data on an int32 tensor). Byte arrays are exempt: they carry raw/packed data.
        if ad is not None and ad.itemsize > 1 and dt.numpy is not None and ad != dt.numpy:
            raise ExportError(
                f"constant tensor {name!r}: buffer {buffer} holds {ad} data but the tensor is {dt}"
            )
        handle = self._new_tensor(name, dt, shape_t, int(buffer), quantization)
        self._available.add(handle.index)
        return handle

    def _check_shape(self, name: str, shape: Shape) -> tuple[int, ...]:
        try:
            dims = tuple(int(d) for d in shape)
        except TypeError:
            raise ExportError(f"tensor {name!r}: shape must be a sequence of ints") from None
        if any(d < -1 for d in dims):
            raise ExportError(f"tensor {name!r}: invalid shape {dims} (use -1 for dynamic)")
        return dims

    def _new_tensor(
        self,
        name: str,
        dtype: DTypeLike,
        shape: Shape,
        buffer: int,
        quantization: QuantizationLike | None,
    ) -> TensorHandle:
        if not isinstance(name, str) or not name:
            raise ExportError(f"subgraph {self.name!r}: tensor names must be non-empty strings")
        if name in self._by_name:
            raise ExportError(f"subgraph {self.name!r}: duplicate tensor name {name!r}")
        dt = resolve_dtype(dtype)
        shape_t = self._check_shape(name, shape)
        if quantization is not None:
            self._check_quantization(name, dt, shape_t, quantization)
        handle = TensorHandle(self, len(self._tensors), name, dt, shape_t, buffer, quantization)
        self._tensors.append(handle)
        self._by_name[name] = handle
        return handle

    def _check_quantization(
        self, name: str, dt: DType, shape: tuple[int, ...], q: QuantizationLike
    ) -> None:
        if dt.numpy is not None and dt.numpy.kind not in "iu":
            raise ExportError(f"tensor {name!r}: {dt} tensors cannot be quantized")
        if isinstance(q, Quantization):
            n = q.scale.size
            if n > 1:
                qd = q.quantized_dimension
                if not 0 <= qd < len(shape) or shape[qd] != n:
                    raise ExportError(
                        f"tensor {name!r}: {n} per-channel scales do not match dimension {qd} "
                        f"of shape {list(shape)}"
                    )
        elif isinstance(q, BlockwiseQuantization):
            if q.block_size <= 0:
                raise ExportError(f"tensor {name!r}: block_size must be positive")
            for role, t in (("scales", q.scales), ("zero_points", q.zero_points)):
                if t is None:
                    continue
                self._check_handle(t, f"blockwise {role} of tensor {name!r}")
                if not t.is_constant:
                    raise ExportError(
                        f"tensor {name!r}: blockwise {role} tensor {t.name!r} must be constant"
                    )
        else:
            raise ExportError(
                f"tensor {name!r}: quantization must be Quantization or BlockwiseQuantization, "
                f"got {type(q).__name__}"
            )

    def _check_handle(self, handle: object, what: str) -> TensorHandle:
        if not isinstance(handle, TensorHandle):
            raise ExportError(f"{what}: expected a TensorHandle, got {type(handle).__name__}")
        if handle.subgraph is not self:
            raise ExportError(
                f"{what}: tensor {handle.name!r} belongs to subgraph {handle.subgraph.name!r}, "
                f"not {self.name!r}"
            )
        return handle

    # -- operators ---------------------------------------------------------------------

    def add_builtin_op(
        self,
        op: str | int,
        inputs: Sequence[TensorHandle | None],
        outputs: Sequence[TensorHandle],
        options: Any | None = None,
        version: int = 1,
    ) -> int:
        """Append a builtin operator; returns its index in the subgraph.

        ``op`` is a ``BuiltinOperator`` name or code; ``options`` an object-API options
        instance (e.g. ``schema.FullyConnectedOptionsT()``) or None, placed in
        ``builtin_options`` or ``builtin_options_2`` by its type. A ``None`` input is an
        omitted optional input (written as -1).
        """
        code = builtin_op_code(op)
        label = builtin_op_name(code)
        if options is not None:
            options_union(options)  # fail now, naming the op, rather than at write time
        return self._add_op(_OperatorCode(code, None, version), label, inputs, outputs, options)

    def add_custom_op(
        self,
        custom_code: str,
        inputs: Sequence[TensorHandle | None],
        outputs: Sequence[TensorHandle],
        custom_options: bytes = b"",
        version: int = 1,
    ) -> int:
        """Append a custom operator (``custom_options`` is stored as given, flexbuffer format)."""
        if not isinstance(custom_code, str) or not custom_code:
            raise ExportError("add_custom_op: custom_code must be a non-empty string")
        opts = bytes(custom_options) if custom_options else None
        code = _OperatorCode(schema.BuiltinOperator.CUSTOM, custom_code, version)
        return self._add_op(code, custom_code, inputs, outputs, None, opts)

    def _add_op(
        self,
        code: _OperatorCode,
        label: str,
        inputs: Sequence[TensorHandle | None],
        outputs: Sequence[TensorHandle],
        options: Any | None,
        custom_options: bytes | None = None,
    ) -> int:
        if not isinstance(code.version, int) or code.version < 1:
            raise ExportError(f"op {label}: version must be an int >= 1, got {code.version!r}")
        where = f"op #{len(self._operators)} {label} in subgraph {self.name!r}"
        in_idx: list[int] = []
        for i, t in enumerate(inputs):
            if t is None:
                in_idx.append(-1)
                continue
            h = self._check_handle(t, f"{where}, input {i}")
            if h.index not in self._available:
                raise ExportError(
                    f"{where}: input {i} {h.name!r} is not written by any earlier op "
                    "(nor is it an input or constant)"
                )
            in_idx.append(h.index)
        out_idx: list[int] = []
        for i, t in enumerate(outputs):
            h = self._check_handle(t, f"{where}, output {i}")
            if h.is_constant or h in self._inputs:
                raise ExportError(f"{where}: output {i} {h.name!r} is an input or constant")
            if h.index in self._producer:
                raise ExportError(
                    f"{where}: output {i} {h.name!r} is already written by "
                    f"{self._producer[h.index]}"
                )
            out_idx.append(h.index)
        if len(set(out_idx)) != len(out_idx):
            raise ExportError(f"{where}: the same tensor is listed twice as an output")
        for i in out_idx:
            self._producer[i] = where
            self._available.add(i)
        opcode_index = self._model._opcode_index(code)
        self._operators.append(
            _Operator(opcode_index, label, tuple(in_idx), tuple(out_idx), options, custom_options)
        )
        return len(self._operators) - 1

    def add_output(self, tensor: TensorHandle, name: str | None = None) -> None:
        """Mark ``tensor`` as a subgraph output; ``name`` is its signature name."""
        h = self._check_handle(tensor, f"subgraph {self.name!r}, add_output")
        out_name = h.name if name is None else name
        if any(n == out_name for n, _ in self._outputs):
            raise ExportError(f"subgraph {self.name!r}: duplicate output name {out_name!r}")
        if any(t is h for _, t in self._outputs):
            raise ExportError(f"subgraph {self.name!r}: tensor {h.name!r} is already an output")
        self._outputs.append((out_name, h))

    def remove_dead_operators(self) -> int:
        """Drop builtin operators none of whose outputs reach a subgraph output (e.g. a
        zero-size slice whose only consumer folded it away); custom operators stay, as
        they may act in place. Returns how many were removed."""
        live = {h.index for _, h in self._outputs}
        custom = {i for code, i in self._model._opcodes.items() if code.custom_code is not None}
        keep: list[_Operator] = []
        for op in reversed(self._operators):
            if op.opcode_index in custom or any(t in live for t in op.outputs):
                live.update(t for t in op.inputs if t >= 0)
                keep.append(op)
        removed = len(self._operators) - len(keep)
        self._operators = keep[::-1]
        return removed

    # -- serialization -----------------------------------------------------------------

    def _validate(self) -> None:
        if self.signature and not self._outputs:
            raise ExportError(f"subgraph {self.name!r} has no outputs (call add_output)")
        for out_name, h in self._outputs:
            if h.index not in self._available:
                raise ExportError(
                    f"subgraph {self.name!r}: output {out_name!r} (tensor {h.name!r}) is not "
                    "written by any op"
                )

    def _build(self, b: flatbuffers.Builder) -> int:
        tensors = [self._build_tensor(b, t) for t in self._tensors]
        operators = [self._build_operator(b, op) for op in self._operators]
        tensors_vec = _offset_vector(b, tensors)
        ops_vec = _offset_vector(b, operators)
        inputs_vec = _int_vector(b, [t.index for t in self._inputs], np.int32)
        outputs_vec = _int_vector(b, [t.index for _, t in self._outputs], np.int32)
        name = b.CreateString(self.name)
        schema.SubGraphStart(b)
        schema.SubGraphAddTensors(b, tensors_vec)
        schema.SubGraphAddInputs(b, inputs_vec)
        schema.SubGraphAddOutputs(b, outputs_vec)
        schema.SubGraphAddOperators(b, ops_vec)
        schema.SubGraphAddName(b, name)
        return schema.SubGraphEnd(b)

    def _build_tensor(self, b: flatbuffers.Builder, t: TensorHandle) -> int:
        dynamic = any(d < 0 for d in t.shape)
        # TFLite wants a concrete `shape` (1 for dynamic dims) and the -1s in
        # `shape_signature`, which is only written when some dim is dynamic.
        shape_vec = _int_vector(b, [1 if d < 0 else d for d in t.shape], np.int32)
        sig_vec = _int_vector(b, t.shape, np.int32) if dynamic else None
        name = b.CreateString(t.name)
        quant = self._build_quantization(b, t.quantization) if t.quantization else None
        schema.TensorStart(b)
        schema.TensorAddShape(b, shape_vec)
        schema.TensorAddType(b, t.dtype.tensor_type)
        schema.TensorAddBuffer(b, t.buffer)
        schema.TensorAddName(b, name)
        if quant is not None:
            schema.TensorAddQuantization(b, quant)
        if sig_vec is not None:
            schema.TensorAddShapeSignature(b, sig_vec)
        schema.TensorAddHasRank(b, True)
        return schema.TensorEnd(b)

    @staticmethod
    def _build_quantization(b: flatbuffers.Builder, q: QuantizationLike) -> int:
        if isinstance(q, BlockwiseQuantization):
            schema.BlockwiseQuantizationStart(b)
            schema.BlockwiseQuantizationAddScales(b, q.scales.index)
            zp = -1 if q.zero_points is None else q.zero_points.index
            schema.BlockwiseQuantizationAddZeroPoints(b, zp)
            schema.BlockwiseQuantizationAddBlockSize(b, q.block_size)
            details = schema.BlockwiseQuantizationEnd(b)
            schema.QuantizationParametersStart(b)
            schema.QuantizationParametersAddDetailsType(
                b, schema.QuantizationDetails.BlockwiseQuantization
            )
            schema.QuantizationParametersAddDetails(b, details)
            return schema.QuantizationParametersEnd(b)
        scale = b.CreateNumpyVector(q.scale)
        zero_point = b.CreateNumpyVector(q.zero_point)
        schema.QuantizationParametersStart(b)
        schema.QuantizationParametersAddScale(b, scale)
        schema.QuantizationParametersAddZeroPoint(b, zero_point)
        schema.QuantizationParametersAddQuantizedDimension(b, q.quantized_dimension)
        return schema.QuantizationParametersEnd(b)

    @staticmethod
    def _build_operator(b: flatbuffers.Builder, op: _Operator) -> int:
        inputs = _int_vector(b, op.inputs, np.int32)
        outputs = _int_vector(b, op.outputs, np.int32)
        options = op.options.Pack(b) if op.options is not None else None
        custom = b.CreateByteVector(op.custom_options) if op.custom_options is not None else None
        schema.OperatorStart(b)
        schema.OperatorAddOpcodeIndex(b, op.opcode_index)
        schema.OperatorAddInputs(b, inputs)
        schema.OperatorAddOutputs(b, outputs)
        if options is not None:
            slot, union_type = options_union(op.options)
            if slot == 1:
                schema.OperatorAddBuiltinOptionsType(b, union_type)
                schema.OperatorAddBuiltinOptions(b, options)
            else:
                schema.OperatorAddBuiltinOptions2Type(b, union_type)
                schema.OperatorAddBuiltinOptions2(b, options)
        if custom is not None:
            schema.OperatorAddCustomOptions(b, custom)
            schema.OperatorAddCustomOptionsFormat(b, schema.CustomOptionsFormat.FLEXBUFFERS)
        return schema.OperatorEnd(b)

    def _build_signature(self, b: flatbuffers.Builder) -> int:
        def tensor_maps(items: Sequence[tuple[str, TensorHandle]]) -> int:
            maps = []
            for name, t in items:
                name_off = b.CreateString(name)
                schema.TensorMapStart(b)
                schema.TensorMapAddName(b, name_off)
                schema.TensorMapAddTensorIndex(b, t.index)
                maps.append(schema.TensorMapEnd(b))
            return _offset_vector(b, maps)

        inputs = tensor_maps([(t.name, t) for t in self._inputs])
        outputs = tensor_maps(self._outputs)
        key = b.CreateString(self.name)
        schema.SignatureDefStart(b)
        schema.SignatureDefAddInputs(b, inputs)
        schema.SignatureDefAddOutputs(b, outputs)
        schema.SignatureDefAddSignatureKey(b, key)
        schema.SignatureDefAddSubgraphIndex(b, self.index)
        return schema.SignatureDefEnd(b)


# Where a buffer's bytes go in one build: nowhere (empty), inline data, or (offset, size).
_Placement = memoryview | tuple[int, int] | None


class ModelWriter:
    """Builds a TFLite model: shared buffers, subgraphs/signatures, metadata.

    The writer keeps references to the arrays given to :meth:`add_buffer` (no copy), so
    they must not be modified before the model is written.
    """

    def __init__(self, description: str = "litegen") -> None:
        self.description = description
        # Buffer 0 is the empty sentinel that every non-constant tensor points to.
        self._buffers: list[_Buffer] = [_Buffer(None, 0, None)]
        self._subgraphs: list[SubgraphWriter] = []
        self._opcodes: dict[_OperatorCode, int] = {}
        self._metadata: dict[str, int] = {}

    def __repr__(self) -> str:
        return (
            f"ModelWriter(subgraphs={[s.name for s in self._subgraphs]}, "
            f"buffers={len(self._buffers)}, opcodes={len(self._opcodes)})"
        )

    @property
    def subgraphs(self) -> tuple[SubgraphWriter, ...]:
        return tuple(self._subgraphs)

    @property
    def num_buffers(self) -> int:
        """Number of buffers, including the empty buffer 0."""
        return len(self._buffers)

    def add_buffer(self, data: BufferData) -> int:
        """Add model-level constant data and return its buffer index.

        ``data`` is a numpy array (written as its little-endian bytes in C order), a
        bytes-like object, or a lazy :class:`BufferSource`.
        """
        if isinstance(data, np.ndarray):
            arr = _little_endian(data, "add_buffer")
            buf = _Buffer(arr, arr.nbytes, arr.dtype.newbyteorder("="))
        elif isinstance(data, (bytes, bytearray, memoryview)):
            view = _as_bytes_view(data, "add_buffer")
            buf = _Buffer(bytes(view) if isinstance(data, bytearray) else view, view.nbytes, None)
        elif isinstance(data, BufferSource):
            nbytes = data.nbytes
            if not isinstance(nbytes, (int, np.integer)) or nbytes < 0:
                raise ExportError(
                    f"add_buffer: BufferSource.nbytes must be an int >= 0: {nbytes!r}"
                )
            buf = _Buffer(data, int(nbytes), None)
        else:
            raise ExportError(
                "add_buffer: expected a numpy array, bytes or a BufferSource "
                f"(.nbytes and .chunks()), got {type(data).__name__}"
            )
        self._buffers.append(buf)
        return len(self._buffers) - 1

    def buffer_nbytes(self, index: int) -> int:
        """Byte size of buffer ``index``."""
        return self._get_buffer(index, "buffer_nbytes").nbytes

    def _get_buffer(self, index: int, what: str) -> _Buffer:
        if not isinstance(index, (int, np.integer)) or isinstance(index, bool):
            raise ExportError(f"{what}: buffer must be an index from add_buffer(), got {index!r}")
        if index == 0:
            raise ExportError(f"{what}: buffer 0 is the empty sentinel, not constant data")
        if not 0 < index < len(self._buffers):
            raise ExportError(f"{what}: unknown buffer index {index}")
        return self._buffers[int(index)]

    def add_metadata(self, name: str, data: BufferData) -> int:
        """Add a model metadata entry ``name`` -> data; returns the buffer index used."""
        if not isinstance(name, str) or not name:
            raise ExportError("add_metadata: name must be a non-empty string")
        if name in self._metadata:
            raise ExportError(f"add_metadata: duplicate metadata name {name!r}")
        index = self.add_buffer(data)
        self._metadata[name] = index
        return index

    def add_subgraph(self, name: str, *, signature: bool = True) -> SubgraphWriter:
        """Add a subgraph; with ``signature=True`` it is exported as signature ``name``."""
        if not isinstance(name, str) or not name:
            raise ExportError("add_subgraph: name must be a non-empty string")
        if any(s.name == name for s in self._subgraphs):
            raise ExportError(f"add_subgraph: duplicate subgraph name {name!r}")
        sg = SubgraphWriter(self, len(self._subgraphs), name, signature)
        self._subgraphs.append(sg)
        return sg

    def _opcode_index(self, code: _OperatorCode) -> int:
        # Operator codes are deduplicated by (builtin code, custom code, version).
        return self._opcodes.setdefault(code, len(self._opcodes))

    # -- output ------------------------------------------------------------------------

    def write(
        self, path: str | os.PathLike[str], *, inline_buffers: bool = False, fsync: bool = True
    ) -> int:
        """Write the model to ``path`` and return the file size.

        Data is streamed buffer by buffer into a temporary file next to ``path`` that is
        renamed over it on success and removed on any error, so ``path`` never holds a
        partial model. ``fsync=False``: the data is not forced to disk before the rename,
        for a caller that appends to the file and fsyncs it itself (a .litegen bundle).
        """
        target = Path(path)
        tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:12]}.tmp")
        # os.open with 0o666 honours the umask, like a plain open() of the final file.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
        try:
            with os.fdopen(fd, "wb") as f:
                blocks = _BlockWriter(f, writeback=EarlyWriteback(f.fileno()))
                size = self._serialize(blocks, inline_buffers)
                blocks.flush()
                f.flush()
                if fsync:
                    os.fsync(f.fileno())
            os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        return size

    def to_bytes(self, *, inline_buffers: bool = False) -> bytes:
        """The model file as bytes (same layout as :meth:`write`)."""
        out = io.BytesIO()
        self._serialize(out, inline_buffers)
        return out.getvalue()

    def _validate(self) -> None:
        if not self._subgraphs:
            raise ExportError("the model has no subgraphs (call add_subgraph)")
        for sg in self._subgraphs:
            sg._validate()

    def _serialize(self, out: IO[bytes] | _BlockWriter, inline: bool) -> int:
        self._validate()
        if inline:
            total = sum(b.nbytes for b in self._buffers)
            if total > _INLINE_LIMIT:
                raise ExportError(
                    f"inline_buffers: {total} bytes of constant data do not fit in a "
                    "flatbuffer (2 GiB); use the default offset layout"
                )
            placements: list[_Placement] = [
                self._materialize(i) if b.nbytes else None for i, b in enumerate(self._buffers)
            ]
            fb = self._build(placements)
            out.write(fb)
            return len(fb)

        # Offsets depend on the flatbuffer size, and the size must not depend on the
        # offsets: build once with placeholder offsets (non-zero, so the same fields are
        # present), then again with the real ones, and check the size did not move.
        placements = [(1, b.nbytes) if b.nbytes else None for b in self._buffers]
        fb_size = len(self._build(placements))
        pos = fb_size
        for i, b in enumerate(self._buffers):
            if b.nbytes:
                pos = _align(pos, buffer_alignment(b.nbytes))
                placements[i] = (pos, b.nbytes)
                pos += b.nbytes
        fb = self._build(placements)
        if len(fb) != fb_size:
            raise ExportError(
                f"internal error: flatbuffer size changed from {fb_size} to {len(fb)} bytes "
                "between the sizing and the final pass"
            )
        out.write(fb)
        written = len(fb)
        for i, p in enumerate(placements):
            if not isinstance(p, tuple):
                continue
            offset, _ = p
            out.write(b"\0" * (offset - written))
            written = offset + self._stream_buffer(i, out)
        return written

    def _chunks(self, index: int) -> Iterable[memoryview]:
        buf = self._buffers[index]
        data = buf.data
        if isinstance(data, np.ndarray):
            yield _as_bytes_view(data, f"buffer {index}")
        elif isinstance(data, (bytes, memoryview)):
            yield memoryview(data)
        elif data is not None:
            what = f"buffer {index} ({type(data).__name__})"
            produced = 0
            for chunk in data.chunks():
                view = _as_bytes_view(chunk, what)
                produced += view.nbytes
                if produced > buf.nbytes:
                    raise ExportError(
                        f"{what}: BufferSource produced more than its declared nbytes={buf.nbytes}"
                    )
                yield view
            if produced != buf.nbytes:
                raise ExportError(
                    f"{what}: BufferSource produced {produced} bytes but declared "
                    f"nbytes={buf.nbytes}"
                )

    def _stream_buffer(self, index: int, out: IO[bytes] | _BlockWriter) -> int:
        n = 0
        for view in self._chunks(index):
            out.write(view)
            n += view.nbytes
        return n

    def _materialize(self, index: int) -> memoryview:
        views = list(self._chunks(index))
        return views[0] if len(views) == 1 else memoryview(b"".join(views))

    def _build(self, placements: Sequence[_Placement]) -> bytearray:
        b = flatbuffers.Builder(4096)
        buffers = []
        for p in placements:
            data = _byte_vector(b, p, INLINE_ALIGNMENT) if isinstance(p, memoryview) else None
            schema.BufferStart(b)
            if data is not None:
                schema.BufferAddData(b, data)
            elif p is not None:
                schema.BufferAddOffset(b, p[0])
                schema.BufferAddSize(b, p[1])
            buffers.append(schema.BufferEnd(b))
        buffers_vec = _offset_vector(b, buffers)

        opcodes = []
        for code in self._opcodes:  # dict order == index order
            custom = b.CreateString(code.custom_code) if code.custom_code is not None else None
            schema.OperatorCodeStart(b)
            # Codes >= 127 do not fit the old int8 field, which then holds the
            # PLACEHOLDER_FOR_GREATER_OP_CODES (127) marker.
            schema.OperatorCodeAddDeprecatedBuiltinCode(b, min(code.builtin_code, 127))
            schema.OperatorCodeAddBuiltinCode(b, code.builtin_code)
            if custom is not None:
                schema.OperatorCodeAddCustomCode(b, custom)
            schema.OperatorCodeAddVersion(b, code.version)
            opcodes.append(schema.OperatorCodeEnd(b))
        opcodes_vec = _offset_vector(b, opcodes)

        subgraphs_vec = _offset_vector(b, [sg._build(b) for sg in self._subgraphs])
        signatures_vec = _offset_vector(
            b, [sg._build_signature(b) for sg in self._subgraphs if sg.signature]
        )
        metadata = []
        for name, index in self._metadata.items():
            name_off = b.CreateString(name)
            schema.MetadataStart(b)
            schema.MetadataAddName(b, name_off)
            schema.MetadataAddBuffer(b, index)
            metadata.append(schema.MetadataEnd(b))
        metadata_vec = _offset_vector(b, metadata) if metadata else None
        description = b.CreateString(self.description)

        schema.ModelStart(b)
        schema.ModelAddVersion(b, TFLITE_SCHEMA_VERSION)
        schema.ModelAddOperatorCodes(b, opcodes_vec)
        schema.ModelAddSubgraphs(b, subgraphs_vec)
        schema.ModelAddDescription(b, description)
        schema.ModelAddBuffers(b, buffers_vec)
        if metadata_vec is not None:
            schema.ModelAddMetadata(b, metadata_vec)
        schema.ModelAddSignatureDefs(b, signatures_vec)
        b.Finish(schema.ModelEnd(b), file_identifier=FILE_IDENTIFIER)
        return b.Output()
