"""tokenizer.json-only checkpoints (byte-level BPE): what is bundled, the bundle-time
equivalence check against HF ``tokenizers``, and the typed errors for what is not
supported."""

from __future__ import annotations

import contextlib
import json
import random

import pytest

from litegen.errors import TokenizerError
from litegen.tokenizer import Tokenizer, load_checkpoint_tokenizer
from litegen.tokenizer import bpe as bpe_module
from litegen.tokenizer.bpe import convert_tokenizer_json
from tests.tokenizer import bpe_models


@pytest.mark.parametrize("style", bpe_models.STYLES)
def test_tokenizer_json_checkpoints_are_bundled(tmp_path, style):
    path = bpe_models.write_checkpoint_tokenizer(tmp_path, style)
    loaded = load_checkpoint_tokenizer(tmp_path, model_vocab_size=1024)
    assert loaded.kind == "bpe_bytelevel" and loaded.source == path
    ref = bpe_models.reference(style)
    assert loaded.vocab_size == ref.get_vocab_size(with_added_tokens=True)
    config = bpe_models.tokenizer_config(style)
    assert loaded.eos_id == ref.token_to_id(config["eos_token"])
    assert loaded.add_bos is (style == "llama3")
    tok = Tokenizer.from_bytes(loaded.model_bytes)
    text = "Hello world, it's 2026! 東京 🙂"
    assert tok.encode(text) == ref.encode(text, add_special_tokens=False).ids


def test_vocabulary_larger_than_the_model_is_refused(tmp_path):
    bpe_models.write_checkpoint_tokenizer(tmp_path, "gpt2")
    with pytest.raises(TokenizerError, match="does not belong"):
        load_checkpoint_tokenizer(tmp_path, model_vocab_size=100)


def _rewrite(tmp_path, style: str, edit) -> None:
    path = bpe_models.write_checkpoint_tokenizer(tmp_path, style)
    spec = json.loads(path.read_text(encoding="utf-8"))
    edit(spec)
    path.write_text(json.dumps(spec), encoding="utf-8")


def test_unknown_split_pattern_is_named(tmp_path):
    def edit(spec):
        spec["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] = r"\w+|\s+"

    _rewrite(tmp_path, "llama3", edit)
    with pytest.raises(TokenizerError, match=r"split pattern .*\\\\w\+\|\\\\s\+.* is not one"):
        load_checkpoint_tokenizer(tmp_path)


@pytest.mark.parametrize(
    ("edit", "reason"),
    [
        (lambda s: s.update(normalizer={"type": "NFKC"}), "normalizer .*NFKC"),
        (lambda s: s.update(decoder={"type": "WordPiece"}), "decoder"),
        (lambda s: s["model"].update(continuing_subword_prefix="##"), "continuing_subword"),
        (lambda s: s["added_tokens"][0].update(single_word=True), "single_word"),
        (lambda s: s["model"]["merges"].append(["zz", "qq"]), "missing from the vocabulary"),
    ],
)
def test_unsupported_parts_are_typed_errors(tmp_path, edit, reason):
    _rewrite(tmp_path, "qwen2", edit)
    with pytest.raises(TokenizerError, match=reason):
        load_checkpoint_tokenizer(tmp_path)


def test_equivalence_check_refuses_a_mismatch(tmp_path, monkeypatch):
    """Serialize a Llama 3 tokenizer with Qwen's single-digit split: structurally valid,
    but digit runs tokenize differently, which the bundle-time check must catch."""
    bpe_models.write_checkpoint_tokenizer(tmp_path, "llama3")
    patterns = dict(bpe_module.PATTERNS)
    patterns[bpe_module.LLAMA3_PATTERN] = patterns[bpe_module.QWEN2_PATTERN]
    monkeypatch.setattr(bpe_module, "PATTERNS", patterns)
    with pytest.raises(TokenizerError, match="differs from HF tokenizers on encoding"):
        load_checkpoint_tokenizer(tmp_path)


def _paths(node, prefix=()):
    """Every (container, key) path of a JSON tree, skipping into the big vocab / merges."""
    if isinstance(node, dict):
        items = node.items()
    elif isinstance(node, list):
        items = enumerate(node[:3])
    else:
        return
    for key, value in items:
        yield (*prefix, key)
        if key not in ("vocab", "merges"):
            yield from _paths(value, (*prefix, key))


def test_mistyped_tokenizer_json_is_always_a_typed_error(tmp_path):
    """Any value replaced by a value of another JSON type: converted or TokenizerError,
    never another exception."""
    path = bpe_models.write_checkpoint_tokenizer(tmp_path, "qwen2")
    original = json.loads(path.read_text(encoding="utf-8"))
    junk = [None, 7, -1, "x", [], {}, [1, "a"], {"Regex": 3}, True, 2.5]
    paths = list(_paths(original))
    rng = random.Random(0)
    for trial in range(300):
        spec = json.loads(json.dumps(original))
        where = paths[trial % len(paths)]
        node = spec
        for key in where[:-1]:
            node = node[key]
        node[where[-1]] = rng.choice(junk)
        path.write_text(json.dumps(spec), encoding="utf-8")
        with contextlib.suppress(TokenizerError):
            convert_tokenizer_json(path, {"eos_token": rng.choice(junk)})
