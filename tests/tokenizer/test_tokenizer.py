"""The C++ SentencePiece tokenizer (litegen.Tokenizer) against the Python sentencepiece
package on models trained in the test."""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

import pytest

import litegen
from litegen.errors import InputError, ModelLoadError
from litegen.tokenizer import Tokenizer
from tests.tokenizer.spm_models import SAMPLES, reference, train

REPO = Path(__file__).resolve().parents[2]


def test_encode_decode_match_sentencepiece(spm_model):
    tok, ref = Tokenizer.from_bytes(spm_model), reference(spm_model)
    assert tok.vocab_size == ref.get_piece_size() == len(tok)
    for text in SAMPLES:
        ids = tok.encode(text)
        assert ids == ref.encode(text), text
        assert tok.decode(ids) == ref.decode(ids)
        # Round trip (the samples are already normalized text except for extra spaces).
        assert tok.decode(ids) == ref.decode(ref.encode(text))
    assert tok.decode(tok.encode("café naïve 東京 🙂")) == "café naïve 東京 🙂"


def test_special_tokens_and_pieces(spm_model):
    tok, ref = Tokenizer.from_bytes(spm_model), reference(spm_model)
    assert (tok.bos_id, tok.eos_id, tok.unk_id, tok.pad_id) == (1, 2, 0, None)
    text = "the quick fox"
    assert tok.encode(text, add_bos=True) == [1, *ref.encode(text)]
    assert tok.encode(text, add_bos=True, add_eos=True) == [1, *ref.encode(text), 2]
    assert tok.decode([1, *tok.encode(text), 2]) == text  # control tokens decode to ""
    assert tok.is_control(1) and not tok.is_control(tok.encode("fox")[0])
    for token_id in range(tok.vocab_size):
        piece = tok.id_to_piece(token_id)
        assert piece == ref.id_to_piece(token_id)
        assert tok.piece_to_id(piece) == token_id
    assert tok.piece_to_id("no such piece at all") is None
    assert "vocab_size=" in repr(tok)


def test_from_file_and_top_level_name(tmp_path):
    path = tmp_path / "tokenizer.model"
    path.write_bytes(train("bpe"))
    tok = litegen.Tokenizer.from_file(path)
    assert tok.encode("hello") == reference(train("bpe")).encode("hello")


def _concat_stream(tok: Tokenizer, ids: list[int]) -> str:
    return "".join(tok.decode_stream(ids))


def test_stream_decoding_concatenates_to_full_decode(spm_model):
    tok, ref = Tokenizer.from_bytes(spm_model), reference(spm_model)
    for text in SAMPLES:
        ids = tok.encode(text)
        assert _concat_stream(tok, ids) == ref.decode(ids)
    rng = random.Random(0)
    for _ in range(400):  # arbitrary ids: lone "▁", stray continuation bytes, controls
        ids = [rng.randrange(tok.vocab_size) for _ in range(rng.randint(1, 40))]
        assert _concat_stream(tok, ids) == ref.decode(ids), [ref.id_to_piece(i) for i in ids]


def test_stream_never_splits_a_character_and_keeps_spaces():
    tok = Tokenizer.from_bytes(train("bpe"))
    # A 4-byte character spelled by byte-fallback pieces: nothing until it is complete.
    byte_ids = [tok.piece_to_id(f"<0x{b:02X}>") for b in "\U0001d518".encode()]
    decoder = tok.stream_decoder()
    assert [decoder.push(i) for i in byte_ids] == ["", "", "", "\U0001d518"]
    # Leading-space handling: the first word has none, later words keep theirs.
    decoder.reset()
    pieces = [decoder.push(i) for i in tok.encode("the lazy dog")]
    assert "".join(pieces) == "the lazy dog" and not pieces[0].startswith(" ")
    assert any(p.startswith(" ") for p in pieces[1:])
    # A lone "▁" after some text is a space, exactly as in the full decode.
    space = tok.piece_to_id("▁")
    ids = [*tok.encode("dog"), space, *tok.encode("fox")]
    assert _concat_stream(tok, ids) == tok.decode(ids) == "dog  fox"
    # An incomplete character at the end comes out of flush() as U+FFFD.
    decoder.reset()
    assert decoder.push(byte_ids[0]) == ""
    assert decoder.flush() == "\ufffd"
    assert decoder.ids == []


def test_errors_are_typed():
    tok = Tokenizer.from_bytes(train("bpe"))
    with pytest.raises(InputError, match="outside the vocabulary"):
        tok.decode([0, tok.vocab_size])
    with pytest.raises(InputError, match="outside the vocabulary"):
        tok.decode([-1])
    with pytest.raises(InputError, match="outside the vocabulary"):
        tok.id_to_piece(10**6)
    decoder = tok.stream_decoder()
    with pytest.raises(InputError):
        decoder.push(tok.vocab_size)
    assert decoder.ids == []  # unchanged by the bad push
    with pytest.raises(InputError):
        tok.encode(b"bytes")  # type: ignore[arg-type]
    for bad in (b"", b"\x00", b"not a sentencepiece model", train("bpe")[:100]):
        with pytest.raises(ModelLoadError, match="tokenizer model"):
            Tokenizer.from_bytes(bad)
    with pytest.raises(ModelLoadError, match="cannot open tokenizer model"):
        Tokenizer.from_file("/nonexistent/tokenizer.model")


_FUZZ = """
import random, sys
from litegen.tokenizer import Tokenizer
from litegen.errors import ModelLoadError
from tests.tokenizer.spm_models import train
model = train("bpe")
rng = random.Random(int(sys.argv[1]))
loaded = rejected = 0
for _ in range(int(sys.argv[2])):
    data = bytearray(model)
    for _ in range(rng.randint(1, 20)):
        data[rng.randrange(len(data))] = rng.randrange(256)
    if rng.random() < 0.2:
        data = data[: rng.randrange(len(data))]
    try:
        tok = Tokenizer.from_bytes(bytes(data))
        tok.encode("hello wörld 東京 🙂 ǅ")
        tok.decode(list(range(min(64, tok.vocab_size))))
        loaded += 1
    except ModelLoadError:
        rejected += 1
print(loaded, rejected)
"""


def test_corrupt_models_never_crash():
    """SentencePiece trusts the normalizer's trie; corrupted bytes used to segfault in
    Encode. Run in a subprocess so a crash fails the test instead of killing pytest."""
    proc = subprocess.run(
        [sys.executable, "-c", _FUZZ, "7", "1500"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    loaded, rejected = map(int, proc.stdout.split())
    assert loaded + rejected == 1500 and rejected > 0
