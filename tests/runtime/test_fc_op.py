"""LITEGEN_FC (docs/custom_ops.md) through the runtime, on weights quantized and stored by
the exporter's own code (``StoredWeight.fast_linear_operands``):

* against the contract written out in numpy (exact integer dot products): tight;
* against the stock TFLite interpreter's builtin hybrid FULLY_CONNECTED on the same int8
  weights (asymmetric per-row activation quantization, like ours): an independent kernel;
* for every format, against the float product of the dequantized weight within the error
  bound of rounding each activation to its row's uint8 step.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from ai_edge_litert.interpreter import Interpreter, OpResolverType

from litegen.errors import InputError
from litegen.export.tflite_writer import ModelWriter
from litegen.quantize import QuantizedWeight, fully_connected_options, quantize
from litegen.runtime import Model

SCHEMES = ["int8", "int4-ch", "int4-b32", "int4-b128"]


def _write(
    path: Path,
    qw: QuantizedWeight,
    bias: np.ndarray | None,
    fast: bool,
    x_shape: tuple[int, int] | None = None,
    stored_first: bool = False,
) -> tuple[str, ...]:
    """Writes the model; returns the dtypes of LITEGEN_FC's weight operands (fast form).
    ``stored_first``: the stored (row-order) tensor is declared first, as a lookup of a tied
    embedding does."""
    writer = ModelWriter()
    sg = writer.add_subgraph("fc")
    n, k = qw.shape
    x = sg.add_input("x", np.float32, x_shape or (-1, k))
    y = sg.add_tensor("y", np.float32, (-1, n))
    stored = qw.add_to(writer)
    if stored_first:
        stored.stored_tensor(sg)
    b = (
        sg.add_constant("bias", writer.add_buffer(bias), np.float32, (n,))
        if bias is not None
        else None
    )
    dtypes: tuple[str, ...] = ()
    if fast:
        operands = stored.fast_linear_operands(sg)
        assert operands is not None
        dtypes = tuple(t.dtype.name for t in operands)
        sg.add_custom_op("LITEGEN_FC", [x, *operands, *([b] if b is not None else [])], [y])
    else:
        options = fully_connected_options(qw.scheme)
        options.keepNumDims = True
        sg.add_builtin_op("FULLY_CONNECTED", [x, stored.constant(sg), b], [y], options=options)
    sg.add_output(y, "y")
    writer.write(path)
    return dtypes


def _quantize_rows(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The contract's activation quantization: (uint8 rows, scales, zero points)."""
    lo = np.minimum(x.min(axis=1), 0).astype(np.float32)
    hi = np.maximum(x.max(axis=1), 0).astype(np.float32)
    span = hi - lo
    zero_rows = span == 0
    span = np.where(zero_rows, np.float32(255), span)
    inv = (np.float32(255) / span).astype(np.float32)
    scale = np.where(zero_rows, np.float32(1), span / np.float32(255)).astype(np.float32)
    zp = np.clip(np.rint(-lo * inv), 0, 255).astype(np.float32)
    q = np.clip(np.rint(x * inv[:, None]) + zp[:, None], 0, 255)
    q[zero_rows] = 0
    zp[zero_rows] = 0
    return q.astype(np.float64), scale.astype(np.float64), zp.astype(np.float64)


def _contract(x: np.ndarray, qw: QuantizedWeight, bias: np.ndarray | None) -> np.ndarray:
    q, scale, zp = _quantize_rows(x)
    w = qw.dequantize().astype(np.float64)  # scale * integer weight: exact in float64
    y = scale[:, None] * (q @ w.T - zp[:, None] * qw.row_sums().astype(np.float64)[None, :])
    return y + (bias if bias is not None else 0)


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("threads", [1, 2])
def test_fc_op_matches_the_contract_and_the_float_product(scheme, threads, tmp_path):
    rng = np.random.default_rng(5)
    n, k = 200, 384
    w = rng.standard_normal((n, k)).astype(np.float32)
    qw = quantize(w, scheme, "w")
    bias = rng.standard_normal(n).astype(np.float32) if threads == 2 else None
    path = tmp_path / "fc.tflite"
    _write(path, qw, bias, fast=True)
    model = Model(path, num_threads=threads, weight_cache=False)
    w_deq = qw.dequantize()
    for rows in (1, 3, 8, 33):  # decode, small batches, the tiled (AMX) path
        x = (rng.standard_normal((rows, k)) * rng.uniform(0.1, 3, (rows, 1))).astype(np.float32)
        x[0, :5] = 0  # zeros keep their exact zero point
        if rows > 3:
            x[1] = np.abs(x[1])  # zero point 0
            x[2] = 0  # an all-zero row
        y = model.run("fc", x=x)["y"]
        expected = _contract(x, qw, bias)
        scale = np.abs(expected).max()
        assert np.abs(y - expected).max() <= 1e-5 * scale, f"{scheme}: {rows} rows"
        # Rounding each activation to its row's step costs at most step / 2 per weight.
        step = (np.maximum(x.max(1), 0) - np.minimum(x.min(1), 0)) / 255
        bound = step[:, None] / 2 * np.abs(w_deq).sum(axis=1)[None, :]
        exact = x @ w_deq.T + (bias if bias is not None else 0)
        assert np.all(np.abs(y - exact) <= bound * (1 + 1e-4) + 1e-5 * scale)


@pytest.mark.parametrize(("k", "block"), [(1280, 32), (2048, 64)])
@pytest.mark.parametrize("stored_first", [False, True])
def test_fc_op_blockwise_layouts(k, block, stored_first, tmp_path):
    """Blockwise int4 in the fast form: interleaved with uint8 codes when the weight is only
    a linear layer (whole 16-block groups and a short last one), row order with the float16
    scales when its row-order bytes are already stored (a tied embedding): the same math."""
    rng = np.random.default_rng(k)
    n = 72
    qw = quantize(rng.standard_normal((n, k)).astype(np.float32), f"int4-b{block}", "w")
    path = tmp_path / "fc.tflite"
    dtypes = _write(path, qw, None, fast=True, stored_first=stored_first)
    assert dtypes == (
        ("uint8", "float16", "float32") if stored_first else ("uint8",) * 2 + ("float32",)
    )
    model = Model(path, num_threads=2, weight_cache=False)
    for rows in (1, 2, 9):
        x = rng.standard_normal((rows, k)).astype(np.float32)
        expected = _contract(x, qw, None)
        y = model.run("fc", x=x)["y"]
        assert np.abs(y - expected).max() <= 1e-5 * np.abs(expected).max(), rows


def test_fc_op_agrees_with_tflite_builtin_hybrid_kernel(tmp_path):
    rng = np.random.default_rng(6)
    n, k = 96, 256
    qw = quantize(rng.standard_normal((n, k)).astype(np.float32), "int8", "w")
    bias = rng.standard_normal(n).astype(np.float32)
    ours, builtin = tmp_path / "ours.tflite", tmp_path / "builtin.tflite"
    _write(ours, qw, bias, fast=True)
    _write(builtin, qw, bias, fast=False)
    x = rng.standard_normal((9, k)).astype(np.float32)
    y = Model(ours, num_threads=2, weight_cache=False).run("fc", x=x)["y"]
    interp = Interpreter(
        model_path=str(builtin),
        experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
    )
    reference = interp.get_signature_runner("fc")(x=x)["y"]
    # The same quantization scheme, so the same numbers up to float summation order
    # (measured 2e-7 of the largest output; quantization itself errs by ~6e-3).
    np.testing.assert_allclose(y, reference, atol=1e-5 * np.abs(reference).max(), rtol=0)


def test_fc_op_reports_mismatched_shapes(tmp_path):
    rng = np.random.default_rng(7)
    qw = quantize(rng.standard_normal((64, 128)).astype(np.float32), "int8", "w")
    path = tmp_path / "fc.tflite"
    _write(path, qw, None, fast=True, x_shape=(-1, -1))
    model = Model(path, num_threads=1, weight_cache=False)
    with pytest.raises(InputError, match="incompatible shapes"):
        model.run("fc", x=np.zeros((2, 64), np.float32))
    good = rng.standard_normal((2, 128)).astype(np.float32)  # the model still works
    np.testing.assert_allclose(
        model.run("fc", x=good)["y"], _contract(good, qw, None), atol=1e-4, rtol=0
    )


def test_fc_op_rejects_codes_without_channel_scales(tmp_path):
    """uint8 block codes need the [2, N] channel scales + row sums operand: a [N] one (the
    other formats' row sums) is refused with the operand named, and nothing is computed."""
    rng = np.random.default_rng(8)
    qw = quantize(rng.standard_normal((64, 128)).astype(np.float32), "int4-b32", "w")
    writer = ModelWriter()
    sg = writer.add_subgraph("fc")
    x = sg.add_input("x", np.float32, (-1, 128))
    y = sg.add_tensor("y", np.float32, (-1, 64))
    weights, codes, wsum = qw.add_to(writer).fast_linear_operands(sg)
    assert codes.dtype.name == "uint8" and wsum.shape == (2, 64)
    row_sums = sg.add_constant("row_sums", writer.add_buffer(qw.row_sums()), np.float32, (64,))
    sg.add_custom_op("LITEGEN_FC", [x, weights, codes, row_sums], [y])
    sg.add_output(y, "y")
    path = tmp_path / "fc.tflite"
    writer.write(path)
    model = Model(path, num_threads=1, weight_cache=False)
    with pytest.raises(InputError, match=r"input 3 \(wsum\)"):
        model.run("fc", x=np.ones((1, 128), np.float32))


@pytest.mark.parametrize("with_bias", [False, True])
def test_fc_op_adds_the_residual_after_the_bias(with_bias, tmp_path):
    """The residual operand (the exporter's fused residual connection; input 4 without a
    bias, 5 with one): y = (x W^T + bias) + residual, the same float32 additions as the op
    without it followed by ADD; a residual of the wrong size is refused."""
    rng = np.random.default_rng(9)
    n, k = 96, 256
    qw = quantize(rng.standard_normal((n, k)).astype(np.float32), "int8", "w")
    bias = rng.standard_normal(n).astype(np.float32) if with_bias else None
    writer = ModelWriter()
    sg = writer.add_subgraph("fc")
    x = sg.add_input("x", np.float32, (-1, k))
    residual = sg.add_input("residual", np.float32, (-1, -1))
    y = sg.add_tensor("y", np.float32, (-1, n))
    operands = list(qw.add_to(writer).fast_linear_operands(sg))
    if bias is not None:
        operands.append(sg.add_constant("bias", writer.add_buffer(bias), np.float32, (n,)))
    sg.add_custom_op("LITEGEN_FC", [x, *operands, residual], [y])
    sg.add_output(y, "y")
    path, plain = tmp_path / "fc_residual.tflite", tmp_path / "fc.tflite"
    writer.write(path)
    _write(plain, qw, bias, fast=True)
    fused, unfused = Model(path, num_threads=2), Model(plain, num_threads=2)
    for rows in (1, 5):
        xs = rng.standard_normal((rows, k)).astype(np.float32)
        r = rng.standard_normal((rows, n)).astype(np.float32)
        expected = unfused.run("fc", x=xs)["y"] + r  # float32 + float32: the same rounding
        np.testing.assert_array_equal(fused.run("fc", x=xs, residual=r)["y"], expected)
    with pytest.raises(InputError, match="residual="):
        fused.run("fc", x=np.ones((2, k), np.float32), residual=np.ones((2, n - 1), np.float32))
