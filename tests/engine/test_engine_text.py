"""Text through the engine: a .litegen bundle (SentencePiece tokenizer trained in the test,
chat template, EOS / BOS metadata) driven by `Generator` and `litegen-run`: text prompts,
streamed text pieces, stop strings, chat with prefix reuse, typed errors."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import torch
import transformers

import litegen
from litegen.errors import InputError, ModelLoadError
from litegen.generate import ChatTemplateError, litegen_run_path
from litegen.generate.text import StopMatcher
from litegen.tokenizer import Tokenizer
from tests.tokenizer.spm_models import train

MAX_CONTEXT = 96
NEW = 24
TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}{{ eos_token }}"
    "{% endfor %}{% if add_generation_prompt %}<|assistant|>{% endif %}"
)


class Bundle:
    def __init__(self, root: Path) -> None:
        spm = train("bpe")
        self.tokenizer = Tokenizer.from_bytes(spm)
        config = transformers.LlamaConfig(
            vocab_size=self.tokenizer.vocab_size,
            hidden_size=64,
            intermediate_size=128,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            max_position_embeddings=256,
            initializer_range=0.2,
            bos_token_id=1,
            eos_token_id=2,
            rms_norm_eps=1e-5,
        )
        config._attn_implementation = "eager"
        torch.manual_seed(0)
        self.hf = transformers.LlamaForCausalLM(config).eval()
        ckpt = root / "ckpt"
        self.hf.save_pretrained(ckpt)
        (ckpt / "tokenizer.model").write_bytes(spm)
        (ckpt / "tokenizer_config.json").write_text(
            json.dumps({"add_bos_token": True, "chat_template": TEMPLATE})
        )
        self.path = litegen.convert(ckpt, root / "m.litegen", max_context=MAX_CONTEXT)
        self.bare = litegen.convert(ckpt, root / "m.tflite", max_context=MAX_CONTEXT)
        self.spm_path = ckpt / "tokenizer.model"

    def hf_greedy(self, prompt: list[int], new_tokens: int = NEW) -> list[int]:
        ids = torch.tensor([prompt])
        with torch.no_grad():
            out = self.hf.generate(
                ids,
                attention_mask=torch.ones_like(ids),
                do_sample=False,
                max_new_tokens=new_tokens,
                min_new_tokens=new_tokens,
                pad_token_id=0,
                eos_token_id=None,
            )
        return out[0, len(prompt) :].tolist()


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Bundle:
    torch.set_num_threads(1)
    return Bundle(tmp_path_factory.mktemp("text_bundle"))


@pytest.fixture(scope="module")
def gen(bundle, tmp_path_factory) -> litegen.Generator:
    cache = tmp_path_factory.mktemp("text_wcache") / "m.xnnpack_cache"
    return litegen.Generator(bundle.path, num_threads=1, weight_cache_path=cache)


PROMPT = "the quick brown fox"


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    binary = litegen_run_path()
    assert binary is not None
    return subprocess.run([str(binary), *args], capture_output=True, text=True, timeout=60)


def test_bundle_metadata_drives_the_generator(gen, bundle):
    assert gen.is_bundle and gen.stop_token_ids == [2] and gen.add_bos
    assert gen.bos_token_id == 1 and gen.chat_template == TEMPLATE
    assert isinstance(gen.tokenizer, Tokenizer)


def test_text_round_trip_matches_hf(gen, bundle):
    result = gen.new_session().generate(PROMPT, max_new_tokens=NEW, stop_token_ids=())
    ids = [1, *bundle.tokenizer.encode(PROMPT)]  # BOS per add_bos_token
    assert result.stats.prompt_tokens == len(ids)
    assert result.token_ids == bundle.hf_greedy(ids)
    assert result.text == bundle.tokenizer.decode(result.token_ids)
    # Token ids in, still text out (the bundle has a tokenizer).
    by_ids = gen.new_session().generate(ids, max_new_tokens=NEW, stop_token_ids=())
    assert by_ids.token_ids == result.token_ids and by_ids.text == result.text


def test_stream_pieces_concatenate_to_the_text(gen):
    full = gen.new_session().generate(PROMPT, max_new_tokens=NEW, stop_token_ids=())
    session = gen.new_session()
    pieces = list(session.stream(PROMPT, max_new_tokens=NEW, stop_token_ids=()))
    assert all(isinstance(p, str) and p for p in pieces)
    assert len(pieces) > 1
    assert "".join(pieces) == full.text
    assert session.last_result.text == full.text
    assert session.last_result.token_ids == full.token_ids


def _split_stop(gen) -> tuple[str, list[int], str]:
    """A stop string made of the end of one token's text and the start of the next."""
    full = gen.new_session().generate(PROMPT, max_new_tokens=NEW, stop_token_ids=())
    tok = gen.tokenizer
    for i in range(2, len(full.token_ids) - 1):
        before = tok.decode(full.token_ids[:i])
        after = tok.decode(full.token_ids[: i + 1])
        if len(before) >= 2 and len(after) >= len(before) + 2 and after.startswith(before):
            stop = before[-2:] + after[len(before) : len(before) + 2]
            if full.text.find(stop) == len(before) - 2:
                return stop, full.token_ids, full.text
    pytest.skip("no token boundary to split a stop string over")


@pytest.mark.parametrize("streaming", [False, True])
def test_stop_string_split_across_tokens(gen, streaming):
    stop, ids, text = _split_stop(gen)
    cut = text.index(stop)
    session = gen.new_session()
    kwargs = dict(max_new_tokens=NEW, stop_token_ids=(), stop=[stop, "never-there"])
    if streaming:
        pieces = list(session.stream(PROMPT, **kwargs))
        assert "".join(pieces) == text[:cut]
        result = session.last_result
    else:
        result = session.generate(PROMPT, **kwargs)
    assert result.text == text[:cut]
    assert result.stats.stop_reason == "stop_string"
    # The ids keep every token up to the one that completed the stop string.
    n = len(result.token_ids)
    assert result.token_ids == ids[:n]
    assert stop in gen.tokenizer.decode(ids[:n]) and stop not in gen.tokenizer.decode(ids[: n - 1])


def test_stop_string_absent_changes_nothing(gen):
    full = gen.new_session().generate(PROMPT, max_new_tokens=NEW, stop_token_ids=())
    result = gen.new_session().generate(
        PROMPT, max_new_tokens=NEW, stop_token_ids=(), stop="\u2603never"
    )
    assert result.text == full.text and result.token_ids == full.token_ids
    assert result.stats.stop_reason == "max_new_tokens"


def test_stop_matcher_holds_back_partial_matches():
    m = StopMatcher(["END", "xy"])
    assert m.push("abcE") == "abc"
    assert m.push("N") == ""
    assert m.push("Dzzz") == "" and m.matched == "END"
    m = StopMatcher(["END"])
    assert m.push("aEN") == "a" and m.push("x") == "ENx" and m.flush() == ""
    m = StopMatcher(["END"])
    assert m.push("aE") == "a" and m.flush() == "E"


def test_chat_with_template_reuses_the_prefix(gen, bundle):
    session = gen.new_session()
    messages = [{"role": "user", "content": "the quick brown fox"}]
    first = session.chat(messages, max_new_tokens=8, stop_token_ids=())
    # Rendered "<s><|user|>the quick brown fox</s><|assistant|>"; <s> and </s> map to their
    # ids, as in Hugging Face tokenizers.
    tok = bundle.tokenizer
    expected_prompt = [
        1,
        *tok.encode("<|user|>the quick brown fox"),
        2,
        *tok.encode("<|assistant|>"),
    ]
    assert first.stats.prompt_tokens == len(expected_prompt)
    assert first.token_ids == bundle.hf_greedy(expected_prompt, 8)
    messages += [
        {"role": "assistant", "content": "jumps over"},
        {"role": "user", "content": "the lazy dog"},
    ]
    second = session.chat(messages, max_new_tokens=8, stop_token_ids=())
    # The first turn's prompt is not run again.
    assert second.stats.reused_tokens >= len(expected_prompt)
    fresh = gen.new_session().chat(messages, max_new_tokens=8, stop_token_ids=())
    assert fresh.stats.reused_tokens == 0
    assert second.token_ids == fresh.token_ids and second.text == fresh.text


def test_errors(gen, bundle, tmp_path):
    bare = litegen.Generator(bundle.bare, num_threads=1, weight_cache=False)
    with pytest.raises(InputError, match="text prompt needs a tokenizer"):
        bare.generate("hello")
    with pytest.raises(ChatTemplateError, match="has no chat template"):
        bare.chat([{"role": "user", "content": "hi"}])
    with pytest.raises(InputError, match="stop strings need a tokenizer"):
        bare.generate([5, 6], stop="x")
    # A bare .tflite plus a tokenizer path: text works; no BOS unless asked.
    with_tok = litegen.Generator(
        bundle.bare, num_threads=1, weight_cache=False, tokenizer=bundle.spm_path
    )
    result = with_tok.generate(PROMPT, max_new_tokens=4)
    assert result.stats.prompt_tokens == len(bundle.tokenizer.encode(PROMPT))
    # A bundle without a template.
    no_template = litegen.Generator(bundle.path, weight_cache=False, chat_template="")
    with pytest.raises(ChatTemplateError, match=f"bundle '{bundle.path}' has no chat template"):
        no_template.chat([{"role": "user", "content": "hi"}])
    with pytest.raises(InputError, match="messages"):
        gen.chat("hi")
    with pytest.raises(InputError, match=r"messages\[0\]"):
        gen.chat([{"role": "user"}])
    with pytest.raises(InputError, match=r"stop\[0\]"):
        gen.generate(PROMPT, stop=[""])
    with pytest.raises(InputError, match="stop must be"):
        gen.generate(PROMPT, stop=5)
    # A corrupt bundle: a typed error naming the file.
    corrupt = tmp_path / "bad.litegen"
    data = bytearray(bundle.path.read_bytes())
    data[-100] ^= 0xFF
    corrupt.write_bytes(bytes(data))
    with pytest.raises(ModelLoadError, match=r"bad\.litegen"):
        litegen.Generator(corrupt, weight_cache=False)


def test_litegen_run_text_mode_matches_python(gen, bundle, tmp_path):
    py = gen.new_session().generate(PROMPT, max_new_tokens=NEW, stop_token_ids=())
    common = ["--max-new-tokens", str(NEW), "--threads", "1", "--no-weight-cache"]
    proc = _run("--model", str(bundle.path), "--prompt", PROMPT, "--stop-ids", "", *common)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == py.text + "\n"
    assert "decode_tokens_per_s:" in proc.stderr and "stop_reason: max_new_tokens" in proc.stderr
    # Bare .tflite + --tokenizer + --add-bos gives the same.
    proc = _run(
        "--model",
        str(bundle.bare),
        "--tokenizer",
        str(bundle.spm_path),
        "--add-bos",
        "--prompt",
        PROMPT,
        *common,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == py.text + "\n"
    # Stop strings, one split across tokens.
    stop, _, text = _split_stop(gen)
    proc = _run(
        "--model",
        str(bundle.path),
        "--prompt",
        PROMPT,
        "--stop-ids",
        "",
        "--stop",
        stop,
        "--stop",
        "never-there",
        *common,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == text[: text.index(stop)] + "\n"
    assert "stop_reason: stop_string" in proc.stderr
    # The bundle's EOS ids are the default stop tokens, as in Python.
    default = gen.new_session().generate(PROMPT, max_new_tokens=NEW)
    proc = _run("--model", str(bundle.path), "--prompt", PROMPT, *common)
    assert proc.stdout == default.text + "\n"


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (["--model", "{bare}", "--prompt", "hi"], "a text prompt needs a tokenizer"),
        (["--model", "{corrupt}", "--prompt", "hi"], "is corrupt"),
        (["--model", "{bundle}", "--tokenizer", "{missing}", "--prompt", "hi"], "missing.model"),
        (["--model", "{bundle}", "--prompt-ids", "1", "--stop", "x"], "--stop needs a text"),
        (["--model", "{bundle}", "--prompt", "hi", "--prompt-ids", "1"], "not both"),
        (["--model", "{bundle}"], "--prompt or --prompt-ids is required"),
    ],
)
def test_litegen_run_text_errors(bundle, tmp_path, args, match):
    corrupt = tmp_path / "bad.litegen"
    data = bytearray(bundle.path.read_bytes())
    data[-100] ^= 0xFF
    corrupt.write_bytes(bytes(data))
    paths = {
        "bare": str(bundle.bare),
        "bundle": str(bundle.path),
        "corrupt": str(corrupt),
        "missing": str(tmp_path / "missing.model"),
    }
    proc = _run(*(a.format(**paths) for a in args), "--no-weight-cache")
    assert proc.returncode != 0
    lines = [line for line in proc.stderr.splitlines() if not line.startswith("INFO:")]
    assert len(lines) == 1 and lines[0].startswith("litegen-run: error:"), proc.stderr
    assert match in lines[0]
    assert proc.stdout == ""
