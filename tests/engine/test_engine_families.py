"""End to end per family: convert (fast form, fp32), then greedy generation through the
C++ engine (Python Generator and the litegen-run binary) equals HF generate."""

from __future__ import annotations

import subprocess

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


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_litegen_run_prints_the_same_ids(name, converted, tmp_path):
    binary = litegen_run_path()
    assert binary is not None, "litegen-run is not installed next to the Python interpreter"
    conv = converted(name)
    prompt = prompt_ids(conv.vocab_size)
    proc = subprocess.run(
        [
            str(binary),
            "--model",
            str(conv.path),
            "--prompt-ids",
            ",".join(map(str, prompt)),
            "--max-new-tokens",
            str(NEW_TOKENS),
            "--threads",
            "1",
            "--weight-cache",
            str(tmp_path / "cache.bin"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    ids = [int(x) for x in proc.stdout.strip().split(",")]
    assert ids == conv.hf_greedy(prompt)
    assert "decode_tokens_per_s:" in proc.stderr
    assert "time_to_first_token_s:" in proc.stderr
