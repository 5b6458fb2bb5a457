"""Parsing of litegen-run's benchmark JSON: every field typed, drift reported by name."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from litegen.bench import BenchmarkError, parse_bandwidth, parse_llm


def llm_document(runs: int = 3) -> dict[str, Any]:
    return {
        "schema": "litegen.bench.llm/1",
        "model": "m.tflite",
        "model_file_bytes": 1234,
        "threads": 2,
        "isa": "avx2",
        "prompt_tokens": 16,
        "decode_tokens": 8,
        "warmup": 1,
        "repeat": runs,
        "max_context": 64,
        "vocab_size": 256,
        "num_layers": 2,
        "prefill_chunk": 64,
        "weight_cache": "/tmp/c",
        "weight_cache_state": "warm",
        "init_seconds": 0.25,
        "prefill_tokens_per_second": 100.0,
        "decode_tokens_per_second": 10.0,
        "time_to_first_token_seconds": 0.2,
        "peak_rss_bytes": 10_000_000,
        "rss_after_init_bytes": 9_000_000,
        "runs": [
            {
                "prefill_seconds": 0.1 * (i + 1),
                "prefill_tokens_per_second": 16 / (0.1 * (i + 1)),
                "time_to_first_token_seconds": 0.1 * (i + 1) + 0.001,
                "decode_seconds": 0.5,
                "decode_tokens_per_second": 16.0,
                "decoded_tokens": 8,
            }
            for i in range(runs)
        ],
    }


def test_parse_llm_reads_every_field() -> None:
    doc = llm_document()
    assert parse_llm(json.dumps(doc)).model_huge_page_bytes is None  # older litegen-run
    doc["model_huge_page_bytes"] = 4 << 20
    m = parse_llm(json.dumps(doc))
    assert m.model_huge_page_bytes == 4 << 20
    assert m.model == "m.tflite" and m.threads == 2 and m.isa == "avx2"
    assert m.weight_cache_state == "warm" and m.init_seconds == 0.25
    assert m.peak_rss_bytes == 10_000_000 and m.max_context == 64
    assert len(m.runs) == 3
    assert [r.prefill_seconds for r in m.runs] == [r["prefill_seconds"] for r in doc["runs"]]
    # The median over runs, recomputed from the per-run values (not the top-level key).
    assert m.summary("prefill_tokens_per_second").median == pytest.approx(16 / 0.2)


@pytest.mark.parametrize("key", ["init_seconds", "peak_rss_bytes", "runs", "isa"])
def test_missing_key_is_named(key: str) -> None:
    doc = llm_document()
    del doc[key]
    with pytest.raises(BenchmarkError, match=repr(key)):
        parse_llm(json.dumps(doc))


def test_missing_run_field_names_the_run() -> None:
    doc = llm_document()
    del doc["runs"][1]["decode_seconds"]
    with pytest.raises(BenchmarkError, match=r"run 1: key 'decode_seconds'"):
        parse_llm(json.dumps(doc))


@pytest.mark.parametrize(
    ("key", "value"),
    [("init_seconds", "fast"), ("peak_rss_bytes", True), ("threads", 2.5), ("runs", [])],
)
def test_wrong_types_raise(key: str, value: Any) -> None:
    doc = llm_document()
    doc[key] = value
    with pytest.raises(BenchmarkError, match=repr(key)):
        parse_llm(json.dumps(doc))


def test_schema_and_non_json_are_rejected() -> None:
    doc = copy.deepcopy(llm_document())
    doc["schema"] = "litegen.bench.llm/99"
    with pytest.raises(BenchmarkError, match="schema"):
        parse_llm(json.dumps(doc))
    with pytest.raises(BenchmarkError, match="not JSON"):
        parse_llm("INFO: Created TensorFlow Lite XNNPACK delegate for CPU.")
    with pytest.raises(BenchmarkError, match="object"):
        parse_llm("[1, 2]")
    doc = llm_document()
    doc["weight_cache_state"] = "lukewarm"
    with pytest.raises(BenchmarkError, match="cold/warm/none"):
        parse_llm(json.dumps(doc))


def test_parse_bandwidth() -> None:
    doc = {
        "schema": "litegen.bench.bandwidth/2",
        "threads": 2,
        "buffer_bytes": 1 << 30,
        "read_gb_per_s": 12.5,
        "passes_gb_per_s": [11.0, 12.5, 12.0],
        "huge_pages": True,
    }
    m = parse_bandwidth(json.dumps(doc))
    assert m.read_gb_per_s == 12.5 and m.passes_gb_per_s == (11.0, 12.5, 12.0)
    assert m.huge_pages
    doc["passes_gb_per_s"] = ["fast"]
    with pytest.raises(BenchmarkError, match="passes_gb_per_s"):
        parse_bandwidth(json.dumps(doc))
