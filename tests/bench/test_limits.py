"""The limits: weight statistics read from .tflite files, the int8 matmul model, and the
percentages derived from them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from litegen.bench import BenchmarkError, Limits
from litegen.bench.compute_peak import (
    SIGNATURE,
    MatmulShape,
    measure_compute_peak,
    write_matmul_model,
)
from litegen.bench.limits import mean_positions
from litegen.bench.model_info import read_model_weights
from litegen.inspection.tflite_reader import read_tflite
from tests.fixtures.cpp_models import FC_IN, FC_OUT, write_two_signature_fc

SMALL = MatmulShape(rows=8, hidden=64, inner=128, pairs=2)  # LITEGEN_FC sizes


def test_float_fc_shared_by_two_signatures_counts_once(tmp_path: Path) -> None:
    path = tmp_path / "fc.tflite"
    write_two_signature_fc(path)
    w = read_model_weights(path)
    assert w.matmul_params == FC_IN * FC_OUT  # prefill and decode share the buffer
    assert w.weight_bytes == 4 * FC_IN * FC_OUT  # float32
    assert w.constant_bytes == w.weight_bytes + 4 * FC_OUT  # + the bias
    assert w.file_bytes == path.stat().st_size


def test_int8_matmul_model_weights(tmp_path: Path) -> None:
    path = tmp_path / "mm.tflite"
    write_matmul_model(path, SMALL)
    w = read_model_weights(path)
    # The up and down weights are each shared by every pair: one byte per int8 element,
    # plus LITEGEN_FC's float32 scale and row sum per output channel.
    assert w.matmul_params == 2 * SMALL.hidden * SMALL.inner
    assert w.weight_bytes == w.matmul_params + 8 * (SMALL.hidden + SMALL.inner)


def test_converted_model_weights(tiny_model: Path) -> None:
    from benchmarks.convert_benchmark import TINY, tensor_shapes

    w = read_model_weights(tiny_model)
    # Every 2-D checkpoint tensor except the embedding table is a matmul weight (int8).
    expected = sum(
        int(np.prod(dims))
        for name, dims in tensor_shapes(TINY)
        if len(dims) == 2 and "embed_tokens" not in name
    )
    assert w.matmul_params == expected
    # LITEGEN_FC reads a float32 scale and row sum per output channel with its int8 rows.
    rows = sum(
        dims[0]
        for name, dims in tensor_shapes(TINY)
        if len(dims) == 2 and "embed_tokens" not in name
    )
    assert w.weight_bytes == expected + 8 * rows
    assert w.file_bytes > w.constant_bytes > w.weight_bytes
    # Keys and values of one position: float16 (the fast form's default), every layer,
    # every kv head.
    head_dim = TINY.hidden_size // TINY.num_heads
    assert w.kv_bytes_per_position == 2 * 2 * TINY.num_layers * TINY.num_kv_heads * head_dim


def test_not_a_model_raises(tmp_path: Path) -> None:
    path = tmp_path / "junk.tflite"
    path.write_bytes(b"\0" * 64)
    with pytest.raises(BenchmarkError, match=r"junk\.tflite"):
        read_model_weights(path)


@pytest.mark.parametrize("kernel", ["litegen", "xnnpack"])
def test_matmul_model_computes_the_chain(tmp_path: Path, kernel: str) -> None:
    """The peak is only meaningful if the model does the matmuls it claims: compare with
    numpy on the dequantized weights (dynamic-range int8: ~1% error)."""
    from litegen.runtime import Model

    path = tmp_path / "mm.tflite"
    up, down = write_matmul_model(path, SMALL, kernel=kernel)  # type: ignore[arg-type]
    ops = read_tflite(path).signatures[0].op_histogram
    assert ("LITEGEN_FC" in ops) == (kernel == "litegen")
    x = np.random.default_rng(0).standard_normal((SMALL.rows, SMALL.hidden), np.float32)
    expected = x
    for _ in range(SMALL.pairs):
        expected = (expected @ up.T) @ down.T
    got = Model(path, num_threads=1, weight_cache=False).run(SIGNATURE, x=x)["y"]
    err = np.linalg.norm(got - expected) / np.linalg.norm(expected)
    assert err < 0.05


def test_compute_peak_is_positive(tmp_path: Path) -> None:
    peak = measure_compute_peak(1, SMALL, warmup=1, calls=3, work_dir=tmp_path)
    assert peak.fully_accelerated
    assert peak.peak_gops >= peak.median_gops > 0
    assert SMALL.ops_per_call == 2 * 8 * 64 * 128 * 2 * 2


def test_limits_arithmetic() -> None:
    limits = Limits(
        bandwidth_gb_per_s=50.0, compute_peak_gops=2000.0, weight_bytes=10**9, matmul_params=10**9
    )
    assert limits.decode_tokens_per_second == pytest.approx(50.0)  # 50e9 B/s / 1e9 B
    assert limits.prefill_tokens_per_second == pytest.approx(1000.0)  # 2e12 / 2e9
    assert limits.decode_percent(45.0) == pytest.approx(90.0)
    assert limits.prefill_percent(250.0) == pytest.approx(25.0)
    assert limits.to_json()["decode_limit_tokens_per_second"] == pytest.approx(50.0)


def test_decode_limit_counts_the_kv_cache() -> None:
    limits = Limits(
        bandwidth_gb_per_s=50.0,
        compute_peak_gops=2000.0,
        weight_bytes=10**9,
        matmul_params=10**9,
        kv_bytes_per_position=10**5,
    )
    # 1000 positions: 1e9 + 1e8 bytes a step.
    assert limits.decode_bytes_per_token(1000) == pytest.approx(1.1e9)
    assert limits.decode_limit(1000) == pytest.approx(50e9 / 1.1e9)
    assert limits.decode_percent(40.0, 1000) == pytest.approx(100 * 40.0 * 1.1 / 50.0)
    assert limits.decode_tokens_per_second == pytest.approx(50.0)  # empty cache
    # After a 100-token prompt, 10 steps attend to 101..110 positions.
    assert mean_positions(100, 10) == pytest.approx(105.5)
