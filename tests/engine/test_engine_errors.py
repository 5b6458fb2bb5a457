"""Bad inputs give typed errors (never a crash): prompts, sampling values, models, CLI."""

from __future__ import annotations

import subprocess

import pytest

import litegen
from litegen.errors import InputError, ModelLoadError
from litegen.generate import litegen_run_path
from tests.engine.conftest import MAX_CONTEXT
from tests.fixtures.cpp_models import write_attention_model, write_two_signature_fc


@pytest.fixture(scope="module")
def conv(converted):
    return converted("llama")


@pytest.fixture(scope="module")
def gen(conv):
    return litegen.Generator(conv.path, num_threads=1, weight_cache=False)


def test_prompt_over_context(gen):
    with pytest.raises(
        InputError, match=f"prompt of {MAX_CONTEXT + 1} tokens exceeds the context of {MAX_CONTEXT}"
    ):
        gen.generate([5] * (MAX_CONTEXT + 1))
    with pytest.raises(InputError, match="exceeds the context"):
        gen.stream([5] * (MAX_CONTEXT + 1))  # checked before the iterator is returned


@pytest.mark.parametrize(
    ("prompt", "match"),
    [
        ([], "prompt is empty"),
        ([5, 256], "outside the vocabulary"),
        ([5, -1], r"prompt\[1\] must be in"),
        ([5, "x"], r"prompt\[1\] must be an integer"),
        (42, "prompt must be a list of token ids"),
    ],
)
def test_bad_prompts(gen, prompt, match):
    with pytest.raises(InputError, match=match):
        gen.generate(prompt)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"temperature": -1.0}, "temperature"),
        ({"temperature": float("nan")}, "temperature"),
        ({"temperature": "hot"}, "temperature"),
        ({"top_k": -1}, "top_k"),
        ({"top_k": 2.5}, "top_k"),
        ({"top_p": 0.0}, "top_p"),
        ({"top_p": 1.5}, "top_p"),
        ({"min_p": 1.0}, "min_p"),
        ({"min_p": -0.1}, "min_p"),
        ({"repetition_penalty": 0.0}, "repetition_penalty"),
        ({"seed": -1}, "seed"),
        ({"max_new_tokens": -1}, "max_new_tokens"),
        ({"stop_token_ids": [999]}, "stop_token_ids"),
    ],
)
def test_invalid_sampling_values(gen, kwargs, name):
    with pytest.raises(InputError, match=name):
        gen.generate([5, 6, 7], **kwargs)
    with pytest.raises(InputError, match=name):
        gen.stream([5, 6, 7], **kwargs)


def test_zero_new_tokens_only_prefills(gen):
    session = gen.new_session()
    result = session.generate([5, 6, 7], max_new_tokens=0)
    assert result.token_ids == [] and session.history == [5, 6, 7]


def test_not_an_llm(tmp_path):
    fc = tmp_path / "fc.tflite"
    write_two_signature_fc(fc)  # has prefill/decode signatures, but not an LLM's
    with pytest.raises(ModelLoadError, match="not a litegen LLM signature: no input 'tokens'"):
        litegen.Generator(fc, weight_cache=False)
    attention = tmp_path / "attention.tflite"
    write_attention_model(attention)  # one 'step' signature
    with pytest.raises(ModelLoadError, match="needs 'prefill' and 'decode' signatures"):
        litegen.Generator(attention, weight_cache=False)
    garbage = tmp_path / "garbage.tflite"
    garbage.write_bytes(b"not a model" * 10)
    with pytest.raises(ModelLoadError):
        litegen.Generator(garbage, weight_cache=False)
    with pytest.raises(ModelLoadError, match="no such file"):
        litegen.Generator(tmp_path / "missing.tflite")


def test_bad_options(conv):
    with pytest.raises(InputError, match="num_threads"):
        litegen.Generator(conv.path, num_threads=0)
    with pytest.raises(InputError, match="prefill_chunk_size"):
        litegen.Generator(conv.path, prefill_chunk_size=0)


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    binary = litegen_run_path()
    assert binary is not None
    return subprocess.run([str(binary), *args], capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ([], "--model is required"),
        (["--model", "{model}"], "--prompt-ids is required"),
        (["--model", "{model}", "--prompt-ids", "1,x"], "--prompt-ids expects an integer"),
        (["--model", "{model}", "--prompt-ids", "1", "--bogus", "1"], "unknown option"),
        (["--model", "{model}", "--prompt-ids", "1", "--top-p", "2"], "top_p must be in"),
        (["--model", "{model}", "--prompt-ids", "", "--no-weight-cache"], "prompt is empty"),
        (
            ["--model", "{model}", "--prompt-ids", ",".join(["3"] * 65), "--no-weight-cache"],
            "prompt of 65 tokens exceeds the context of 64",
        ),
        (["--model", "{fc}", "--prompt-ids", "1", "--no-weight-cache"], "not a litegen LLM"),
        (["--model", "{missing}", "--prompt-ids", "1"], "missing.tflite"),
    ],
)
def test_litegen_run_bad_input(conv, tmp_path, args, match):
    fc = tmp_path / "fc.tflite"
    write_two_signature_fc(fc)
    paths = {"model": str(conv.path), "fc": str(fc), "missing": str(tmp_path / "missing.tflite")}
    proc = _run(*(a.format(**paths) for a in args))
    assert proc.returncode != 0
    lines = [line for line in proc.stderr.splitlines() if not line.startswith("INFO:")]
    assert len(lines) == 1 and lines[0].startswith("litegen-run: error:"), proc.stderr
    assert match in lines[0]
    assert proc.stdout == ""


def test_litegen_run_seeded_sampling_matches_python(conv, gen, tmp_path):
    prompt = [5, 6, 7, 8]
    py = gen.new_session().generate(
        prompt,
        max_new_tokens=16,
        temperature=1.2,
        top_k=40,
        top_p=0.9,
        seed=11,
        repetition_penalty=1.1,
    )
    sampling = (
        *("--model", str(conv.path), "--prompt-ids", "5,6,7,8", "--max-new-tokens", "16"),
        *("--temperature", "1.2", "--top-k", "40", "--top-p", "0.9", "--seed", "11"),
        *("--repetition-penalty", "1.1", "--threads", "1", "--no-weight-cache"),
    )
    proc = _run(*sampling)
    assert proc.returncode == 0, proc.stderr
    assert [int(x) for x in proc.stdout.split(",")] == py.token_ids
    stop = py.token_ids[3]
    proc = _run(
        *sampling,
        "--stop-ids",
        str(stop),
    )
    ids = [int(x) for x in proc.stdout.split(",")]
    assert ids == py.token_ids[: py.token_ids.index(stop) + 1]
    assert "stop_reason: stop_token" in proc.stderr
