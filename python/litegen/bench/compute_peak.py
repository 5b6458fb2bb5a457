"""The int8 matrix-multiply peak of this machine, as litegen's kernels run it.

A one-signature .tflite of dynamic-range int8 linear layers (float activations, int8
per-channel weights: the ops of an int8 model's prefill) is timed with
:class:`litegen.runtime.Model`. The layers come in up/down pairs, [M, K] -> [M, N] ->
[M, K] (default 512 x 2048 x 8192, the TinyLlama MLP), chained so that the per-call
cost of copying inputs and outputs in and out of the runtime is small next to the
matmuls. GOPS = 2 * M * N * K * layers / seconds, best call (a peak) and median.
``kernel="litegen"`` (default) uses LITEGEN_FC, what the fast form's prefill runs (AMX /
VNNI here); ``"xnnpack"`` builtin FULLY_CONNECTED, what the portable form runs.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from litegen.bench.errors import BenchmarkError

SIGNATURE = "matmul"
Kernel = Literal["litegen", "xnnpack"]


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
    # Every op ran on the intended kernels (XNNPack took every FULLY_CONNECTED; always
    # true for LITEGEN_FC, which only litegen's kernels run), else the number is not theirs.
    fully_accelerated: bool
    kernel: Kernel = "litegen"


def write_matmul_model(
    path: Path, shape: MatmulShape, seed: int = 0, kernel: Kernel = "litegen"
) -> tuple[np.ndarray, np.ndarray]:
    """The chained int8 dynamic-range linear model (signature ``matmul``: x -> y); returns
    the (dequantized) up and down weights it multiplies by."""
    from litegen.export.tflite_writer import ModelWriter
    from litegen.quantize import fully_connected_options, quantize

    rng = np.random.default_rng(seed)
    writer = ModelWriter(description="litegen int8 matmul peak")
    up, down = (
        quantize(rng.standard_normal(dims, dtype=np.float32) * 0.02, "int8", name, stats=False)
        for name, dims in (
            ("up", (shape.inner, shape.hidden)),
            ("down", (shape.hidden, shape.inner)),
        )
    )
    sg = writer.add_subgraph(SIGNATURE)
    x = sg.add_input("x", np.float32, (shape.rows, shape.hidden))
    for i in range(shape.pairs):
        for weight in (up, down):
            y = sg.add_tensor(f"{weight.name}{i}_y", np.float32, (shape.rows, weight.shape[0]))
            stored = weight.add_to(writer)
            operands = stored.fast_linear_operands(sg) if kernel == "litegen" else None
            if operands is not None:
                sg.add_custom_op("LITEGEN_FC", [x, *operands], [y])
            else:
                options = fully_connected_options("int8")
                sg.add_builtin_op("FULLY_CONNECTED", [x, stored.constant(sg), None], [y], options)
            x = y
    sg.add_output(x, "y")
    writer.write(path)
    return up.dequantize(), down.dequantize()


def measure_compute_peak(
    threads: int,
    shape: MatmulShape | None = None,
    *,
    warmup: int = 2,
    calls: int = 10,
    work_dir: Path | None = None,
    kernel: Kernel = "litegen",
) -> ComputePeak:
    """Times ``calls`` runs of the int8 matmul model with ``threads`` threads."""
    from litegen.runtime import Model

    shape = shape or MatmulShape()
    if calls < 1 or warmup < 0:
        raise BenchmarkError(f"compute peak needs calls >= 1 and warmup >= 0 ({calls}, {warmup})")
    with tempfile.TemporaryDirectory(dir=work_dir) as tmp:
        path = Path(tmp) / "int8_matmul.tflite"
        write_matmul_model(path, shape, kernel=kernel)
        # Each layer packs its own copy of the shared weight without a cache: keep one.
        model = Model(path, num_threads=threads, weight_cache_path=Path(tmp) / "cache")
        x = np.random.default_rng(1).standard_normal((shape.rows, shape.hidden), np.float32)
        seconds = []
        for i in range(warmup + calls):
            start = time.perf_counter()
            model.run(SIGNATURE, x=x)
            if i >= warmup:
                seconds.append(time.perf_counter() - start)
        accelerated = model.fully_accelerated or kernel == "litegen"
        del model
    gops = [shape.ops_per_call / s / 1e9 for s in seconds]
    return ComputePeak(
        shape=shape,
        threads=threads,
        peak_gops=max(gops),
        median_gops=statistics.median(gops),
        calls=calls,
        fully_accelerated=accelerated,
        kernel=kernel,
    )
