"""The full benchmark of one model: init (cold and warm), prefill at several prompt
lengths, decode at several context depths, peak RSS, and the machine's limits.

Every measurement is its own ``litegen-run --bench`` process (see runner.py), with
warm-up repetitions and timed repetitions inside it; the report gives the median and the
spread of the timed ones. The result is one JSON-ready dict (schema
``litegen.bench.sweep/1``), rendered by report.py and plot.py.
"""

from __future__ import annotations

import os
import platform
import statistics
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from litegen.bench.compute_peak import ComputePeak, MatmulShape, measure_compute_peak
from litegen.bench.errors import BenchmarkError
from litegen.bench.limits import Limits, mean_positions
from litegen.bench.model_info import read_model_weights
from litegen.bench.results import BandwidthMeasurement, LlmMeasurement
from litegen.bench.runner import BenchRunner, measure_bandwidth
from litegen.bench.stats import summarize

SWEEP_SCHEMA = "litegen.bench.sweep/1"


@dataclass(frozen=True)
class SweepConfig:
    threads: int = 2
    prefill_lengths: Sequence[int] = (32, 128, 512, 1024)
    decode_depths: Sequence[int] = (128, 512, 1024)
    decode_tokens: int = 32  # decode steps per repetition
    warmup: int = 1
    repeat: int = 3
    init_repeat: int = 3  # cold and warm init processes each
    limits: bool = True  # measure bandwidth and the int8 matmul peak
    bandwidth_mib: int = 1024
    matmul: MatmulShape = field(default_factory=MatmulShape)


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("model name", "Hardware")):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def decode_prompt(depth: int, decode_tokens: int, max_context: int) -> int:
    """Prompt length for decoding at ``depth``: the steps run at depth .. depth + M - 1,
    shifted back to end at the context's last row when depth + M does not fit."""
    prompt = min(depth, max_context - decode_tokens)
    if prompt < 1:
        raise BenchmarkError(
            f"{decode_tokens} decode tokens do not fit the model's context of {max_context}"
        )
    return prompt


def _runs_json(m: LlmMeasurement) -> list[dict[str, Any]]:
    return [asdict(r) for r in m.runs]


def run_sweep(
    runner: BenchRunner,
    config: SweepConfig,
    log: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    """Runs every measurement of ``config`` on ``runner``'s model."""
    if config.init_repeat < 1 or config.repeat < 1 or config.warmup < 0:
        raise BenchmarkError("the sweep needs init_repeat >= 1, repeat >= 1 and warmup >= 0")
    if runner.weight_cache is None:
        raise BenchmarkError("the sweep measures cold and warm init: give it a weight cache")
    load_before = list(os.getloadavg())
    weights = read_model_weights(runner.model)

    def measure_limits(when: str) -> tuple[list[BandwidthMeasurement], list[ComputePeak]]:
        if not config.limits:
            return [], []
        log(f"memory-read bandwidth ({when})")
        bw = measure_bandwidth(runner.binary, runner.threads, buffer_mib=config.bandwidth_mib)
        log(f"int8 matmul peak ({when})")
        # The limit is the faster of litegen's kernels (what the fast form runs) and
        # XNNPack's, so a slow kernel of ours cannot flatter the percentage.
        peaks = [
            measure_compute_peak(runner.threads, config.matmul, kernel=kernel)
            for kernel in ("litegen", "xnnpack")
        ]
        return [bw], peaks

    bandwidth_before, peaks_before = measure_limits("before")

    # Init: cold (cache deleted) then warm (cache from the cold run), one process each.
    cold, warm = [], []
    for i in range(config.init_repeat):
        log(f"init cold {i + 1}/{config.init_repeat}")
        cold.append(runner.init(cold=True))
    for i in range(config.init_repeat):
        log(f"init warm {i + 1}/{config.init_repeat}")
        warm.append(runner.init(cold=False))
    info = warm[0] if warm else cold[0]
    max_context = info.max_context

    prefill = []
    for n in config.prefill_lengths:
        if n > max_context:
            log(f"prefill {n}: skipped (context is {max_context})")
            continue
        log(f"prefill {n} tokens")
        m = runner.llm(n, 0, warmup=config.warmup, repeat=config.repeat)
        prefill.append(
            {
                "prompt_tokens": n,
                "tokens_per_second": m.summary("prefill_tokens_per_second").to_json(),
                "time_to_first_token_seconds": m.summary("time_to_first_token_seconds").to_json(),
                "peak_rss_bytes": m.peak_rss_bytes,
                "runs": _runs_json(m),
            }
        )

    decode = []
    for depth in config.decode_depths:
        prompt = decode_prompt(depth, config.decode_tokens, max_context)
        log(f"decode {config.decode_tokens} tokens at depth {prompt}")
        m = runner.llm(prompt, config.decode_tokens, warmup=config.warmup, repeat=config.repeat)
        decode.append(
            {
                "depth": depth,
                "prompt_tokens": prompt,
                "decode_tokens": config.decode_tokens,
                "tokens_per_second": m.summary("decode_tokens_per_second").to_json(),
                "peak_rss_bytes": m.peak_rss_bytes,
                "model_huge_page_bytes": m.model_huge_page_bytes,
                "runs": _runs_json(m),
            }
        )

    limits_json: dict[str, Any] | None = None
    if config.limits:
        bandwidth_after, peak_after = measure_limits("after")
        bandwidth = [*bandwidth_before, *bandwidth_after]
        peaks = [*peaks_before, *peak_after]
        # A limit is the best the machine did: on a shared machine the other sessions'
        # load comes and goes, so the limits are measured before and after the model.
        limits = Limits(
            bandwidth_gb_per_s=max(b.read_gb_per_s for b in bandwidth),
            compute_peak_gops=max(p.peak_gops for p in peaks),
            weight_bytes=weights.weight_bytes,
            matmul_params=weights.matmul_params,
            kv_bytes_per_position=weights.kv_bytes_per_position,
        )
        for entry in prefill:
            entry["percent_of_compute_limit"] = limits.prefill_percent(
                entry["tokens_per_second"]["median"]
            )
        for entry in decode:
            positions = mean_positions(entry["prompt_tokens"], entry["decode_tokens"])
            entry["bytes_read_per_token"] = limits.decode_bytes_per_token(positions)
            entry["bandwidth_limit_tokens_per_second"] = limits.decode_limit(positions)
            entry["percent_of_bandwidth_limit"] = limits.decode_percent(
                entry["tokens_per_second"]["median"], positions
            )
        limits_json = {
            **limits.to_json(),
            "bandwidth_passes_gb_per_s": [p for b in bandwidth for p in b.passes_gb_per_s],
            "bandwidth_before_after_gb_per_s": [b.read_gb_per_s for b in bandwidth],
            "bandwidth_buffer_bytes": bandwidth[0].buffer_bytes,
            "bandwidth_huge_pages": all(b.huge_pages for b in bandwidth),
            "compute_before_after_gops": [p.peak_gops for p in peaks],
            "compute_median_gops": statistics.median(p.median_gops for p in peaks),
            "compute_matmul_shape": asdict(config.matmul),
            "compute_fully_accelerated": all(p.fully_accelerated for p in peaks),
        }

    # Steady state: every process that started from a warm cache (a cold init also holds
    # the weights while packing them; it is reported on its own).
    peak_rss = max(
        [m.peak_rss_bytes for m in warm] + [e["peak_rss_bytes"] for e in prefill + decode]
    )
    return {
        "schema": SWEEP_SCHEMA,
        "model": {
            "path": str(runner.model),
            "file_bytes": weights.file_bytes,
            "weight_bytes": weights.weight_bytes,
            "kv_bytes_per_position": weights.kv_bytes_per_position,
            "matmul_params": weights.matmul_params,
            "max_context": max_context,
            "vocab_size": info.vocab_size,
            "num_layers": info.num_layers,
        },
        "machine": {
            "cpu": cpu_model(),
            "cpu_count": os.cpu_count(),
            "isa": info.isa,
            "platform": platform.platform(),
            "load_avg_before": load_before,
            "load_avg_after": list(os.getloadavg()),
        },
        "settings": {
            "threads": runner.threads,
            "warmup": config.warmup,
            "repeat": config.repeat,
            "init_repeat": config.init_repeat,
            "decode_tokens": config.decode_tokens,
            "weight_cache": str(runner.weight_cache) if runner.weight_cache else None,
        },
        "init": {
            "cold_seconds": summarize([m.init_seconds for m in cold]).to_json(),
            "warm_seconds": summarize([m.init_seconds for m in warm]).to_json(),
            "cold_peak_rss_bytes": max(m.peak_rss_bytes for m in cold),
            "warm_peak_rss_bytes": max(m.peak_rss_bytes for m in warm),
        },
        "prefill": prefill,
        "decode": decode,
        "peak_rss_bytes": peak_rss,
        "peak_rss_over_file_size": peak_rss / weights.file_bytes,
        "limits": limits_json,
    }
