"""Weight quantizers (numpy): int8 / int4 per output channel, int4 blockwise, float16.

All of them treat a weight as rows: dimension 0 is the output channel (TFLite's
FULLY_CONNECTED filter is ``[out, in]``, like ``torch.nn.Linear.weight``; an embedding
table is ``[vocab, dim]`` and its rows are what a lookup reads), every other dimension is
flattened into the row. Quantization is symmetric (zero point 0), which is what XNNPack's
dynamic-range kernels and TFLite's hybrid kernels accept.

Memory: each quantizer allocates its outputs once and fills them a bounded chunk of rows
at a time, so temporaries stay at a few times ``CHUNK_ELEMENTS`` floats whatever the
weight size; the input is only read (it may be a memory-mapped checkpoint tensor). Pass
C-contiguous arrays: reshaping a strided view into rows would copy it.

Speed: every pass over the data counts (a 1.1B-parameter model is 1.1G elements per
pass), so the integer paths make four passes (max/min, divide, round, store) plus four
more for error statistics, which ``stats=False`` skips. The functions are pure and
numpy releases the GIL in them, so weights can be quantized on several threads.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

import numpy as np

from litegen.quantize.errors import QuantizationError

__all__ = [
    "CHUNK_ELEMENTS",
    "FP16_MIN_NORMAL",
    "EncodedRows",
    "QuantStats",
    "RowCodec",
    "RowReader",
    "StatsCell",
    "block_scale_codes",
    "dequantize_int4_blockwise",
    "dequantize_per_channel",
    "encode",
    "interleave_int4",
    "quantize_fp16",
    "quantize_fp32",
    "quantize_int4_blockwise",
    "quantize_int4_per_channel",
    "quantize_int8_per_channel",
    "unpack_int4",
]

# 256K floats = 1 MB per temporary: the few temporaries of a chunk stay in L2 cache
# between passes (measured ~2x faster than 4 MB chunks); much smaller chunks pay
# Python overhead per chunk instead.
CHUNK_ELEMENTS = 1 << 18
INT8_QMAX = 127  # symmetric: -128 is never used, so -q is always representable
INT4_QMAX = 7
FP16_MAX = float(np.finfo(np.float16).max)
# XNNPack rejects scales that are not normal floats (zero, subnormal) for the *whole*
# tensor, and for fp16 block scales that only shows at the first run. Scales are clamped
# up to these minima; a row/block that small then rounds to zeros, which is still within
# half a step of the original.
FP16_MIN_NORMAL = float(np.finfo(np.float16).smallest_normal)
FP32_MIN_NORMAL = float(np.finfo(np.float32).smallest_normal)
# Groups shorter than this are reduced column by column (see _abs_max).
_SHORT_GROUP = 256
# Largest value exact in both float16 and bfloat16 (1.1111111b x 2^15); see _block_scales.
BLOCK_SCALE_MAX = 65280.0


@dataclass(frozen=True)
class QuantStats:
    """Error of a stored weight against the float weight it came from.

    ``max_error_in_steps`` is the largest ``|w - dequantized| / scale`` of its row or
    block: at most 0.5 for round-to-nearest (None for float16, which has no scale).
    """

    max_abs_error: float
    rms_error: float
    max_abs_weight: float
    rms_weight: float
    max_error_in_steps: float | None

    @property
    def relative_max_error(self) -> float:
        """``max_abs_error / max_abs_weight`` (0 for an all-zero weight)."""
        return self.max_abs_error / self.max_abs_weight if self.max_abs_weight else 0.0

    @property
    def relative_rms_error(self) -> float:
        """``rms_error / rms_weight`` (0 for an all-zero weight)."""
        return self.rms_error / self.rms_weight if self.rms_weight else 0.0

    def __str__(self) -> str:
        return (
            f"max |err| {self.max_abs_error:.3g} ({self.relative_max_error:.2%} of max |w|), "
            f"rms err {self.relative_rms_error:.2%} of rms w"
        )


@dataclass
class StatsCell:
    """Where a weight's statistics land: at once (eager) or when its data is written (lazy).

    Shared by the weight and its report entry; holds no arrays.
    """

    value: QuantStats | None = None


class _Stats:
    """Reduces per-chunk error statistics to one :class:`QuantStats`.

    Sums of squares use float32 BLAS dot products per chunk (fast; ~1e-6 relative error
    over a chunk) accumulated in Python floats across chunks.
    """

    def __init__(self, scaled: bool) -> None:
        self.count = 0
        self.sq_err = 0.0
        self.sq_w = 0.0
        self.max_err = 0.0
        self.max_w = 0.0
        self.max_steps: float | None = 0.0 if scaled else None

    def add_weights(self, chunk: np.ndarray, amax: np.ndarray | None) -> None:
        """``amax``: the chunk's max |w| per row/group (None: ``max_w`` is set later)."""
        flat = chunk.reshape(-1)
        self.count += flat.size
        if flat.size:
            self.sq_w += float(np.dot(flat, flat))
            if amax is not None:
                self.max_w = max(self.max_w, float(amax.max()))

    def add_errors(self, err: np.ndarray) -> None:
        """``err``: signed error in weight units; overwritten."""
        flat = err.reshape(-1)
        if flat.size:
            self.sq_err += float(np.dot(flat, flat))
            self.max_err = max(self.max_err, float(np.abs(flat, out=flat).max()))

    def add_step_errors(self, steps: np.ndarray, scales: np.ndarray) -> None:
        """``steps``: ``[rows, groups, size]`` signed error in steps; overwritten.

        ``scales``: ``[rows, groups]`` float32. Only whole-chunk reductions (fast in
        numpy), no per-group ones.
        """
        if not steps.size:
            return
        assert self.max_steps is not None
        self.max_steps = max(self.max_steps, float(steps.max()), -float(steps.min()))
        err = np.multiply(steps, scales[..., None], out=steps).reshape(-1)
        self.sq_err += float(np.dot(err, err))
        self.max_err = max(self.max_err, float(err.max()), -float(err.min()))

    def result(self) -> QuantStats:
        n = max(self.count, 1)
        return QuantStats(
            max_abs_error=self.max_err,
            rms_error=math.sqrt(self.sq_err / n),
            max_abs_weight=self.max_w,
            rms_weight=math.sqrt(self.sq_w / n),
            max_error_in_steps=self.max_steps,
        )


@runtime_checkable
class RowReader(Protocol):
    """A float32 weight read on demand (e.g. from a checkpoint file), rows at a time.

    The quantizers accept one wherever they take an array: they only ever read row
    ranges, so a weight converted from a bf16 checkpoint chunk by chunk never needs to
    exist in float32 in full.
    """

    shape: tuple[int, ...]
    dtype: np.dtype

    def read_rows(self, start: int, stop: int) -> np.ndarray:
        """Rows [start, stop) of dimension 0 as a float32 array."""
        ...


class _ReaderRows:
    """A :class:`RowReader` seen as a 2-D ``[rows, row_size]`` array: ``rows[a:b]`` reads."""

    def __init__(self, reader: RowReader) -> None:
        self._reader = reader
        self.shape = (reader.shape[0], int(np.prod(reader.shape[1:], dtype=np.int64)))
        self.dtype = np.dtype(np.float32)

    def __getitem__(self, rows: slice) -> np.ndarray:
        start, stop, _ = rows.indices(self.shape[0])
        return self._reader.read_rows(start, stop).reshape(stop - start, self.shape[1])


def _as_rows(w: np.ndarray | RowReader, name: str, min_ndim: int = 2) -> np.ndarray:
    """``w`` as a 2-D ``[rows, row_size]`` view (no copy for contiguous input)."""
    if isinstance(w, RowReader) and not isinstance(w, np.ndarray):
        if len(w.shape) < max(min_ndim, 1):
            raise QuantizationError(
                f"weight {name!r}: per-channel quantization needs at least 2 dimensions "
                f"([out, in...]), got shape {list(w.shape)}"
            )
        return _ReaderRows(w)  # type: ignore[return-value]  # sliced like an array
    arr = np.asarray(w)
    if arr.dtype.kind != "f":
        raise QuantizationError(f"weight {name!r}: expected a float array, got {arr.dtype}")
    if arr.ndim < min_ndim:
        raise QuantizationError(
            f"weight {name!r}: per-channel quantization needs at least 2 dimensions "
            f"([out, in...]), got shape {list(arr.shape)}"
        )
    if arr.ndim <= 1:
        return arr.reshape(1, -1)
    return arr.reshape(arr.shape[0], -1)


def _rows_per_chunk(row_size: int, even: bool = False) -> int:
    step = max(1, CHUNK_ELEMENTS // max(row_size, 1))
    if even:
        # int4 packs two values per byte: an even row count per chunk keeps every chunk
        # on a byte boundary even when rows have an odd length.
        step = max(2, step - step % 2)
    return step


def _chunks(rows: np.ndarray, even: bool = False) -> Iterator[tuple[int, int, np.ndarray]]:
    """``(start, stop, float32 chunk)`` over row ranges; chunks are views when possible."""
    n, k = rows.shape
    step = _rows_per_chunk(k, even)
    for start in range(0, n, step):
        stop = min(start + step, n)
        yield start, stop, np.asarray(rows[start:stop], dtype=np.float32)


def _abs_max(chunk: np.ndarray) -> np.ndarray:
    """max |x| over the last axis; NaN propagates (so it doubles as the finite check).

    numpy reduces long contiguous rows fast but short ones (a 32-value block) slowly, so
    short groups are reduced column by column instead: ``size`` elementwise maxima over
    strided views, ~3x faster for blocks of 32.
    """
    size = chunk.shape[-1]
    if size == 0:
        return np.zeros(chunk.shape[:-1], np.float32)
    if size >= _SHORT_GROUP:
        return np.maximum(chunk.max(axis=-1), -chunk.min(axis=-1))
    mag = np.abs(chunk)
    out = mag[..., 0].copy()
    for i in range(1, size):
        np.maximum(out, mag[..., i], out=out)
    return out


def _check_finite(amax: np.ndarray, name: str, start: int) -> None:
    bad = ~np.isfinite(amax.reshape(len(amax), -1).max(axis=1, initial=0.0))
    if bad.any():
        row = start + int(np.argmax(bad))
        raise QuantizationError(f"weight {name!r}: row {row} holds a NaN or infinite value")


def _pack_nibbles(q: np.ndarray) -> np.ndarray:
    """Integers ``q`` (float, in [-8, 7]) two per byte, flattened, as uint8.

    TFLite's order: element 2i in the low nibble, 2i+1 in the high one (the same as
    :func:`litegen.export.tflite_schema.pack_int4`, which tests compare against).
    """
    nib = q.astype(np.int8).reshape(-1).view(np.uint8)  # two's complement bytes
    out = np.empty((nib.size + 1) // 2, np.uint8)
    even = nib.size - nib.size % 2
    np.bitwise_and(nib[0:even:2], 0x0F, out=out[: even // 2])
    out[: even // 2] |= nib[1:even:2] << 4  # uint8 shift drops the sign bits
    if nib.size % 2:
        out[-1] = nib[-1] & 0x0F
    return out


def _round_groups(chunk3: np.ndarray, scales: np.ndarray, stats: _Stats | None) -> np.ndarray:
    """``rint(chunk3 / scales)`` for ``chunk3 [rows, groups, size]``, ``scales [rows, groups]``.

    No clipping needed: every scale is >= max|group| / qmax, so |ratio| <= qmax (+ float
    rounding far below 0.5).
    """
    ratio = chunk3 / scales[..., None]
    q = np.rint(ratio)
    if stats is not None:
        np.subtract(ratio, q, out=ratio)
        stats.add_step_errors(ratio, scales)
    return q


def _block_scales(amax: np.ndarray, name: str, start: int) -> np.ndarray:
    """float16 block scales ``>= amax / 7``: per row, 8-bit codes times a power of two.

    ``scale = code * 2^e`` with ``code`` in [1, 255] and one ``e`` per row (the row's
    largest code is in [128, 255]). Why: the fast form stores the codes as uint8 under a
    float32 per-row scale (LITEGEN_FC's interleaved int4, docs/custom_ops.md: 4.25 bits per
    weight at blocks of 32 instead of 4.5), and 8 significant bits are exact in float16 and
    in bfloat16 - XNNPack's blockwise kernels convert the float16 scales to bfloat16 when
    they pack the weights, so scales with more bits would be rounded there and drift from
    ``dequantize()``. Every form thus computes with the same weights. Rounding *up* keeps
    ``|w / scale| <= 7``, so the half-step error bound holds without clipping; a block's
    step grows by less than one code (< 0.8% for the row's largest blocks).
    """
    exact = np.maximum(amax / np.float32(INT4_QMAX), np.float32(FP16_MIN_NORMAL))
    if exact.size and float(exact.max()) > BLOCK_SCALE_MAX:
        row = start + int(np.argmax(exact.max(axis=-1)))
        raise QuantizationError(
            f"weight {name!r}: row {row} has values too large for float16 block scales "
            f"(max |w| {float(amax.max()):.3g} > {BLOCK_SCALE_MAX * INT4_QMAX:.3g})"
        )
    # Row max = m * 2^e with m in [0.5, 1): steps of 2^(e - 8) put it at code 128..256. Divisions
    # by powers of two are exact; a largest code that rounds up to 256 is 128 one step up.
    _, e = np.frexp(exact.max(axis=-1))
    step = np.ldexp(np.float32(1), e - 8).astype(np.float32)
    codes = np.ceil(exact / step[:, None])
    over = codes.max(axis=-1, initial=0) > 255
    if over.any():
        step[over] *= 2
        codes[over] = np.ceil(exact[over] / step[over, None])
    return (codes * step[:, None]).astype(np.float16)  # exact: 8 significant bits, normal


def block_scale_codes(scales: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(codes uint8 [rows, blocks], row_scales float32 [rows])`` with
    ``codes * row_scales[:, None] == scales`` exactly, for scales made by
    :func:`_block_scales` (the fast form's interleaved int4 operands)."""
    s = np.asarray(scales, np.float32)
    _, e = np.frexp(s.max(axis=-1))  # the largest code is in [128, 255]: m * 2^e, m in [0.5, 1)
    row_scales = np.ldexp(np.float32(1), e - 8).astype(np.float32)
    codes = s / row_scales[:, None]
    if not (np.all(codes == np.rint(codes)) and np.all((codes >= 1) & (codes <= 255))):
        raise QuantizationError("block scales are not 8-bit codes times a power of two per row")
    return codes.astype(np.uint8), row_scales


def interleave_int4(packed: np.ndarray, k: int, block: int) -> np.ndarray:
    """Row-order int4 bytes (TFLite's, ``[rows, k / 2]``) in LITEGEN_FC's interleaved order.

    Per row, blocks go 16 to a group (fewer in the last); slice ``i`` of a group holds, lane
    ``j`` = block ``j``, elements ``8i .. 8i+3`` in the low nibbles of 4 bytes and
    ``8i+4 .. 8i+7`` in their high nibbles (the layout: docs/custom_ops.md).
    """
    data = np.asarray(packed, np.uint8).reshape(-1, k // 2)
    rows = data.shape[0]
    out = np.empty_like(data)
    blocks = k // block
    start = 0  # bytes
    for lanes, count in ((16, blocks // 16), (blocks % 16, 1 if blocks % 16 else 0)):
        if not count:
            continue
        span = count * lanes * block // 2
        # Bytes s0..s3 of (block j, slice i) hold elements 8i..8i+7 two per byte; the
        # stored bytes of (slice i, lane j) pair element 8i+e with 8i+4+e. Byte arithmetic
        # on strided views, then one transposing store (3x faster than moving nibbles).
        src = data[:, start : start + span].reshape(rows, count, lanes, block // 8, 4)
        src = src.transpose(0, 1, 3, 2, 4)
        dst = out[:, start : start + span].reshape(rows, count, block // 8, lanes, 4)
        s0, s1, s2, s3 = (src[..., q] for q in range(4))
        dst[..., 0] = (s0 & 0x0F) | (s2 << 4)
        dst[..., 1] = (s0 >> 4) | (s2 & 0xF0)
        dst[..., 2] = (s1 & 0x0F) | (s3 << 4)
        dst[..., 3] = (s1 >> 4) | (s3 & 0xF0)
        start += span
    return out


CodecKind = Literal["fp16", "int8", "int4", "int4-block"]


@dataclass(frozen=True)
class RowCodec:
    """One stored format, applied to chunks of rows in two steps.

    :meth:`scales` validates rows and computes their scales (one max/min pass);
    :meth:`encode` turns rows plus their scales into the stored values. Eager
    quantization runs both per chunk; lazy quantization (:class:`EncodedRows`) runs
    :meth:`scales` over the whole weight up front - the flatbuffer needs per-channel
    scales before any data is written - and :meth:`encode` only while the file is
    written. Both paths therefore produce identical bytes.
    """

    kind: CodecKind
    block_size: int = 0  # int4-block only

    @property
    def packed(self) -> bool:
        return self.kind in ("int4", "int4-block")

    @property
    def dtype(self) -> np.dtype:
        """dtype of the stored values (int4 as packed uint8 bytes)."""
        return np.dtype({"fp16": np.float16, "int8": np.int8}.get(self.kind, np.uint8))

    def size(self, n: int, k: int) -> int:
        """Number of stored values (bytes for int4) of ``n`` rows of ``k``."""
        return (n * k + 1) // 2 if self.packed else n * k

    def groups(self, k: int, name: str) -> tuple[int, int]:
        """``(groups per row, values per group)``: one scale per group."""
        if self.kind != "int4-block":
            return 1, k
        bs = self.block_size
        if bs <= 0 or k % bs:
            raise QuantizationError(
                f"weight {name!r}: its rows have {k} values, not a multiple of the int4 block "
                f"size {bs}; pick another block size for it (e.g. an override "
                f"'{name.rsplit('.', 1)[0]}=int8')"
            )
        return k // bs, bs

    def empty_scales(self, n: int, k: int, name: str) -> np.ndarray | None:
        if self.kind == "fp16":
            return None
        if self.kind == "int4-block":
            return np.empty((n, self.groups(k, name)[0]), np.float16)
        return np.empty(n, np.float32)

    def scales(
        self, chunk: np.ndarray, name: str, start: int
    ) -> tuple[np.ndarray | None, np.ndarray]:
        """``(scales of these rows or None for fp16, max |w| per group)``; validates."""
        rows, k = chunk.shape
        g, size = self.groups(k, name)
        amax = _abs_max(chunk.reshape(rows, g, size))  # [rows, g]
        _check_finite(amax, name, start)
        if self.kind == "fp16":
            if amax.size and float(amax.max()) > FP16_MAX:
                row = start + int(np.argmax(amax.max(axis=1)))
                raise QuantizationError(
                    f"weight {name!r}: row {row} has a value beyond float16 range "
                    f"({float(amax.max()):.3g} > {FP16_MAX:.0f}); keep it fp32"
                )
            return None, amax
        if self.kind == "int4-block":
            return _block_scales(amax, name, start), amax
        qmax = INT8_QMAX if self.kind == "int8" else INT4_QMAX
        return np.maximum(amax[:, 0] / np.float32(qmax), np.float32(FP32_MIN_NORMAL)), amax

    def encode(
        self,
        chunk: np.ndarray,
        scales: np.ndarray | None,
        stats: _Stats | None,
        row_sums: np.ndarray | None = None,
    ) -> np.ndarray:
        """The stored values of ``chunk`` (flat), given its rows' scales.

        ``row_sums`` (integer formats): filled with each row's sum of dequantized values,
        ``sum_k scale * q`` - the ``wsum`` operand of the fast form's LITEGEN_FC.
        """
        if self.kind == "fp16":
            out = chunk.astype(np.float16)
            if stats is not None:
                stats.add_errors(chunk - out.astype(np.float32))
            return out.reshape(-1)
        assert scales is not None
        rows, k = chunk.shape
        g, size = self.groups(k, "")
        s = scales.astype(np.float32, copy=False).reshape(rows, g)
        q = _round_groups(chunk.reshape(rows, g, size), s, stats)
        if row_sums is not None:
            # Integer sums are exact in float32 (|q| <= 127, at most 2^15 per group).
            group_sums = q.sum(axis=2, dtype=np.float32).astype(np.float64)
            row_sums[:] = (group_sums * s).sum(axis=1)
        return _pack_nibbles(q) if self.packed else q.astype(np.int8).reshape(-1)


def _rows_for(w: np.ndarray, codec: RowCodec, name: str) -> np.ndarray:
    rows = _as_rows(w, name, min_ndim=0 if codec.kind == "fp16" else 2)
    codec.groups(rows.shape[1], name)  # fail early on a bad block size
    return rows


def encode(
    w: np.ndarray, codec: RowCodec, name: str = "weight", stats: bool = True
) -> tuple[np.ndarray, np.ndarray | None, QuantStats | None]:
    """Eager quantization: ``(flat stored values, scales or None, stats or None)``."""
    rows = _rows_for(w, codec, name)
    n, k = rows.shape
    out = np.empty(codec.size(n, k), codec.dtype)
    scales = codec.empty_scales(n, k, name)
    st = _Stats(scaled=scales is not None) if stats else None
    pos = 0
    for start, stop, chunk in _chunks(rows, even=codec.packed):
        s, amax = codec.scales(chunk, name, start)
        if scales is not None:
            scales[start:stop] = s
        if st is not None:
            st.add_weights(chunk, amax)
        values = codec.encode(chunk, s, st)
        out[pos : pos + values.size] = values
        pos += values.size
    return out, scales, st.result() if st else None


class EncodedRows:
    """Lazy quantization: a :class:`~litegen.export.tflite_writer.BufferSource` whose bytes
    are encoded chunk by chunk while the model file is written.

    Construction makes the validation + scales pass (so errors surface at conversion and
    the scales can go into the flatbuffer); the quantized data never exists in full.
    ``source`` must stay alive and unmodified until the model is written. ``cell.value``
    is filled by each complete pass over :meth:`chunks` (None until then, or always
    without ``with_stats``).
    """

    def __init__(
        self,
        source: np.ndarray,
        codec: RowCodec,
        name: str = "weight",
        with_stats: bool = True,
        on_bytes: Callable[[int], None] | None = None,
    ) -> None:
        self.codec = codec
        self.name = name
        self._on_bytes = on_bytes  # progress: called with each chunk's size once written
        self._rows = _rows_for(source, codec, name)
        n, k = self._rows.shape
        self.scales = codec.empty_scales(n, k, name)
        self._max_w = 0.0
        for start, stop, chunk in _chunks(self._rows, even=codec.packed):
            s, amax = codec.scales(chunk, name, start)
            if self.scales is not None:
                self.scales[start:stop] = s
            if amax.size:
                self._max_w = max(self._max_w, float(amax.max()))
        self._with_stats = with_stats
        self.cell = StatsCell()
        self._row_sums: np.ndarray | None = None  # filled by a pass of chunks()

    def row_sums(self) -> np.ndarray:
        """float32 ``[rows]``: each row's sum of dequantized values (see RowCodec.encode).

        Filled by every pass over :meth:`chunks` (the file write); computed by an extra
        encoding pass if asked before one.
        """
        if self._row_sums is None:
            for _ in self.chunks(progress=False):
                pass
        assert self._row_sums is not None
        return self._row_sums.astype(np.float32)

    @property
    def nbytes(self) -> int:
        n, k = self._rows.shape
        return self.codec.size(n, k) * self.codec.dtype.itemsize

    def chunks(self, progress: bool = True) -> Iterator[np.ndarray]:
        st = _Stats(scaled=self.scales is not None) if self._with_stats else None
        sums = np.empty(self._rows.shape[0], np.float64) if self.scales is not None else None
        for start, stop, chunk in _chunks(self._rows, even=self.codec.packed):
            s = self.scales[start:stop] if self.scales is not None else None
            if st is not None:
                st.add_weights(chunk, None)
            values = self.codec.encode(chunk, s, st, None if sums is None else sums[start:stop])
            yield values
            if self._on_bytes is not None and progress:
                self._on_bytes(values.nbytes)
        self._row_sums = sums
        if st is not None:
            st.max_w = self._max_w
            self.cell.value = st.result()

    def materialize(self) -> np.ndarray:
        """All stored values at once (tests, dequantize)."""
        return np.concatenate([*self.chunks(), np.empty(0, self.codec.dtype)])


def quantize_int8_per_channel(
    w: np.ndarray, name: str = "weight", stats: bool = True
) -> tuple[np.ndarray, np.ndarray, QuantStats | None]:
    """Symmetric int8 with one scale per row: ``scale = max|w_row| / 127``.

    Returns ``(q, scales, stats)``: ``q`` int8 with ``w``'s shape, ``scales`` float32
    ``[rows]``; ``w ~= q * scales[:, None]`` with ``|error| <= scale / 2`` per row.
    """
    q, scales, st = encode(w, RowCodec("int8"), name, stats)
    assert scales is not None
    return q.reshape(np.shape(w)), scales, st


def quantize_int4_per_channel(
    w: np.ndarray, name: str = "weight", stats: bool = True
) -> tuple[np.ndarray, np.ndarray, QuantStats | None]:
    """Symmetric int4 with one scale per row: ``scale = max|w_row| / 7``.

    Returns ``(packed, scales, stats)``: ``packed`` uint8, two values per byte in
    TFLite's order, flattened row-major; ``scales`` float32 ``[rows]``.
    """
    packed, scales, st = encode(w, RowCodec("int4"), name, stats)
    assert scales is not None
    return packed, scales, st


def quantize_int4_blockwise(
    w: np.ndarray, block_size: int, name: str = "weight", stats: bool = True
) -> tuple[np.ndarray, np.ndarray, QuantStats | None]:
    """Symmetric int4 with one float16 scale per ``block_size`` consecutive values of a row.

    Returns ``(packed, scales, stats)``: ``packed`` uint8 (two per byte, TFLite order),
    ``scales`` float16 ``[rows, row_size / block_size]`` - the scales tensor XNNPack's
    blockwise kernels (and TFLite's blockwise EMBEDDING_LOOKUP) read; per row, every scale
    is an 8-bit code times one power of two, so it is also exact in bfloat16 (see
    :func:`_block_scales`).

    Raises:
        QuantizationError: the row size is not a multiple of ``block_size``.
    """
    packed, scales, st = encode(w, RowCodec("int4-block", block_size), name, stats)
    assert scales is not None
    return packed, scales, st


def quantize_fp16(
    w: np.ndarray, name: str = "weight", stats: bool = True
) -> tuple[np.ndarray, QuantStats | None]:
    """float16 copy of ``w`` (same shape).

    Raises:
        QuantizationError: a value beyond float16's range (it would become infinite).
    """
    out, _, st = encode(w, RowCodec("fp16"), name, stats)
    return out.reshape(np.shape(w)), st


def quantize_fp32(
    w: np.ndarray, name: str = "weight", stats: bool = True
) -> tuple[np.ndarray, QuantStats | None]:
    """``w`` as a contiguous float32 array (no copy when it already is one); checks finiteness."""
    arr = np.ascontiguousarray(w, dtype=np.float32)
    st = _Stats(scaled=False) if stats else None
    for start, _, chunk in _chunks(_as_rows(arr, name, min_ndim=0)):
        amax = _abs_max(chunk)
        _check_finite(amax, name, start)
        if st is not None:
            st.add_weights(chunk, amax)
    return arr, st.result() if st else None


def unpack_int4(packed: np.ndarray, count: int) -> np.ndarray:
    """Inverse of packing: ``count`` int8 values in [-8, 7] from two-per-byte ``packed``."""
    data = np.asarray(packed, dtype=np.uint8).reshape(-1)
    nibbles = np.empty(data.size * 2, np.uint8)
    nibbles[0::2] = data & 0x0F  # element 2i is the low nibble (TFLite's order)
    nibbles[1::2] = data >> 4
    values = nibbles[:count].astype(np.int8)
    # Sign-extend 4-bit two's complement.
    return np.where(values >= 8, values - 16, values).astype(np.int8)


def dequantize_per_channel(q: np.ndarray, scales: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """float32 ``q * scale`` per row; ``q`` holds unpacked integer values."""
    rows = np.asarray(q, dtype=np.float32).reshape(shape[0], -1)
    return (rows * np.asarray(scales, np.float32)[:, None]).reshape(shape)


def dequantize_int4_blockwise(
    packed: np.ndarray, scales: np.ndarray, shape: tuple[int, ...]
) -> np.ndarray:
    """float32 weights from blockwise int4 (``scales`` float16 ``[rows, blocks]``)."""
    count = int(np.prod(shape, dtype=np.int64))
    n, nb = scales.shape
    q = unpack_int4(packed, count).astype(np.float32).reshape(n, nb, -1)
    return (q * scales.astype(np.float32)[..., None]).reshape(shape)
