"""Every scheme, emitted into two-signature models, runs through litegen.runtime.

FULLY_CONNECTED forms must be taken whole by XNNPack (``fully_accelerated``): a silent
fallback to TFLite's builtin kernels is a bug (for blockwise int4 it is 150-700x slower).
Results are compared with numpy on the *dequantized* weights:

* float compute (fp32, fp16, int8-weight-only): XNNPack computes in float32 on the
  dequantized weights; only the summation order differs, so
  ``|y - ref| <= 1e-5 * (|x| @ |W|^T) + 1e-6``.
* dynamic range (int8, int4-ch, int4-bN): XNNPack also quantizes each activation row to
  int8 (asymmetric, over a range that includes 0: step ``s = (max(x,0) - min(x,0)) / 255``),
  so each activation is off by at most ``s / 2`` and each output by at most
  ``s / 2 * sum_k |W[n, k]|`` (plus float rounding). Observed errors stay below 0.25 of
  that worst case; the RMS error must also stay under 2% of the RMS output (observed
  ~0.6%), which a wrong nibble order or scale layout would exceed by far.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from ai_edge_litert.interpreter import Interpreter, OpResolverType

from litegen.export.tflite_schema import schema
from litegen.export.tflite_writer import PAGE_ALIGNMENT, ModelWriter
from litegen.quantize import (
    QuantizationError,
    QuantizedWeight,
    fully_connected_options,
    quantize,
)
from litegen.runtime import Model
from tests.quantize.models import write_fc_model, write_lookup_model, write_tied_model

OUT_FEATURES, IN_FEATURES = 96, 256  # 256: a multiple of every block size tested
FLOAT_SCHEMES = ("fp32", "fp16", "int8-weight-only")
DYNAMIC_SCHEMES = ("int8", "int4-ch", "int4-b32", "int4-b64", "int4-b128")
ALL_SCHEMES = FLOAT_SCHEMES + DYNAMIC_SCHEMES


@pytest.fixture(scope="module")
def float_weight() -> np.ndarray:
    rng = np.random.default_rng(7)
    w = (rng.standard_normal((OUT_FEATURES, IN_FEATURES)) * 0.05).astype(np.float32)
    w[5] *= 30  # one loud row: scales are per row
    return w


@pytest.fixture(scope="module")
def inputs() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(8)
    prefill = rng.standard_normal((7, IN_FEATURES)).astype(np.float32)
    prefill[2] += 3.0  # all-positive-ish row: exercises the asymmetric activation range
    prefill[4] *= 20
    return {"prefill": prefill, "decode": rng.standard_normal((1, IN_FEATURES)).astype(np.float32)}


def load(path: Path) -> Model:
    return Model(path, num_threads=2, weight_cache_path=path.with_suffix(".xnnpack_cache"))


def check_fc_output(scheme: str, x: np.ndarray, w: np.ndarray, y: np.ndarray) -> None:
    ref = x @ w.T
    err = np.abs(y - ref)
    float_slack = 1e-5 * (np.abs(x) @ np.abs(w).T) + 1e-6
    if scheme in FLOAT_SCHEMES:
        assert np.all(err <= float_slack), f"{scheme}: max error {err.max():.3g}"
        return
    step = (np.maximum(x.max(axis=1), 0) - np.minimum(x.min(axis=1), 0)) / 255
    bound = step[:, None] / 2 * np.abs(w).sum(axis=1)[None, :] + float_slack
    assert np.all(err <= bound), f"{scheme}: error/bound {(err / bound).max():.3f}"
    rms = float(np.sqrt(np.mean(err**2) / np.mean(ref**2)))
    assert rms < 0.02, f"{scheme}: RMS error {rms:.2%} of RMS output"


def stored_copies(path: Path, qw: QuantizedWeight) -> int:
    return path.read_bytes().count(qw.stored_values().tobytes())


@pytest.mark.parametrize("lazy", [False, True], ids=["eager", "lazy"])
@pytest.mark.parametrize("scheme", ALL_SCHEMES)
def test_fully_connected_runs_on_xnnpack(
    scheme: str,
    lazy: bool,
    float_weight: np.ndarray,
    inputs: dict[str, np.ndarray],
    tmp_path: Path,
) -> None:
    qw = quantize(float_weight, scheme, "transformer_blocks.0.mlp.up_proj.weight", lazy=lazy)
    path = tmp_path / f"{scheme}.tflite"
    writer = write_fc_model(path, qw)
    # One stored copy shared by both signatures (+ the fp16 scales buffer for blockwise).
    assert stored_copies(path, qw) == 1
    assert writer.num_buffers == 1 + len(qw.add_to(writer).buffers)
    # The file is the weights, the flatbuffer (< 4 KiB) and at most a page of padding before
    # each page-aligned buffer.
    assert path.stat().st_size < qw.nbytes + PAGE_ALIGNMENT * (1 + writer.num_buffers)

    model = load(path)
    assert model.fully_accelerated, f"{scheme}: XNNPack did not take every op"
    w = qw.dequantize()
    for signature, x in inputs.items():
        y = model.run(signature, x=x)["y"]
        check_fc_output(scheme, x, w, y)
    # The weight cache also holds one packed copy for both signatures. XNNPack unpacks
    # fp16 and int8-weight-only weights to float32 when packing: 4 bytes per weight.
    one_copy = 4 * float_weight.size if scheme in FLOAT_SCHEMES else qw.nbytes
    cache = path.with_suffix(".xnnpack_cache").stat().st_size
    assert cache < 1.8 * one_copy, f"{scheme}: cache {cache} B for one copy of {one_copy} B"
    # A different prefill length reuses the same compiled model.
    x3 = inputs["prefill"][:3]
    y3 = model.run("prefill", x=x3)["y"]
    check_fc_output(scheme, x3, w, y3)
    # A second load maps the packed weights from the cache instead of repacking them.
    again = load(path)
    assert again.fully_accelerated
    np.testing.assert_array_equal(again.run("prefill", x=x3)["y"], y3)


@pytest.mark.parametrize("scheme", ["int4-ch", "int4-b32"])
def test_int4_nibble_order_through_the_runtime(scheme: str, tmp_path: Path) -> None:
    """One-hot inputs read single weight columns: each must come back exactly.

    A one-hot row quantizes exactly (0 and 1 are on the int8 grid of [0, 1]), so the output
    is W[:, j] itself; swapped nibbles would return the neighbouring column.
    """
    rng = np.random.default_rng(3)
    q = rng.integers(-7, 8, size=(16, 64)).astype(np.float32)
    q[:, 0], q[:, 1] = 7, -3  # columns 0 and 1 share every byte and differ everywhere
    qw = quantize(q * 0.25, scheme)
    np.testing.assert_array_equal(qw.dequantize(), q * 0.25)  # exact: scales are 0.25
    path = tmp_path / "nibbles.tflite"
    write_fc_model(path, qw)
    model = load(path)
    assert model.fully_accelerated
    eye = np.eye(64, dtype=np.float32)
    y = model.run("prefill", x=eye)["y"]
    np.testing.assert_allclose(y, (q * 0.25).T, rtol=0, atol=1e-6)


@pytest.mark.parametrize("scheme", ALL_SCHEMES)
def test_embedding_lookup(scheme: str, float_weight: np.ndarray, tmp_path: Path) -> None:
    """Row lookups return exactly the dequantized rows.

    XNNPack has no GATHER / EMBEDDING_LOOKUP: these run on TFLite's builtin kernels, which
    copy (and dequantize) only the requested rows, so the model is never "fully
    accelerated". Asserted so that a LiteRT that changes this gets noticed.
    """
    qw = quantize(float_weight, scheme, "tok_embedding.weight")
    path = tmp_path / f"lookup_{scheme}.tflite"
    write_lookup_model(path, qw)
    assert stored_copies(path, qw) == 1
    model = load(path)
    assert not model.fully_accelerated
    table = qw.dequantize()
    for signature, ids in (("prefill", [0, 95, 5, 5, 17]), ("decode", [42])):
        idx = np.array(ids, np.int32)
        rows = model.run(signature, ids=idx)["rows"]
        np.testing.assert_array_equal(rows, table[idx])


@pytest.mark.parametrize("scheme", ["fp16", "int8", "int4-b32"])
def test_tied_embedding_and_lm_head_share_one_copy(
    scheme: str, float_weight: np.ndarray, tmp_path: Path
) -> None:
    qw = quantize(float_weight.T.copy(), scheme, "tok_embedding.weight")  # [vocab 256, dim 96]
    path = tmp_path / f"tied_{scheme}.tflite"
    write_tied_model(path, qw)
    assert stored_copies(path, qw) == 1
    model = load(path)
    table = qw.dequantize()
    ids = np.array([3, 200, 255], np.int32)
    logits = model.run("prefill", ids=ids)["logits"]
    check_fc_output(scheme, table[ids], table, logits)


def test_emission_reuses_buffers_and_tensors(float_weight: np.ndarray) -> None:
    qw = quantize(float_weight, "fp16", "lm_head.weight")
    writer = ModelWriter()
    stored = qw.add_to(writer)
    assert qw.add_to(writer) is stored  # buffers are added once per model
    sg = writer.add_subgraph("decode")
    w1 = stored.constant(sg)
    assert stored.constant(sg) is w1  # one DEQUANTIZE per subgraph, however many readers
    raw = stored.stored_tensor(sg)
    assert raw.name == "lm_head.weight:fp16" and raw.dtype.name == "float16"
    assert raw.buffer == stored.data_buffer
    assert w1.dtype.name == "float32" and w1.name == "lm_head.weight:fp16/float32"
    other = ModelWriter()
    assert qw.add_to(other) is not stored
    with pytest.raises(QuantizationError, match="not part of the model"):
        stored.constant(other.add_subgraph("prefill"))


def test_blockwise_emission_declares_fp16_scales(float_weight: np.ndarray) -> None:
    """XNNPack reads blockwise scales as float16 only (float32 ones fail at the first run)."""
    qw = quantize(float_weight, "int4-b64", "w")
    writer = ModelWriter()
    stored = qw.add_to(writer)
    sg = writer.add_subgraph("decode")
    w = stored.constant(sg)
    assert w.dtype.name == "int4"
    scales = sg.tensor("w:int4-b64/scales")
    assert scales.dtype.name == "float16" and scales.shape == (OUT_FEATURES, IN_FEATURES // 64)
    assert scales.buffer == stored.scales_buffer
    x = sg.add_input("x", np.float32, (1, IN_FEATURES))
    y = sg.add_tensor("y", np.float32, (1, OUT_FEATURES))
    sg.add_builtin_op("FULLY_CONNECTED", [x, w, None], [y], options=schema.FullyConnectedOptionsT())
    sg.add_output(y)
    model = schema.ModelT.InitFromPackedBuf(bytearray(writer.to_bytes()), 0)
    details = model.subgraphs[0].tensors[w.index].quantization.details
    assert details.blockSize == 64 and details.scales == scales.index
    assert details.zeroPoints == -1  # symmetric


def test_lookup_needs_1d_int32_ids(float_weight: np.ndarray) -> None:
    writer = ModelWriter()
    stored = quantize(float_weight, "int8", "tok_embedding.weight").add_to(writer)
    sg = writer.add_subgraph("prefill")
    ids = sg.add_input("ids", np.int32, (1, -1))
    with pytest.raises(QuantizationError, match="1-D int32"):
        stored.lookup(sg, ids, "rows")


@pytest.mark.parametrize("scheme", ALL_SCHEMES)
def test_forms_run_on_tflite_builtin_kernels(
    scheme: str, float_weight: np.ndarray, inputs: dict[str, np.ndarray], tmp_path: Path
) -> None:
    """Portable exports: the stock interpreter without XNNPack runs every form too.

    TFLite's builtin int4 hybrid kernel quantizes activation rows *symmetrically* (step
    ``max|x| / 127``, coarser than XNNPack's asymmetric one; the int8 one follows
    ``asymmetric_quantize_inputs``), hence the symmetric bound here.
    """
    qw = quantize(float_weight, scheme, "w")
    fc_path, lookup_path = tmp_path / "fc.tflite", tmp_path / "lookup.tflite"
    write_fc_model(fc_path, qw)
    write_lookup_model(lookup_path, qw)
    w = qw.dequantize()

    def runner(path: Path, signature: str) -> Any:
        interp = Interpreter(
            model_path=str(path),
            experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
        )
        return interp.get_signature_runner(signature)

    x = inputs["prefill"]
    y = runner(fc_path, "prefill")(x=x)["y"]
    err = np.abs(y - x @ w.T)
    step = np.abs(x).max(axis=1) / 127 if scheme in DYNAMIC_SCHEMES else np.zeros(len(x))
    bound = step[:, None] / 2 * np.abs(w).sum(axis=1)[None, :]
    assert np.all(err <= bound + 1e-5 * (np.abs(x) @ np.abs(w).T) + 1e-6)
    ids = np.array([0, 95, 5], np.int32)
    np.testing.assert_array_equal(runner(lookup_path, "prefill")(ids=ids)["rows"], w[ids])


def test_fully_connected_options_follow_the_scheme() -> None:
    for scheme in DYNAMIC_SCHEMES:
        assert fully_connected_options(scheme).asymmetricQuantizeInputs
    for scheme in FLOAT_SCHEMES:
        assert not fully_connected_options(scheme).asymmetricQuantizeInputs
