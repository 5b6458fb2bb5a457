"""`litegen.convert(hf_dir, "m.litegen")` on a small llama checkpoint whose directory holds
a SentencePiece tokenizer.model trained in the test."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

import litegen  # noqa: E402
from litegen.bundle import read_bundle  # noqa: E402
from litegen.errors import TokenizerError  # noqa: E402
from litegen.runtime._native import load_extension  # noqa: E402
from litegen.tokenizer import Tokenizer  # noqa: E402
from tests.bundle.checkpoints import write_llama  # noqa: E402
from tests.tokenizer.spm_models import train  # noqa: E402

MAX_CONTEXT = 32
TEMPLATE = "{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}</s>\n{% endfor %}"


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, torch.nn.Module]:
    path = tmp_path_factory.mktemp("tiny_llama")
    spm = train("bpe")
    model = write_llama(path, Tokenizer.from_bytes(spm).vocab_size)
    (path / "tokenizer.model").write_bytes(spm)
    (path / "tokenizer_config.json").write_text(
        json.dumps({"add_bos_token": True, "chat_template": TEMPLATE})
    )
    return path, model


def test_convert_to_bundle_and_run(checkpoint, tmp_path):
    ckpt, hf_model = checkpoint
    out = litegen.convert(ckpt, tmp_path / "m.litegen", max_context=MAX_CONTEXT)
    assert out == tmp_path / "m.litegen"
    assert [p.name for p in tmp_path.iterdir()] == ["m.litegen"]  # no temporary files left

    bundle = read_bundle(out)
    meta = bundle.metadata
    assert meta["context_size"] == MAX_CONTEXT and meta["signatures"] == ["prefill", "decode"]
    assert meta["bos_token_id"] == 1 and meta["eos_token_ids"] == [2, 5]
    assert meta["chat_template"] == TEMPLATE and meta["add_bos_token"] is True
    assert meta["model_type"] == "llama" and meta["quant_recipe"] == "none"
    assert meta["export_form"] == "fast" and meta["litegen_version"] == litegen.__version__
    assert bundle.tokenizer_model == (ckpt / "tokenizer.model").read_bytes()
    native = load_extension().open_bundle(str(out))
    assert native["metadata"]["eos_token_ids"] == [2, 5]
    assert native["metadata"]["chat_template"] == TEMPLATE

    # The bundle path goes straight to the runtime; the prompt comes from its tokenizer.
    tok = Tokenizer.from_bundle(out)
    ids = tok.encode("the quick brown fox", add_bos=True)
    runtime = litegen.Model(out, num_threads=1)
    spec = runtime.signatures["prefill"]
    feeds = {
        t.name: np.zeros(t.shape, t.dtype) for t in spec.inputs if t.name.startswith("kv_cache")
    }
    logits = runtime.run(
        "prefill",
        tokens=np.array([ids], np.int32),
        input_pos=np.arange(len(ids), dtype=np.int32),
        **feeds,
    )["logits"]
    with torch.no_grad():
        ref = hf_model(torch.tensor([ids])).logits.numpy()
    # float16 KV caches (the fast form's default) move the logits by up to ~1e-3 of
    # max |logit| (see tests/export/export_helpers.py LOGIT_RTOL_FP16_KV, 4e-3); float32
    # caches stay within 1e-4 of it.
    assert {f.dtype for f in feeds.values()} == {np.dtype(np.float16)}
    err = np.abs(logits[0, -1].astype(np.float64) - ref[0, -1]).max()
    assert err <= 4e-3 * np.abs(ref[0, -1]).max()


def test_missing_tokenizer_is_a_typed_error_before_export(checkpoint, tmp_path):
    ckpt, _ = checkpoint
    bare = tmp_path / "no_tokenizer"
    bare.mkdir()
    for name in ("config.json", "model.safetensors", "generation_config.json"):
        if (ckpt / name).exists():
            (bare / name).write_bytes((ckpt / name).read_bytes())
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    with pytest.raises(TokenizerError, match=f"{bare}: no tokenizer found"):
        litegen.convert(bare, out_dir / "m.litegen", max_context=MAX_CONTEXT)
    assert list(out_dir.iterdir()) == []


def test_cli_writes_a_bundle(checkpoint, tmp_path, capsys):
    from litegen.cli.main import main

    ckpt, _ = checkpoint
    out = tmp_path / "cli.litegen"
    assert main(["convert", str(ckpt), "-o", str(out), "--max-context", "16", "--no-progress"]) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    assert read_bundle(out).metadata["context_size"] == 16


def test_bundle_is_fsynced_once_after_its_sections(checkpoint, tmp_path, monkeypatch):
    """The model part is not fsynced on its own: the one fsync, after the sections are
    appended, makes the whole bundle durable before it is renamed into place."""
    import os

    ckpt, _ = checkpoint
    out = tmp_path / "synced.litegen"
    calls: list[int] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        calls.append(os.fstat(fd).st_size)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    litegen.convert(ckpt, out, max_context=MAX_CONTEXT)
    assert calls == [out.stat().st_size]  # once, on the finished bundle
    litegen.convert(ckpt, tmp_path / "plain.tflite", max_context=MAX_CONTEXT)
    assert calls[1:] == [(tmp_path / "plain.tflite").stat().st_size]  # a .tflite still is
