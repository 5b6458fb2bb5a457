"""The C++ byte-level BPE tokenizer against the HF ``tokenizers`` library, on tokenizers
trained in the test (GPT-2, Llama 3 and Qwen 2 styles): encode, decode, streaming decode,
special tokens, and typed errors for corrupt data."""

from __future__ import annotations

import random
import struct

import pytest

from litegen.errors import InputError, ModelLoadError
from litegen.tokenizer import Tokenizer
from litegen.tokenizer.bpe import MAGIC, convert_tokenizer_json
from tests.tokenizer import bpe_models

EDGE_TEXTS = [
    "",
    " ",
    "a",
    " " * 37,
    "\n" * 9,
    " \n \n  \n",
    "\r\n\r\n  x\r\n",
    "\t\t word \t",
    "word   \nnext  ",
    "1234567890123",
    "a1b22c333d4444",
    "٣٤٥٦ Ⅻ ½ 12.5",
    "I'm we'LL THEY'RE it'S she'd 've 'm '\u017f",
    "''s ' s 'sss",
    "don't\n'tis",
    "!!! ?? ... ,,, ;;;\n\n",
    " !!\n\n\nx",
    "x" * 300,
    "ab" * 150,
    "東京日本語中文한국어",
    "🙂🚀👩‍💻🇫🇷",
    "e\u0301\u0301 a\u0308 \u212b \u1100\u1161\u11a8 \u0f73 \u0344",
    "\u00a0\u00a0x\u3000\u3000y\u2028z",
    "\U0001f600 \U000e0001 \U0010fffd",
]


@pytest.fixture(scope="module", params=bpe_models.STYLES)
def pair(request, tmp_path_factory) -> tuple[str, Tokenizer, object]:
    """(style, our tokenizer, the HF reference)."""
    style = request.param
    path = bpe_models.write_checkpoint_tokenizer(tmp_path_factory.mktemp(style), style)
    converted = convert_tokenizer_json(path, bpe_models.tokenizer_config(style))
    ours = Tokenizer.from_bytes(converted.data, source=style)
    return style, ours, bpe_models.reference(style)


def _texts(style: str) -> list[str]:
    specials = bpe_models.SPECIALS[style]
    inside = [f"x{s}y {s}\n{s}{s} z" for s in specials]
    return EDGE_TEXTS + inside + bpe_models.random_texts(600, seed=3, style=style)


def test_encode_matches_tokenizers(pair):
    style, ours, ref = pair
    assert ours.kind == "bpe_bytelevel"
    mismatches = []
    for text in _texts(style):
        expected = ref.encode(text, add_special_tokens=False).ids
        if ours.encode(text) != expected:
            mismatches.append((text, ours.encode(text), expected))
    assert not mismatches, mismatches[:3]


def test_decode_matches_tokenizers(pair):
    style, ours, ref = pair
    rng = random.Random(4)
    id_lists = [ref.encode(t, add_special_tokens=False).ids for t in _texts(style)]
    # Random ids split multi-byte characters between tokens and mix in specials.
    id_lists += [
        [rng.randrange(ours.vocab_size) for _ in range(rng.randint(1, 12))] for _ in range(500)
    ]
    id_lists += [[i] for i in range(ours.vocab_size)]
    for ids in id_lists:
        assert ours.decode(ids) == ref.decode(ids, skip_special_tokens=True), ids


def test_stream_pieces_concatenate_to_the_full_decode(pair):
    style, ours, ref = pair
    rng = random.Random(5)
    id_lists = [ref.encode(t, add_special_tokens=False).ids for t in _texts(style)[:200]]
    id_lists += [
        [rng.randrange(ours.vocab_size) for _ in range(rng.randint(1, 30))] for _ in range(300)
    ]
    for ids in id_lists:
        decoder = ours.stream_decoder()
        pieces = [decoder.push(i) for i in ids]
        tail = decoder.flush()
        assert "".join(pieces) + tail == ours.decode(ids), ids
        # Held back only while a character is incomplete: no piece ends mid-character.
        assert all("\ufffd" not in p or "\ufffd" in ours.decode(ids) for p in pieces)


def test_special_tokens_and_metadata(pair):
    style, ours, ref = pair
    config = bpe_models.tokenizer_config(style)
    for key, value in (("bos_token", ours.bos_id), ("eos_token", ours.eos_id)):
        name = config.get(key)
        assert value == (ref.token_to_id(name) if name else None)
    for special in bpe_models.SPECIALS[style]:
        token_id = ref.token_to_id(special)
        assert ours.encode(special) == [token_id]
        assert ours.piece_to_id(special) == token_id and ours.id_to_piece(token_id) == special
        assert ours.is_control(token_id) and ours.decode([token_id]) == ""
    if style == "qwen2":  # non-special added tokens decode to their text
        tool = ref.token_to_id("<tool_call>")
        assert not ours.is_control(tool) and ours.decode([tool]) == "<tool_call>"
    text = "hello world"
    assert ours.encode(text, add_eos=True) == [
        *ref.encode(text, add_special_tokens=False).ids,
        ours.eos_id,
    ]
    word = ref.encode(" world", add_special_tokens=False).ids
    assert [ours.id_to_piece(i) for i in word] == [ref.id_to_token(i) for i in word]
    with pytest.raises(InputError, match="outside the vocabulary"):
        ours.decode([ours.vocab_size])


def test_add_bos_follows_the_post_processor(tmp_path):
    for style, expected in (("llama3", True), ("qwen2", False), ("gpt2", False)):
        path = bpe_models.write_checkpoint_tokenizer(tmp_path / style, style)
        converted = convert_tokenizer_json(path, bpe_models.tokenizer_config(style))
        assert converted.add_bos is expected, style
        ref = bpe_models.reference(style)
        with_specials = ref.encode("hi", add_special_tokens=True).ids
        assert (with_specials[:1] == [converted.bos_id]) is expected


def _data(style: str, tmp_path) -> bytes:
    path = bpe_models.write_checkpoint_tokenizer(tmp_path, style)
    return convert_tokenizer_json(path, bpe_models.tokenizer_config(style)).data


def test_corrupt_data_is_a_typed_error(tmp_path):
    data = _data("qwen2", tmp_path)
    header = len(MAGIC)

    def expect(bad: bytes, reason: str) -> None:
        with pytest.raises(ModelLoadError, match=reason):
            Tokenizer.from_bytes(bad, source="t")

    expect(data[:header], "truncated header")
    expect(data[:-1], "merges do not fit")
    expect(data + b"\0", "unexpected bytes")
    expect(data[: len(data) // 2], "truncated")
    patched = bytearray(data)
    struct.pack_into("<I", patched, header, 99)  # pre-tokenizer pattern
    expect(bytes(patched), "unknown pre-tokenizer pattern 99")
    patched = bytearray(data)
    struct.pack_into("<I", patched, header + 12, 1 << 29)  # vocab size
    expect(bytes(patched), "does not fit")
    patched = bytearray(data)
    struct.pack_into("<i", patched, header + 20, 10**6)  # BOS id
    expect(bytes(patched), "outside the vocabulary")
    patched = bytearray(data)
    struct.pack_into("<III", patched, len(data) - 12, 1, 2, 3)  # last merge
    expect(bytes(patched), "merge")


def test_random_damage_never_crashes(tmp_path):
    data = _data("gpt2", tmp_path)
    rng = random.Random(0)
    loaded = 0
    for _ in range(400):
        bad = bytearray(data)
        for _ in range(rng.randint(1, 4)):
            bad[rng.randrange(len(MAGIC), len(bad))] = rng.randrange(256)
        try:
            tok = Tokenizer.from_bytes(bytes(bad))
        except ModelLoadError:
            continue
        loaded += 1  # damage the checks cannot see (e.g. token text): still safe to run
        ids = tok.encode("Hello world's 123 東京 🙂")
        assert all(0 <= i < tok.vocab_size for i in ids)
        tok.decode(ids + [rng.randrange(tok.vocab_size) for _ in range(8)])
    assert loaded < 400
