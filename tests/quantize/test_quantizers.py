"""Weight quantizers: error bounds, scales XNNPack accepts, packing, chunking, bad input."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from litegen.export.tflite_schema import pack_int4
from litegen.quantize import QuantizationError, quantize
from litegen.quantize import quantizers as qz

RNG = np.random.default_rng(42)


def weight(rows: int = 37, cols: int = 256, scale: float = 0.05) -> np.ndarray:
    w = (RNG.standard_normal((rows, cols)) * scale).astype(np.float32)
    w[3] *= 40  # rows of very different magnitude: per-row scales must follow them
    return w


def test_int8_per_channel_error_is_half_a_step_per_row() -> None:
    w = weight()
    q, scales, stats = qz.quantize_int8_per_channel(w)
    assert q.dtype == np.int8 and q.shape == w.shape
    np.testing.assert_allclose(scales, np.abs(w).max(axis=1) / 127, rtol=1e-6)
    assert np.abs(q).max() <= 127  # symmetric: -128 unused
    err = np.abs(w - q * scales[:, None])
    assert np.all(err.max(axis=1) <= scales / 2 * (1 + 1e-5))
    assert stats.max_abs_error == pytest.approx(float(err.max()), rel=1e-5)
    assert stats.max_error_in_steps is not None and stats.max_error_in_steps <= 0.5 + 1e-5
    assert stats.max_abs_weight == pytest.approx(float(np.abs(w).max()))
    assert 0 < stats.relative_rms_error < 0.01


def test_int4_per_channel_bound_and_packing() -> None:
    w = weight()
    packed, scales, stats = qz.quantize_int4_per_channel(w)
    assert packed.dtype == np.uint8 and packed.size == w.size // 2
    q = qz.unpack_int4(packed, w.size).reshape(w.shape)
    assert np.abs(q).max() <= 7
    np.testing.assert_array_equal(packed, pack_int4(q))  # the writer's nibble order
    np.testing.assert_allclose(scales, np.abs(w).max(axis=1) / 7, rtol=1e-6)
    err = np.abs(w - q * scales[:, None])
    assert np.all(err.max(axis=1) <= scales / 2 * (1 + 1e-5))
    assert stats.max_abs_error == pytest.approx(float(err.max()), rel=1e-5)


@pytest.mark.parametrize("block", [32, 64, 128])
def test_int4_blockwise_bound_and_scales(block: int) -> None:
    w = weight()
    packed, scales, stats = qz.quantize_int4_blockwise(w, block)
    assert scales.dtype == np.float16 and scales.shape == (w.shape[0], w.shape[1] // block)
    s = scales.astype(np.float32)
    blocks = w.reshape(w.shape[0], -1, block)
    # float16 scales are rounded up, never down: |w / scale| <= 7 without clipping.
    assert np.all(s * 7 >= np.abs(blocks).max(axis=2))
    # ... to 8-bit codes times a power of two per row (the fast form's uint8 codes), by less
    # than one code; the row's largest code is in [128, 255], so that costs < 2^-7 there.
    codes, row_scales = qz.block_scale_codes(scales)
    np.testing.assert_array_equal(codes * row_scales[:, None], s)
    assert np.all(codes.max(axis=1) >= 128) and np.all(codes >= 1)
    assert np.all(np.log2(row_scales) == np.rint(np.log2(row_scales)))
    exact = np.abs(blocks).max(axis=2) / 7
    assert np.all(s - exact < row_scales[:, None])
    assert np.all(s.max(axis=1) <= exact.max(axis=1) * (1 + 2**-7))
    # 8 significant bits are exact in bfloat16 (XNNPack converts the scales to it).
    assert np.all(s.view(np.uint32) & 0xFFFF == 0)
    q = qz.unpack_int4(packed, w.size).reshape(blocks.shape)
    err = np.abs(blocks - q * s[..., None])
    assert np.all(err.max(axis=2) <= s / 2 * (1 + 1e-3))
    np.testing.assert_allclose(
        qz.dequantize_int4_blockwise(packed, scales, w.shape), (q * s[..., None]).reshape(w.shape)
    )
    assert stats.max_error_in_steps is not None and stats.max_error_in_steps <= 0.5 + 1e-3


def test_blockwise_is_more_accurate_with_smaller_blocks() -> None:
    w = weight(64, 512)
    errs = [qz.quantize_int4_blockwise(w, b)[2].rms_error for b in (32, 64, 128)]
    per_channel = qz.quantize_int4_per_channel(w)[2].rms_error
    assert errs[0] < errs[1] < errs[2] < per_channel


def test_fp16() -> None:
    w = weight()
    h, stats = qz.quantize_fp16(w)
    assert h.dtype == np.float16 and h.shape == w.shape
    np.testing.assert_array_equal(h, w.astype(np.float16))
    assert stats.max_abs_error == pytest.approx(float(np.abs(w - h.astype(np.float32)).max()))
    assert stats.max_error_in_steps is None
    with pytest.raises(QuantizationError, match="float16 range"):
        qz.quantize_fp16(np.array([[1.0, 7e4]], np.float32))


def test_scales_are_normal_for_zero_and_tiny_rows() -> None:
    """XNNPack rejects a whole tensor if any scale is zero or subnormal."""
    w = weight(8, 64)
    w[1] = 0.0
    w[2] = 1e-40  # subnormal float32
    w[5, :32] = 1e-6  # a block whose exact float16 scale would be subnormal
    _, s8, _ = qz.quantize_int8_per_channel(w)
    _, s4, _ = qz.quantize_int4_per_channel(w)
    for s in (s8, s4):
        assert np.all(np.isfinite(s)) and np.all(s >= np.finfo(np.float32).smallest_normal)
    packed, sb, _ = qz.quantize_int4_blockwise(w, 32)
    assert np.all(sb >= np.float16(qz.FP16_MIN_NORMAL))
    dq = qz.dequantize_int4_blockwise(packed, sb, w.shape)
    assert np.all(dq[1] == 0) and np.abs(dq - w).max() <= np.abs(w).max() / 14 * 1.001


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("scheme", ["fp32", "fp16", "int8", "int4-ch", "int4-b32"])
def test_non_finite_weights_are_rejected_naming_the_row(bad: float, scheme: str) -> None:
    w = weight(6, 64)
    w[4, 7] = bad
    with pytest.raises(QuantizationError, match=r"'blk\.w'.*row 4"):
        quantize(w, scheme, "blk.w")


def test_block_size_must_divide_rows() -> None:
    with pytest.raises(QuantizationError, match="not a multiple of the int4 block size 64"):
        quantize(weight(4, 96), "int4-b64", "transformer_blocks.0.mlp.down_proj.weight")


def test_integer_schemes_need_two_dims_and_floats() -> None:
    with pytest.raises(QuantizationError, match="at least 2 dimensions"):
        quantize(np.ones(8, np.float32), "int8")
    with pytest.raises(QuantizationError, match="float array"):
        quantize(np.ones((2, 8), np.int32), "int8")
    assert quantize(np.ones(8, np.float32), "fp16").data.shape == (8,)


def test_huge_blockwise_values_are_rejected() -> None:
    w = np.full((1, 32), 1e6, np.float32)
    with pytest.raises(QuantizationError, match="too large for float16 block scales"):
        quantize(w, "int4-b32")


@pytest.mark.parametrize("scheme", ["fp16", "int8", "int4-ch", "int4-b32"])
def test_chunking_does_not_change_results(scheme: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Odd row length (int4: chunks must stay on byte boundaries) and a partial last chunk."""
    cols = 96 if scheme == "int4-b32" else 95
    w = weight(23, cols)
    whole = quantize(w, scheme)
    monkeypatch.setattr(qz, "CHUNK_ELEMENTS", 3 * cols)  # 3 rows per chunk (2 for int4-ch)
    chunked = quantize(w, scheme)
    np.testing.assert_array_equal(whole.data, chunked.data)
    if whole.scales is not None:
        np.testing.assert_array_equal(whole.scales, chunked.scales)
    assert whole.stats.max_abs_error == chunked.stats.max_abs_error
    assert whole.stats.rms_error == pytest.approx(chunked.stats.rms_error)


def test_input_is_not_modified_and_fp32_is_not_copied() -> None:
    w = weight()
    before = w.copy()
    for scheme in ("fp16", "int8", "int4-ch", "int4-b32"):
        quantize(w, scheme)
    np.testing.assert_array_equal(w, before)
    assert quantize(w, "fp32").data is w


def test_other_float_dtypes_and_nd_weights() -> None:
    w64 = weight(8, 64).astype(np.float64)
    q32 = quantize(w64.astype(np.float32), "int8")
    q64 = quantize(w64, "int8")
    np.testing.assert_array_equal(q32.data, q64.data)
    w3 = weight(8, 64).reshape(8, 4, 16)  # rows = dim 0, the rest flattened
    q3 = quantize(w3, "int4-b32")
    assert q3.shape == (8, 4, 16) and q3.scales is not None and q3.scales.shape == (8, 2)
    np.testing.assert_allclose(q3.dequantize(), w3, atol=float(np.abs(w3).max()) / 14 + 1e-6)


def test_quantized_weight_sizes() -> None:
    w = weight(16, 128)
    assert quantize(w, "fp32").nbytes == w.nbytes
    assert quantize(w, "fp16").nbytes == w.nbytes // 2
    assert quantize(w, "int8").nbytes == w.size  # per-row scales live in the flatbuffer
    assert quantize(w, "int4-ch").nbytes == w.size // 2
    assert quantize(w, "int4-b32").nbytes == w.size // 2 + 16 * 4 * 2  # + fp16 scales


@pytest.mark.parametrize("scheme", ["fp16", "int8", "int4-ch", "int4-b32"])
def test_memory_is_output_plus_bounded_temporaries(scheme: str) -> None:
    """Streaming-friendly: no full-size float temporaries, whatever the weight size."""
    w = RNG.standard_normal((4096, 1024)).astype(np.float32)  # 16 MiB
    tracemalloc.start()
    try:
        qw = quantize(w, scheme)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    extra = peak - qw.nbytes
    assert extra < 6 * 4 * qz.CHUNK_ELEMENTS, f"{extra / 2**20:.1f} MiB of temporaries"


def test_stats_can_be_skipped() -> None:
    w = weight()
    fast = quantize(w, "int4-b32", stats=False)
    full = quantize(w, "int4-b32")
    assert fast.stats is None and full.stats is not None
    np.testing.assert_array_equal(fast.data, full.data)


@pytest.mark.parametrize("scheme", ["fp16", "int8", "int4-ch", "int4-b32"])
def test_lazy_quantization_matches_eager(scheme: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(qz, "CHUNK_ELEMENTS", 5 * 96)  # several chunks
    w = weight(23, 96)
    eager = quantize(w, scheme, "w")
    lazy = quantize(w, scheme, "w", lazy=True)
    assert lazy.lazy and not eager.lazy
    assert lazy.nbytes == eager.nbytes and lazy.shape == eager.shape
    if eager.scales is not None:
        np.testing.assert_array_equal(lazy.scales, eager.scales)
    assert lazy.stats is None  # computed while the data is written
    assert isinstance(lazy.data, qz.EncodedRows)
    np.testing.assert_array_equal(lazy.data.materialize(), eager.data.reshape(-1))
    assert lazy.stats == eager.stats
    np.testing.assert_array_equal(lazy.dequantize(), eager.dequantize())


def test_lazy_quantization_validates_up_front() -> None:
    w = weight(6, 64)
    w[2, 3] = np.nan
    with pytest.raises(QuantizationError, match="row 2"):
        quantize(w, "int8", "w", lazy=True)
    with pytest.raises(QuantizationError, match="block size 128"):
        quantize(weight(4, 96), "int4-b128", "w", lazy=True)


def test_lazy_weights_stream_into_the_file(tmp_path) -> None:
    """Neither quantize(lazy=True) nor the write holds the quantized data in full."""
    from litegen.export.tflite_writer import ModelWriter

    w = RNG.standard_normal((4096, 1024)).astype(np.float32)  # 16 MiB float, 4 MiB int8
    tracemalloc.start()
    try:
        qw = quantize(w, "int8", "w", lazy=True)
        _, after_quantize = tracemalloc.get_traced_memory()
        writer = ModelWriter()
        stored = qw.add_to(writer)
        sg = writer.add_subgraph("decode")
        x = sg.add_input("x", np.float32, (1, 1024))
        y = sg.add_tensor("y", np.float32, (1, 4096))
        sg.add_builtin_op("FULLY_CONNECTED", [x, stored.constant(sg), None], [y])
        sg.add_output(y)
        tracemalloc.reset_peak()
        writer.write(tmp_path / "lazy.tflite")
        _, during_write = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert after_quantize < 1 << 20  # scales and bookkeeping only
    assert during_write < 6 * 4 * qz.CHUNK_ELEMENTS + (1 << 20)
    assert qw.stats is not None and qw.stats.max_error_in_steps <= 0.5 + 1e-5


@pytest.mark.parametrize(("k", "block"), [(64, 32), (640, 32), (1280, 32), (384, 64), (576, 96)])
def test_interleave_int4_follows_the_documented_layout(k: int, block: int) -> None:
    """docs/custom_ops.md's position formula, element by element (whole groups of 16
    blocks, a short last group, slices of 8 values)."""
    rng = np.random.default_rng(k + block)
    values = rng.integers(-8, 8, (3, k)).astype(np.int8)
    packed = pack_int4(values).reshape(3, k // 2)
    out = qz.interleave_int4(packed, k, block)
    assert out.shape == packed.shape and out.dtype == np.uint8
    blocks = k // block
    for element in range(k):
        b, in_block = divmod(element, block)
        group, lane = divmod(b, 16)
        lanes = min(16, blocks - 16 * group)
        i, r = divmod(in_block, 8)
        byte = 8 * block * group + 4 * lanes * i + 4 * lane + r % 4
        nibble = (out[:, byte] >> (4 if r >= 4 else 0)) & 0x0F
        np.testing.assert_array_equal(nibble, values[:, element].view(np.uint8) & 0x0F)


def test_block_scale_codes_rejects_scales_that_are_not_codes() -> None:
    with pytest.raises(QuantizationError, match="8-bit codes"):
        qz.block_scale_codes(np.array([[1.0, 0.3]], np.float16))
