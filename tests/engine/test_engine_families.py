"""End to end per family: convert (fast form, fp32 weights), then greedy generation through
the C++ engine (Python Generator and the litegen-run binary) equals HF generate: exactly
with float32 KV caches, up to a near tie with float16 caches (the fast form's default)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from authoring_hf_models import FAMILIES

import litegen
from litegen.generate import litegen_run_path
from tests.engine.conftest import NEW_TOKENS, prompt_ids


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_greedy_matches_hf_generate(name, converted):
    conv = converted(name)
    prompt = prompt_ids(conv.vocab_size)
    gen = litegen.Generator(conv.path, num_threads=1)
    result = gen.generate(prompt, temperature=0, max_new_tokens=NEW_TOKENS)
    assert result.token_ids == conv.hf_greedy(prompt)
    stats = result.stats
    assert stats.generated_tokens == NEW_TOKENS
    assert stats.stop_reason == "max_new_tokens"
    assert stats.time_to_first_token_s > 0
    assert stats.prefill_tokens_per_s > 0 and stats.decode_tokens_per_s > 0


# Float16 KV caches round every cached key / value (relative 2^-11); through these models
# the logits move by <= LOGIT_RTOL_FP16_KV (4e-3) of max |logit| (tests/export), so two
# logits closer than twice that may swap. Greedy ids must equal HF's until such a step.
FP16_KV_TIE = 2 * 4e-3


def _check_follows_hf_until_a_near_tie(ids: list[int], conv, prompt: list[int]) -> None:
    want, margins = conv.hf_greedy_margins(prompt)
    assert len(ids) == len(want)
    first = next((i for i, (a, b) in enumerate(zip(ids, want, strict=True)) if a != b), None)
    if first is not None:
        assert margins[first] < FP16_KV_TIE, (
            f"{conv.name}: token {first} differs ({ids[first]} vs HF's {want[first]}) although "
            f"HF's top-2 margin there is {margins[first]:.2e} of max |logit|"
        )


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_greedy_with_float16_kv_cache_follows_hf(name, converted):
    conv = converted(name, "float16")
    gen = litegen.Generator(conv.path, num_threads=1)
    assert gen.kv_dtype == "float16" and "kv_dtype=float16" in repr(gen)
    prompt = prompt_ids(conv.vocab_size)
    result = gen.generate(prompt, temperature=0, max_new_tokens=NEW_TOKENS)
    _check_follows_hf_until_a_near_tie(result.token_ids, conv, prompt)


def _run_prompt_ids(model: Path, prompt: list[int], *options: str) -> tuple[list[int], str]:
    """``litegen-run --prompt-ids``: the generated ids and stderr (a failure fails the test)."""
    binary = litegen_run_path()
    assert binary is not None, "litegen-run is not installed next to the Python interpreter"
    proc = subprocess.run(
        [
            str(binary),
            "--model",
            str(model),
            "--prompt-ids",
            ",".join(map(str, prompt)),
            "--max-new-tokens",
            str(NEW_TOKENS),
            *options,
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    return [int(x) for x in proc.stdout.strip().split(",")], proc.stderr


def test_litegen_run_with_float16_kv_cache(converted):
    """The binary allocates float16 caches from the model's signature too."""
    conv = converted("gemma2", "float16")  # sliding window + soft-cap, GQA
    prompt = prompt_ids(conv.vocab_size)
    ids, _ = _run_prompt_ids(conv.path, prompt, "--threads", "2")
    _check_follows_hf_until_a_near_tie(ids, conv, prompt)


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_litegen_run_prints_the_same_ids(name, converted, tmp_path):
    conv = converted(name)
    prompt = prompt_ids(conv.vocab_size)
    ids, stderr = _run_prompt_ids(
        conv.path, prompt, "--threads", "1", "--weight-cache", str(tmp_path / "cache.bin")
    )
    assert ids == conv.hf_greedy(prompt)
    assert "decode_tokens_per_s:" in stderr
    assert "time_to_first_token_s:" in stderr
