"""Parsers of the peers' benchmark outputs (benchmarks/peers/parsing.py), on outputs
captured from real runs on the dev machine (tests/bench_peers/data/)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from benchmarks.peers.parsing import (
    LITEGEN_BENCH_KEYS,
    ParseError,
    last_json_object,
    parse_litegen_bench_json,
    parse_litert_lm_benchmark,
    parse_llama_bench_json,
)

DATA = Path(__file__).parent / "data"


def _results_block(text: str) -> dict[str, float]:
    """Independent reading of the Results block: 'Label:   value unit' per line."""
    block = text.split("----- Results -----", 1)[1]
    out = {}
    for line in block.strip().splitlines():
        label, _, rest = line.partition(":")
        out[label.strip()] = float(rest.split()[0])
    return out


@pytest.mark.parametrize("name", ["litert_lm_benchmark_quick.txt", "litert_lm_benchmark_full.txt"])
def test_litert_lm_benchmark_output(name: str) -> None:
    text = (DATA / name).read_text()
    speeds = parse_litert_lm_benchmark(text)
    expected = _results_block(text)
    assert speeds.prefill_tokens_per_second == expected["Prefill speed"]
    assert speeds.decode_tokens_per_second == expected["Decode speed"]
    assert speeds.init_seconds == expected["Init time"]
    assert speeds.time_to_first_token_seconds == expected["Time to first token"]


def test_litert_lm_benchmark_without_results_block() -> None:
    text = (DATA / "litert_lm_benchmark_quick.txt").read_text()
    with pytest.raises(ParseError, match="Results"):
        parse_litert_lm_benchmark(text.split("----- Results -----")[0])


def test_litert_lm_benchmark_missing_field() -> None:
    text = (DATA / "litert_lm_benchmark_quick.txt").read_text()
    cut = "\n".join(line for line in text.splitlines() if not line.startswith("Decode speed"))
    with pytest.raises(ParseError, match="decode_tokens_per_second"):
        parse_litert_lm_benchmark(cut)


@pytest.mark.parametrize("name", ["llama_bench_quick_q8_0.json", "llama_bench_full_q4_0.json"])
def test_llama_bench_json(name: str) -> None:
    text = (DATA / name).read_text()
    tests = json.loads(text)
    pp = next(t for t in tests if t["n_gen"] == 0)
    tg = next(t for t in tests if t["n_prompt"] == 0)
    parsed = parse_llama_bench_json(text)
    speeds = parsed["speeds"]
    assert speeds.prefill_tokens_per_second == pytest.approx(pp["avg_ts"])
    assert speeds.decode_tokens_per_second == pytest.approx(tg["avg_ts"])
    assert speeds.time_to_first_token_seconds is None  # llama-bench does not report it
    assert parsed["model_size"] == tests[0]["model_size"]
    assert parsed["n_threads"] == tests[0]["n_threads"]


def test_llama_bench_json_order_does_not_matter() -> None:
    tests = json.loads((DATA / "llama_bench_quick_q8_0.json").read_text())
    forward = parse_llama_bench_json(json.dumps(tests))["speeds"]
    backward = parse_llama_bench_json(json.dumps(tests[::-1]))["speeds"]
    assert forward == backward
    assert forward.prefill_tokens_per_second != forward.decode_tokens_per_second


def test_llama_bench_json_only_generation() -> None:
    tests = json.loads((DATA / "llama_bench_quick_q8_0.json").read_text())
    tg_only = [t for t in tests if t["n_prompt"] == 0]
    speeds = parse_llama_bench_json(json.dumps(tg_only))["speeds"]
    assert speeds.prefill_tokens_per_second is None
    assert speeds.decode_tokens_per_second == pytest.approx(tg_only[0]["avg_ts"])


@pytest.mark.parametrize(
    "text, match",
    [
        ("| model | size |", "not JSON"),
        ('{"n_prompt": 128}', "list"),
        ('[{"n_prompt": 128, "n_gen": 0}]', "avg_ts"),
        ("[]", "neither"),
    ],
)
def test_llama_bench_json_errors(text: str, match: str) -> None:
    with pytest.raises(ParseError, match=match):
        parse_llama_bench_json(text)


def _litegen_object(**overrides: object) -> dict[str, object]:
    values: dict[str, object] = {
        "prefill_tokens_per_second": 812.5,
        "decode_tokens_per_second": 61.25,
        "time_to_first_token_seconds": 0.17,
        "init_seconds": 0.04,
        "peak_rss_bytes": 1_300_000_000,
        "model": "x.litegen",
    }
    values.update(overrides)
    return values


def test_litegen_bench_json_after_log_lines() -> None:
    obj = _litegen_object()
    text = "INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\n" + json.dumps(obj) + "\n"
    speeds, rss = parse_litegen_bench_json(text)
    assert speeds.prefill_tokens_per_second == obj["prefill_tokens_per_second"]
    assert speeds.decode_tokens_per_second == obj["decode_tokens_per_second"]
    assert speeds.time_to_first_token_seconds == obj["time_to_first_token_seconds"]
    assert speeds.init_seconds == obj["init_seconds"]
    assert rss == obj["peak_rss_bytes"]


def test_litegen_bench_json_captured() -> None:
    text = (DATA / "litegen_bench_quick_int8.json").read_text()
    obj = json.loads(text)
    speeds, rss = parse_litegen_bench_json(text)
    assert speeds.prefill_tokens_per_second == obj["prefill_tokens_per_second"]
    assert speeds.decode_tokens_per_second == obj["decode_tokens_per_second"]
    assert speeds.time_to_first_token_seconds == obj["time_to_first_token_seconds"]
    assert speeds.init_seconds == obj["init_seconds"]
    assert rss == obj["peak_rss_bytes"]


def test_litegen_bench_json_pretty_printed() -> None:
    obj = _litegen_object()
    assert last_json_object(json.dumps(obj, indent=2)) == obj


@pytest.mark.parametrize("key", LITEGEN_BENCH_KEYS)
def test_litegen_bench_json_missing_key(key: str) -> None:
    obj = _litegen_object()
    del obj[key]
    with pytest.raises(ParseError, match=key):
        parse_litegen_bench_json(json.dumps(obj))


def test_no_json_object() -> None:
    with pytest.raises(ParseError):
        last_json_object("litegen: error: no such command 'bench'\n[1, 2]\n")
