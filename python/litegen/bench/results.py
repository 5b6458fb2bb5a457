"""Parsing of ``litegen-run --bench --json`` and ``--measure-bandwidth --json`` output.

The C++ side (cpp/bench/) writes one JSON object per process; these dataclasses are its
typed, validated form. A missing key or a value of the wrong type raises
:class:`BenchmarkError` naming the key, so a format drift between the binary and this
package is reported, not silently turned into zeros.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from litegen.bench.errors import BenchmarkError
from litegen.bench.stats import Summary, summarize

LLM_SCHEMA = "litegen.bench.llm/1"
BANDWIDTH_SCHEMA = "litegen.bench.bandwidth/2"


def _load(text: str, what: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        snippet = text.strip()[:200]
        raise BenchmarkError(f"{what}: output is not JSON ({e.msg}): {snippet!r}") from e
    if not isinstance(data, dict):
        raise BenchmarkError(f"{what}: expected a JSON object, got {type(data).__name__}")
    return data


def _get(data: dict[str, Any], key: str, kind: type | tuple[type, ...], what: str) -> Any:
    if key not in data:
        raise BenchmarkError(f"{what}: key {key!r} is missing")
    value = data[key]
    # bool is an int subclass; a boolean is never a valid number here.
    if isinstance(value, bool) and kind is not bool:
        raise BenchmarkError(f"{what}: {key!r} is a boolean, expected a number")
    if not isinstance(value, kind):
        raise BenchmarkError(f"{what}: {key!r} is {value!r}, expected {kind}")
    return value


def _number(data: dict[str, Any], key: str, what: str) -> float:
    return float(_get(data, key, (int, float), what))


def _schema(data: dict[str, Any], expected: str, what: str) -> None:
    found = data.get("schema")
    if found != expected:
        raise BenchmarkError(f"{what}: schema {found!r}, this harness reads {expected!r}")


@dataclass(frozen=True)
class LlmRun:
    """One timed repetition: a fresh session, prefill of the prompt, then the decode steps."""

    prefill_seconds: float
    prefill_tokens_per_second: float
    time_to_first_token_seconds: float
    decode_seconds: float
    decode_tokens_per_second: float
    decoded_tokens: int


@dataclass(frozen=True)
class LlmMeasurement:
    """One ``litegen-run --bench`` process: its init and its repetitions."""

    model: str
    model_file_bytes: int
    threads: int
    isa: str
    prompt_tokens: int
    decode_tokens: int
    warmup: int
    max_context: int
    vocab_size: int
    num_layers: int
    weight_cache_state: str  # "cold", "warm" or "none"
    init_seconds: float
    peak_rss_bytes: int
    rss_after_init_bytes: int
    runs: tuple[LlmRun, ...]
    # The model file's bytes mapped through 2 MiB pages at the end (None: not reported,
    # older litegen-run); decode reads 4 KiB-paged weights 12-16% slower.
    model_huge_page_bytes: int | None = None

    def summary(self, field: str) -> Summary:
        """Median and spread of one LlmRun field over the repetitions."""
        return summarize([getattr(r, field) for r in self.runs])


def parse_llm(text: str, what: str = "litegen-run --bench") -> LlmMeasurement:
    data = _load(text, what)
    _schema(data, LLM_SCHEMA, what)
    raw_runs = _get(data, "runs", list, what)
    if not raw_runs:
        raise BenchmarkError(f"{what}: 'runs' is empty")
    runs = []
    for i, raw in enumerate(raw_runs):
        where = f"{what} run {i}"
        if not isinstance(raw, dict):
            raise BenchmarkError(f"{where}: expected an object")
        runs.append(
            LlmRun(
                prefill_seconds=_number(raw, "prefill_seconds", where),
                prefill_tokens_per_second=_number(raw, "prefill_tokens_per_second", where),
                time_to_first_token_seconds=_number(raw, "time_to_first_token_seconds", where),
                decode_seconds=_number(raw, "decode_seconds", where),
                decode_tokens_per_second=_number(raw, "decode_tokens_per_second", where),
                decoded_tokens=_get(raw, "decoded_tokens", int, where),
            )
        )
    state = _get(data, "weight_cache_state", str, what)
    if state not in ("cold", "warm", "none"):
        raise BenchmarkError(f"{what}: weight_cache_state {state!r} is not cold/warm/none")
    return LlmMeasurement(
        model=_get(data, "model", str, what),
        model_file_bytes=_get(data, "model_file_bytes", int, what),
        threads=_get(data, "threads", int, what),
        isa=_get(data, "isa", str, what),
        prompt_tokens=_get(data, "prompt_tokens", int, what),
        decode_tokens=_get(data, "decode_tokens", int, what),
        warmup=_get(data, "warmup", int, what),
        max_context=_get(data, "max_context", int, what),
        vocab_size=_get(data, "vocab_size", int, what),
        num_layers=_get(data, "num_layers", int, what),
        weight_cache_state=state,
        init_seconds=_number(data, "init_seconds", what),
        peak_rss_bytes=_get(data, "peak_rss_bytes", int, what),
        rss_after_init_bytes=_get(data, "rss_after_init_bytes", int, what),
        runs=tuple(runs),
        model_huge_page_bytes=(
            _get(data, "model_huge_page_bytes", int, what)
            if "model_huge_page_bytes" in data
            else None
        ),
    )


@dataclass(frozen=True)
class BandwidthMeasurement:
    threads: int
    buffer_bytes: int
    read_gb_per_s: float  # best pass
    passes_gb_per_s: tuple[float, ...]
    huge_pages: bool  # read through 2 MiB pages, as a freshly converted model is mapped


def parse_bandwidth(
    text: str, what: str = "litegen-run --measure-bandwidth"
) -> BandwidthMeasurement:
    data = _load(text, what)
    _schema(data, BANDWIDTH_SCHEMA, what)
    passes = _get(data, "passes_gb_per_s", list, what)
    if not passes or not all(
        isinstance(p, (int, float)) and not isinstance(p, bool) for p in passes
    ):
        raise BenchmarkError(f"{what}: 'passes_gb_per_s' must be a non-empty list of numbers")
    return BandwidthMeasurement(
        threads=_get(data, "threads", int, what),
        buffer_bytes=_get(data, "buffer_bytes", int, what),
        read_gb_per_s=_number(data, "read_gb_per_s", what),
        passes_gb_per_s=tuple(float(p) for p in passes),
        huge_pages=_get(data, "huge_pages", bool, what),
    )
