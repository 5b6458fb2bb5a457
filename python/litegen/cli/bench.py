"""``litegen bench MODEL [--prompt-tokens N] [--decode-tokens M] [--threads T] [--repeat R]
[--json]``: one benchmark of a fast-form model with the C++ engine (``litegen-run
--bench`` in a child process, so init time and peak RSS are its own)."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any


def register(sub: argparse._SubParsersAction) -> None:
    bench = sub.add_parser(
        "bench",
        help="benchmark a model: init, prefill and decode tokens/s, time to first token, RSS",
        description="Benchmark a fast-form model (.tflite or .litegen) with litegen's C++ "
        "engine on synthetic token ids: init time, prefill tokens/s for a prompt of N "
        "tokens, time to first token, decode tokens/s for M tokens at context depth N, peak "
        "RSS; medians of --repeat runs after --warmup. For the full sweep see "
        "benchmarks/bench.py.",
    )
    bench.add_argument("model", metavar="MODEL", type=Path, help="fast-form .tflite or .litegen")
    bench.add_argument("--prompt-tokens", type=int, default=128, metavar="N", help="default 128")
    bench.add_argument("--decode-tokens", type=int, default=32, metavar="M", help="default 32")
    bench.add_argument("--threads", type=int, default=2, metavar="T", help="default 2")
    bench.add_argument("--repeat", type=int, default=3, metavar="R", help="timed runs (3)")
    bench.add_argument("--warmup", type=int, default=1, metavar="W", help="untimed runs (1)")
    cache = bench.add_mutually_exclusive_group()
    cache.add_argument(
        "--weight-cache",
        type=Path,
        metavar="PATH",
        help="XNNPack weight-cache file (default: the runtime's cache for MODEL)",
    )
    cache.add_argument("--no-weight-cache", action="store_true", help="run without a cache")
    bench.add_argument(
        "--cold", action="store_true", help="delete the weight cache first (cold init)"
    )
    bench.add_argument(
        "--limits",
        action="store_true",
        help="also measure memory bandwidth and the int8 matmul peak (slower) and report "
        "decode / prefill as a percentage of them",
    )
    bench.add_argument("--json", action="store_true", help="print one JSON object")
    bench.set_defaults(handler=_bench)


def _check_positive(name: str, value: int, minimum: int = 1) -> None:
    from litegen.errors import InputError

    if value < minimum:
        raise InputError(f"{name} must be >= {minimum}, got {value}")


def _bench(args: argparse.Namespace) -> int:
    from litegen.bench.compute_peak import measure_compute_peak
    from litegen.bench.limits import Limits, mean_positions
    from litegen.bench.model_info import read_model_weights
    from litegen.bench.report import single_markdown
    from litegen.bench.runner import BenchRunner, find_litegen_run, measure_bandwidth
    from litegen.errors import ModelLoadError
    from litegen.runtime.model import resolve_weight_cache_path

    _check_positive("--prompt-tokens", args.prompt_tokens)
    _check_positive("--decode-tokens", args.decode_tokens, 0)
    _check_positive("--threads", args.threads)
    _check_positive("--repeat", args.repeat)
    _check_positive("--warmup", args.warmup, 0)
    if not args.model.is_file():
        raise ModelLoadError(f"cannot open model file '{args.model}': no such file")
    cache = resolve_weight_cache_path(args.model, args.weight_cache, not args.no_weight_cache)
    runner = BenchRunner(args.model, args.threads, cache, find_litegen_run())
    m = runner.llm(
        args.prompt_tokens,
        args.decode_tokens,
        warmup=args.warmup,
        repeat=args.repeat,
        cold=args.cold,
    )
    result: dict[str, Any] = {
        "model": str(args.model),
        "model_file_bytes": m.model_file_bytes,
        "threads": m.threads,
        "isa": m.isa,
        "prompt_tokens": m.prompt_tokens,
        "decode_tokens": m.decode_tokens,
        "warmup": m.warmup,
        "repeat": len(m.runs),
        "max_context": m.max_context,
        "weight_cache": str(cache) if cache else None,
        "weight_cache_state": m.weight_cache_state,
        # The keys other tools read (keep them stable): medians over the repetitions.
        "prefill_tokens_per_second": m.summary("prefill_tokens_per_second").median,
        "decode_tokens_per_second": m.summary("decode_tokens_per_second").median,
        "time_to_first_token_seconds": m.summary("time_to_first_token_seconds").median,
        "init_seconds": m.init_seconds,
        "peak_rss_bytes": m.peak_rss_bytes,
        "rss_after_init_bytes": m.rss_after_init_bytes,
        "spread": {
            key: m.summary(key).to_json()
            for key in (
                "prefill_tokens_per_second",
                "decode_tokens_per_second",
                "time_to_first_token_seconds",
            )
        },
        "runs": [asdict(r) for r in m.runs],
    }
    if args.limits:
        weights = read_model_weights(args.model)
        limits = Limits(
            bandwidth_gb_per_s=measure_bandwidth(runner.binary, args.threads).read_gb_per_s,
            compute_peak_gops=measure_compute_peak(args.threads).peak_gops,
            weight_bytes=weights.weight_bytes,
            matmul_params=weights.matmul_params,
            kv_bytes_per_position=weights.kv_bytes_per_position,
        )
        positions = mean_positions(m.prompt_tokens, m.decode_tokens)
        result["limits"] = limits.to_json()
        result["decode_limit_tokens_per_second"] = limits.decode_limit(positions)
        result["decode_percent_of_bandwidth_limit"] = limits.decode_percent(
            result["decode_tokens_per_second"], positions
        )
        result["prefill_percent_of_compute_limit"] = limits.prefill_percent(
            result["prefill_tokens_per_second"]
        )
    print(json.dumps(result) if args.json else single_markdown(result))
    return 0
