"""The int8 matrix-multiply peak of this machine, as XNNPack runs it for litegen models.

A one-signature .tflite of dynamic-range int8 FULLY_CONNECTED layers (float activations,
int8 per-channel weights: the ops of an int8 model's prefill) is timed with
:class:`litegen.runtime.Model`. The layers come in up/down pairs, [M, K] -> [M, N] ->
[M, K] (default 512 x 2048 x 8192, the TinyLlama MLP), chained so that the per-call
cost of copying inputs and outputs in and out of the runtime is small next to the
matmuls. GOPS = 2 * M * N * K * layers / seconds, best call (a peak) and median.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from litegen.bench.errors import BenchmarkError

SIGNATURE = "matmul"


@dataclass(frozen=True)
class MatmulShape:
    rows: int = 512  # M: tokens in a prefill chunk
    hidden: int = 2048  # K
    inner: int = 8192  # N
    pairs: int = 2  # up/down FC pairs chained

    @property
    def ops_per_call(self) -> int:
        return 2 * self.rows * self.hidden * self.inner * 2 * self.pairs


@dataclass(frozen=True)
class ComputePeak:
    shape: MatmulShape
    threads: int
    peak_gops: float  # best call
    median_gops: float
    calls: int
    fully_accelerated: bool  # XNNPack ran every op (else the number is not XNNPack's)


def write_matmul_model(path: Path, shape: MatmulShape, seed: int = 0) -> None:
    """The chained int8 dynamic-range FC model (signature ``matmul``: x -> y)."""
    from litegen.export.tflite_writer import ModelWriter, Quantization
    from litegen.quantize import fully_connected_options
    from litegen.quantize.quantizers import quantize_int8_per_channel

    rng = np.random.default_rng(seed)
    writer = ModelWriter(description="litegen int8 matmul peak")

    def int8_weight(out_features: int, in_features: int) -> tuple[int, Quantization]:
        w = rng.standard_normal((out_features, in_features), dtype=np.float32) * 0.02
        q, scales, _ = quantize_int8_per_channel(w, stats=False)
        return writer.add_buffer(q), Quantization(scales, None, quantized_dimension=0)

    up, up_q = int8_weight(shape.inner, shape.hidden)
    down, down_q = int8_weight(shape.hidden, shape.inner)
    sg = writer.add_subgraph(SIGNATURE)
    x = sg.add_input("x", np.float32, (shape.rows, shape.hidden))
    for i in range(shape.pairs):
        for name, buf, quant, (n_out, n_in) in (
            ("up", up, up_q, (shape.inner, shape.hidden)),
            ("down", down, down_q, (shape.hidden, shape.inner)),
        ):
            w = sg.add_constant(f"{name}{i}_w", buf, np.int8, (n_out, n_in), quant)
            y = sg.add_tensor(f"{name}{i}_y", np.float32, (shape.rows, n_out))
            sg.add_builtin_op("FULLY_CONNECTED", [x, w, None], [y], fully_connected_options("int8"))
            x = y
    sg.add_output(x, "y")
    writer.write(path)


def measure_compute_peak(
    threads: int,
    shape: MatmulShape | None = None,
    *,
    warmup: int = 2,
    calls: int = 10,
    work_dir: Path | None = None,
) -> ComputePeak:
    """Times ``calls`` runs of the int8 matmul model with ``threads`` threads."""
    from litegen.runtime import Model

    shape = shape or MatmulShape()
    if calls < 1 or warmup < 0:
        raise BenchmarkError(f"compute peak needs calls >= 1 and warmup >= 0 ({calls}, {warmup})")
    with tempfile.TemporaryDirectory(dir=work_dir) as tmp:
        path = Path(tmp) / "int8_matmul.tflite"
        write_matmul_model(path, shape)
        # Each layer packs its own copy of the shared weight without a cache: keep one.
        model = Model(path, num_threads=threads, weight_cache_path=Path(tmp) / "cache")
        x = np.random.default_rng(1).standard_normal((shape.rows, shape.hidden), np.float32)
        seconds = []
        for i in range(warmup + calls):
            start = time.perf_counter()
            model.run(SIGNATURE, x=x)
            if i >= warmup:
                seconds.append(time.perf_counter() - start)
        accelerated = model.fully_accelerated
        del model
    gops = [shape.ops_per_call / s / 1e9 for s in seconds]
    return ComputePeak(
        shape=shape,
        threads=threads,
        peak_gops=max(gops),
        median_gops=statistics.median(gops),
        calls=calls,
        fully_accelerated=accelerated,
    )
