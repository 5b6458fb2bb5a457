"""litegen's benchmark harness: speed, memory and the machine's limits.

Each measurement is a ``litegen-run --bench`` process (C++, cpp/bench/), so init time and
peak RSS belong to it alone; this package spawns them, parses their JSON, summarizes the
repetitions (median and spread), measures the machine's memory-read bandwidth and int8
matmul peak, and renders JSON, markdown and a PNG plot. Entry points: ``litegen bench``
(one measurement) and ``benchmarks/bench.py`` (the full sweep).
"""

from litegen.bench.errors import BenchmarkError
from litegen.bench.limits import Limits
from litegen.bench.results import BandwidthMeasurement, LlmMeasurement, parse_bandwidth, parse_llm
from litegen.bench.runner import BenchRunner, find_litegen_run
from litegen.bench.stats import Summary, summarize
from litegen.bench.sweep import SweepConfig, run_sweep

__all__ = [
    "BandwidthMeasurement",
    "BenchRunner",
    "BenchmarkError",
    "Limits",
    "LlmMeasurement",
    "Summary",
    "SweepConfig",
    "find_litegen_run",
    "parse_bandwidth",
    "parse_llm",
    "run_sweep",
    "summarize",
]
