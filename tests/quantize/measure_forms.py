"""Quick measurement (not a test): one FULLY_CONNECTED per quantization scheme.

For each scheme: is it fully accelerated by XNNPack through litegen.runtime, how far is it
from numpy on the dequantized weights, and how long does a decode (1 row) and a prefill
(64 rows) take, next to TFLite's builtin kernels without XNNPack (ai_edge_litert
interpreter, BUILTIN_WITHOUT_DEFAULT_DELEGATES) as the slow reference.

Usage: python -m tests.quantize.measure_forms [SIZE] [--runs N]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from ai_edge_litert.interpreter import Interpreter, OpResolverType

from litegen.quantize import quantize
from litegen.runtime import Model
from tests.quantize.models import write_fc_model

SCHEMES = (
    "fp32",
    "fp16",
    "int8",
    "int8-weight-only",
    "int4-ch",
    "int4-b32",
    "int4-b64",
    "int4-b128",
)


def _ms_per_run(fn: Callable[[], object], runs: int, repeats: int = 5) -> float:
    fn()  # warm-up (first run allocates)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(runs):
            fn()
        times.append((time.perf_counter() - start) / runs * 1e3)
    # The best repeat: other processes on a shared 2-core machine only ever add time.
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("size", nargs="?", type=int, default=2048)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--prefill-rows", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    n = k = args.size
    rng = np.random.default_rng(0)
    w = (rng.standard_normal((n, k)) * 0.02).astype(np.float32)
    x1 = rng.standard_normal((1, k)).astype(np.float32)
    xp = rng.standard_normal((args.prefill_rows, k)).astype(np.float32)
    print(f"FULLY_CONNECTED {n}x{k}, {args.threads} threads, best of 5 x {args.runs} runs (ms)")
    print(
        f"{'scheme':18s} {'fully_acc':9s} {'file MB':>7s} {'rel err':>8s} {'decode':>7s} "
        f"{'prefill':>8s} {'builtin decode':>14s} {'builtin prefill':>15s}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for name in SCHEMES:
            qw = quantize(w, name, "w")
            path = Path(tmp) / f"{name}.tflite"
            write_fc_model(path, qw)
            model = Model(
                path, num_threads=args.threads, weight_cache_path=Path(tmp) / f"{name}.cache"
            )
            ref = xp @ qw.dequantize().T
            y = model.run("prefill", x=xp)["y"]
            rel = float(np.abs(y - ref).max() / np.abs(ref).max())
            dec = _ms_per_run(lambda m=model: m.run("decode", x=x1), args.runs)
            pre = _ms_per_run(lambda m=model: m.run("prefill", x=xp), max(args.runs // 5, 3))
            interp = Interpreter(
                model_path=str(path),
                num_threads=args.threads,
                experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
            )
            ref_dec_runner = interp.get_signature_runner("decode")
            ref_pre_runner = interp.get_signature_runner("prefill")
            bdec = _ms_per_run(lambda r=ref_dec_runner: r(x=x1), max(args.runs // 5, 3))
            bpre = _ms_per_run(lambda r=ref_pre_runner: r(x=xp), 3, repeats=1)
            print(
                f"{name:18s} {model.fully_accelerated!s:9s} {path.stat().st_size / 1e6:7.2f} "
                f"{rel:8.1e} {dec:7.3f} {pre:8.3f} {bdec:14.3f} {bpre:15.3f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
