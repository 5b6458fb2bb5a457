"""Which checkpoint tokenizers can be bundled, and the typed errors for the rest."""

from __future__ import annotations

import json

import pytest

from litegen.errors import ExportError, TokenizerError
from litegen.tokenizer import load_checkpoint_tokenizer
from tests.tokenizer.spm_models import corpus, train


def test_sentencepiece_checkpoint(tmp_path):
    (tmp_path / "tokenizer.model").write_bytes(train("bpe"))
    (tmp_path / "tokenizer.json").write_text("{}")  # tokenizer.model wins
    tok = load_checkpoint_tokenizer(tmp_path, model_vocab_size=1000)
    assert tok.model_bytes == train("bpe") and tok.kind == "sentencepiece"
    assert (tok.bos_id, tok.eos_id, tok.pad_id) == (1, 2, None)
    assert tok.source == tmp_path / "tokenizer.model"


def test_missing_tokenizer_names_the_directory(tmp_path):
    with pytest.raises(TokenizerError, match=f"{tmp_path}: no tokenizer found"):
        load_checkpoint_tokenizer(tmp_path)
    assert issubclass(TokenizerError, ExportError)
    with pytest.raises(TokenizerError, match="not found"):
        load_checkpoint_tokenizer(tmp_path / "nope")


def test_invalid_or_mismatched_sentencepiece_model(tmp_path):
    (tmp_path / "tokenizer.model").write_bytes(b"definitely not a model")
    with pytest.raises(TokenizerError, match="not a valid SentencePiece model"):
        load_checkpoint_tokenizer(tmp_path)
    (tmp_path / "tokenizer.model").write_bytes(train("bpe"))
    with pytest.raises(TokenizerError, match="does not belong"):
        load_checkpoint_tokenizer(tmp_path, model_vocab_size=100)


def test_unsupported_byte_level_variant_is_a_clear_error(tmp_path):
    """Byte-level BPE is bundled (tests/tokenizer/test_bpe_checkpoint.py), but not a
    variant the runtime does not implement (here: add_prefix_space)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(corpus(500), trainers.BpeTrainer(vocab_size=400))
    tok.save(str(tmp_path / "tokenizer.json"))
    with pytest.raises(TokenizerError, match="add_prefix_space=true is not supported"):
        load_checkpoint_tokenizer(tmp_path)


def test_other_tokenizer_json_without_model_is_a_clear_error(tmp_path):
    spec = {"model": {"type": "Unigram", "vocab": [["a", 0.0]]}, "pre_tokenizer": None}
    (tmp_path / "tokenizer.json").write_text(json.dumps(spec))
    with pytest.raises(TokenizerError, match=r"type Unigram without a tokenizer\.model"):
        load_checkpoint_tokenizer(tmp_path)
    (tmp_path / "tokenizer.json").write_text("{broken")
    with pytest.raises(TokenizerError, match="cannot read"):
        load_checkpoint_tokenizer(tmp_path)


def test_added_tokens_after_the_vocabulary_get_their_hf_ids(tmp_path):
    """Phi-3 style: <|end|>, <|user|> live in tokenizer.json / added_tokens.json with ids
    right after the SentencePiece vocabulary; the runtime must encode them atomically."""
    from litegen.bundle import checkpoint_metadata
    from litegen.tokenizer import Tokenizer

    spm = train("bpe")
    n = Tokenizer.from_bytes(spm).vocab_size
    (tmp_path / "tokenizer.model").write_bytes(spm)
    (tmp_path / "tokenizer.json").write_text(
        json.dumps({"added_tokens": [{"id": 1, "content": "<s>"}, {"id": n, "content": "<|end|>"}]})
    )
    (tmp_path / "added_tokens.json").write_text(json.dumps({"<|user|>": n + 1}))
    (tmp_path / "generation_config.json").write_text(json.dumps({"eos_token_id": [2, n]}))
    (tmp_path / "chat_template.jinja").write_text("{{ messages }}")
    loaded = load_checkpoint_tokenizer(tmp_path, model_vocab_size=n + 64)
    assert loaded.vocab_size == n + 2
    tok = Tokenizer.from_bytes(loaded.model_bytes)
    ids = tok.encode("<|user|>the dog<|end|>")
    assert n + 1 in ids[:2] and ids[-1] == n  # (after a dummy-prefix "▁", as spm does)
    assert tok.decode(ids) == "<|user|>the dog<|end|>"
    meta = checkpoint_metadata(
        tmp_path,
        loaded,
        context_size=8,
        quant_recipe="none",
        export_form="fast",
        signatures=["prefill", "decode"],
    )
    assert meta["eos_token_ids"] == [2, n] and meta["chat_template"] == "{{ messages }}"
    assert meta["vocab_size"] == n + 2

    (tmp_path / "added_tokens.json").write_text(json.dumps({"<|gap|>": n + 5}))
    with pytest.raises(TokenizerError, match="do not directly follow"):
        load_checkpoint_tokenizer(tmp_path)
