"""Parsers for the peers' own benchmark outputs (pure functions, no peer installed)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any


class ParseError(ValueError):
    """A benchmark's output does not have the expected shape (the message says what)."""


@dataclass(frozen=True)
class Speeds:
    """What a benchmark reports; None where it reports nothing."""

    prefill_tokens_per_second: float | None
    decode_tokens_per_second: float | None
    time_to_first_token_seconds: float | None = None
    init_seconds: float | None = None


_LITERT_LM_FIELDS = {
    "prefill_tokens_per_second": r"Prefill speed:\s*([0-9.eE+-]+)\s*tokens/s",
    "decode_tokens_per_second": r"Decode speed:\s*([0-9.eE+-]+)\s*tokens/s",
    "init_seconds": r"Init time:\s*([0-9.eE+-]+)\s*s\b",
    "time_to_first_token_seconds": r"Time to first token:\s*([0-9.eE+-]+)\s*s\b",
}


def parse_litert_lm_benchmark(text: str) -> Speeds:
    """The ``----- Results -----`` block that ``litert-lm benchmark`` prints."""
    _, marker, results = text.partition("----- Results -----")
    if not marker:
        raise ParseError("no '----- Results -----' block in the litert-lm benchmark output")
    values: dict[str, float] = {}
    for key, pattern in _LITERT_LM_FIELDS.items():
        match = re.search(pattern, results)
        if match is None:
            raise ParseError(f"litert-lm benchmark output has no {key} ({pattern!r})")
        values[key] = float(match.group(1))
    return Speeds(**values)


def parse_llama_bench_json(text: str) -> dict[str, Speeds | Any]:
    """``llama-bench -o json``: a list of tests; the prompt test (n_gen 0) gives prefill,
    the generation test (n_prompt 0) gives decode. Returns ``speeds`` plus the
    ``model_size`` / ``model_type`` / ``n_threads`` it reports."""
    try:
        tests = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ParseError(f"llama-bench output is not JSON ({exc})") from exc
    if not isinstance(tests, list) or not all(isinstance(t, dict) for t in tests):
        raise ParseError("llama-bench JSON is not a list of test objects")
    prefill = decode = None
    for test in tests:
        try:
            n_prompt, n_gen, rate = int(test["n_prompt"]), int(test["n_gen"]), test["avg_ts"]
        except (KeyError, TypeError, ValueError) as exc:
            raise ParseError(f"llama-bench test without n_prompt/n_gen/avg_ts: {exc}") from exc
        if n_prompt > 0 and n_gen == 0:
            prefill = float(rate)
        elif n_gen > 0 and n_prompt == 0:
            decode = float(rate)
    if prefill is None and decode is None:
        raise ParseError("llama-bench JSON has neither a prompt (pp) nor a generation (tg) test")
    first = tests[0]
    return {
        "speeds": Speeds(prefill, decode),
        "model_size": first.get("model_size"),
        "model_type": first.get("model_type"),
        "n_threads": first.get("n_threads"),
    }


LITEGEN_BENCH_KEYS = (
    "prefill_tokens_per_second",
    "decode_tokens_per_second",
    "time_to_first_token_seconds",
    "init_seconds",
    "peak_rss_bytes",
)


def last_json_object(text: str) -> dict[str, Any]:
    """The JSON object a ``--json`` command printed: all of stdout, or its last line that
    is one (logs may come before it)."""
    candidates = [text.strip()] + [line.strip() for line in reversed(text.splitlines())]
    for candidate in candidates:
        if candidate.startswith("{"):
            try:
                value = json.loads(candidate)
            except json.JSONDecodeError:
                continue
            if isinstance(value, dict):
                return value
    raise ParseError("no JSON object in the output")


def parse_litegen_bench_json(text: str) -> tuple[Speeds, int | None]:
    """``litegen bench MODEL --json``: its speeds and its own peak RSS."""
    data = last_json_object(text)
    missing = [k for k in LITEGEN_BENCH_KEYS if k not in data]
    if missing:
        raise ParseError(f"litegen bench JSON lacks {', '.join(missing)}")
    speeds = Speeds(
        float(data["prefill_tokens_per_second"]),
        float(data["decode_tokens_per_second"]),
        float(data["time_to_first_token_seconds"]),
        float(data["init_seconds"]),
    )
    rss = data["peak_rss_bytes"]
    return speeds, int(rss) if rss is not None else None
