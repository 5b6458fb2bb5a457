"""`litegen.convert(hf_dir, "m.litertlm", form="portable")`: a LiteRT-LM bundle of a small
llama checkpoint with a trained SentencePiece tokenizer, run on Google's LiteRT-LM runtime
(`litert-lm`): its greedy generation equals litegen's for the same text prompt.

LiteRT-LM runs in a subprocess (its runtime library carries its own TFLite, kept out of
this process). It is the `litert_lm` package of this venv, or of the Python named by
``LITEGEN_LITERT_LM_PYTHON`` (e.g. a venv holding only ``pip install litert-lm``)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

import litegen  # noqa: E402
from litegen.errors import ExportError  # noqa: E402
from litegen.tokenizer import Tokenizer  # noqa: E402
from tests.bundle.checkpoints import write_llama  # noqa: E402
from tests.tokenizer.spm_models import train  # noqa: E402

MAX_CONTEXT = 64
NEW_TOKENS = 12
PROMPT = "the quick brown fox"
SECOND_TURN = " jumps over the lazy dog"
TEMPLATE = "{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}</s>\n{% endfor %}"

needs_builder = pytest.mark.skipif(
    importlib.util.find_spec("litert_lm_builder") is None,
    reason="litert-lm-builder not installed (pip install 'litegen[litertlm]')",
)

# Runs in the LiteRT-LM Python: greedy generation of N tokens from a text prompt (BOS from
# the bundle's start token, no prompt template); prints JSON.
_RUN_LITERT_LM = r"""
import json, sys
import litert_lm
bundle, cache, prompt, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
ours = json.loads(sys.argv[5])
engine = litert_lm.Engine(bundle, backend=litert_lm.Backend.CPU(thread_count=1), cache_dir=cache)
session = engine.create_session(
    apply_prompt_template=False,
    sampler_config=litert_lm.SamplerConfig(top_k=1, temperature=0.0),
    max_output_tokens=n,
)
session.run_prefill([prompt])
text = "".join(session.run_decode().texts)
# Two turns: the second prefill starts after the first (smaller prefill_N signatures).
session2 = engine.create_session(
    apply_prompt_template=False,
    sampler_config=litert_lm.SamplerConfig(top_k=1, temperature=0.0),
    max_output_tokens=n,
)
session2.run_prefill([prompt])
session2.run_prefill([sys.argv[6]])
text2 = "".join(session2.run_decode().texts)
print(json.dumps({
    "version": getattr(litert_lm, "__version__", None),
    "bos": engine.bos_token_id,
    "eos": engine.eos_token_ids,
    "prompt_ids": engine.tokenize(prompt),
    "text": text,
    "text2": text2,
    "ours_detokenized": engine.detokenize(ours),
}))
"""


def _litert_lm_python() -> str | None:
    explicit = os.environ.get("LITEGEN_LITERT_LM_PYTHON")
    if explicit:
        return explicit
    return sys.executable if importlib.util.find_spec("litert_lm") is not None else None


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tiny_llama_litertlm")
    spm = train("bpe")
    write_llama(path, Tokenizer.from_bytes(spm).vocab_size)
    (path / "tokenizer.model").write_bytes(spm)
    (path / "tokenizer_config.json").write_text(
        json.dumps({"add_bos_token": True, "chat_template": TEMPLATE})
    )
    return path


@needs_builder
def test_litertlm_bundle_layout(checkpoint, tmp_path):
    import io

    from litert_lm_builder import litertlm_peek

    out = litegen.convert(checkpoint, tmp_path / "m.litertlm", form="portable", max_context=32)
    assert out == tmp_path / "m.litertlm"
    assert [p.name for p in tmp_path.iterdir()] == ["m.litertlm"]  # no temporary files left
    data = out.read_bytes()
    assert data[:8] == b"LITERTLM"
    for name in (b"prefill_32", b"prefill_8", b"decode"):  # fixed-length prefill signatures
        assert name in data
    assert b"prefill_128" not in data  # capped at max_context
    dump = io.StringIO()
    litertlm_peek.peek_litertlm_file(str(out), None, dump)  # the builder's own reader
    text = dump.getvalue()
    assert "Sections (3)" in text
    for section in ("TFLiteModel", "SP_Tokenizer", "LlmMetadataProto"):
        assert f"Data Type:    {section}" in text
    assert "tf_lite_prefill_decode" in text and "prefer_activation_type" in text
    assert "start_token {\n      token_ids {\n        ids: 1" in text
    assert "ids: 2" in text and "ids: 5" in text and "max_num_tokens: 32" in text
    assert "jinja_prompt_template" in text
    assert "Key: quant_recipe, Value (String): none" in text


@needs_builder
def test_litert_lm_greedy_equals_litegen(checkpoint, tmp_path):
    python = _litert_lm_python()
    if python is None:
        pytest.skip(
            "LiteRT-LM runtime not installed (pip install litert-lm, or set "
            "LITEGEN_LITERT_LM_PYTHON to a Python that has it)"
        )
    bundle = litegen.convert(
        checkpoint, tmp_path / "m.litertlm", form="portable", max_context=MAX_CONTEXT
    )

    # Ours: the litegen engine on a .litegen bundle of the same checkpoint (fast form).
    ours_bundle = litegen.convert(checkpoint, tmp_path / "m.litegen", max_context=MAX_CONTEXT)
    ours = litegen.Generator(ours_bundle, num_threads=1, weight_cache=False).generate(
        PROMPT, max_new_tokens=NEW_TOKENS
    )
    assert ours.stats.stop_reason == "max_new_tokens"  # no EOS: both run N steps
    assert len(ours.token_ids) == NEW_TOKENS
    tok = Tokenizer.from_bytes((checkpoint / "tokenizer.model").read_bytes())
    two_turns = [1, *tok.encode(PROMPT), *tok.encode(SECOND_TURN)]
    ours2 = litegen.Generator(ours_bundle, num_threads=1, weight_cache=False).generate(
        two_turns, max_new_tokens=NEW_TOKENS, stop_token_ids=()
    )

    cache = tmp_path / "lm_cache"
    cache.mkdir()
    proc = subprocess.run(
        [
            python,
            "-c",
            _RUN_LITERT_LM,
            str(bundle),
            str(cache),
            PROMPT,
            str(NEW_TOKENS),
            json.dumps(ours.token_ids),
            SECOND_TURN,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    lm = json.loads(proc.stdout.strip().splitlines()[-1])

    assert lm["bos"] == 1 and lm["eos"] == [[2], [5]]
    assert lm["prompt_ids"] == tok.encode(PROMPT)
    # LiteRT-LM's Python API returns text, not ids: the texts are equal, and our ids
    # detokenize (with LiteRT-LM's tokenizer) to exactly that text.
    assert lm["text"] == ours.text
    assert lm["ours_detokenized"] == lm["text"]
    assert lm["text2"] == ours2.text


def test_fast_form_is_rejected_before_any_work(checkpoint, tmp_path):
    with pytest.raises(ExportError, match="form='portable'"):
        litegen.convert(checkpoint, tmp_path / "m.litertlm", form="fast")
    assert list(tmp_path.iterdir()) == []


def test_missing_builder_is_a_typed_error(checkpoint, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "litert_lm_builder", None)
    with pytest.raises(ExportError, match=r"litegen\[litertlm\]"):
        litegen.convert(checkpoint, tmp_path / "m.litertlm", form="portable")
    assert list(tmp_path.iterdir()) == []


def test_builder_export_rejects_litertlm(tmp_path):
    from litegen.export.output import check_output_path

    with pytest.raises(ExportError, match=r"litegen\.convert"):
        check_output_path(tmp_path / "m.litertlm", force=False)
