"""A .litegen bundle with a byte-level BPE tokenizer section (kind 3): both readers,
the tokenizer from the bundle, and typed errors for a mismatched or corrupt section."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import pytest

from litegen.bundle import read_bundle, write_bundle
from litegen.bundle.format import FOOTER_SIZE, SECTION_TOKENIZER_BPE_BYTELEVEL
from litegen.errors import ExportError, ModelLoadError
from litegen.runtime._native import load_extension
from litegen.tokenizer import Tokenizer
from litegen.tokenizer.bpe import convert_tokenizer_json
from tests.fixtures.cpp_models import write_two_signature_fc
from tests.tokenizer import bpe_models

METADATA = {
    "context_size": 32,
    "signatures": ["prefill", "decode"],
    "tokenizer_type": "bpe_bytelevel",
    "eos_token_ids": [2],
    "bos_token_id": 0,
    "add_bos_token": True,
}


@pytest.fixture
def written(tmp_path: Path) -> tuple[Path, bytes]:
    path = bpe_models.write_checkpoint_tokenizer(tmp_path / "ckpt", "llama3")
    data = convert_tokenizer_json(path, bpe_models.tokenizer_config("llama3")).data
    tflite = tmp_path / "fc.tflite"
    write_two_signature_fc(tflite)
    return write_bundle(tflite, tmp_path / "m.litegen", data, METADATA), data


def _refresh_checksum(data: bytearray) -> None:
    footer = len(data) - FOOTER_SIZE
    model_size = struct.unpack_from("<Q", data, footer + 24)[0]
    crc = zlib.crc32(bytes(data[model_size:footer]))
    crc = zlib.crc32(bytes(data[footer : footer + 48]), crc)
    struct.pack_into("<I", data, footer + 48, crc)


def _table(data: bytes) -> int:
    return struct.unpack_from("<Q", data, len(data) - FOOTER_SIZE + 32)[0]


def test_bpe_section_round_trip(written):
    path, data = written
    bundle = read_bundle(path)
    assert bundle.tokenizer_model == data and bundle.metadata["tokenizer_type"] == "bpe_bytelevel"
    native = load_extension().open_bundle(str(path))
    assert native["tokenizer_section_kind"] == SECTION_TOKENIZER_BPE_BYTELEVEL
    assert native["tokenizer_model"] == data
    assert struct.unpack_from("<I", path.read_bytes(), _table(path.read_bytes()))[0] == 3
    tok = Tokenizer.from_bundle(path)
    ref = bpe_models.reference("llama3")
    text = "Hello <|eot_id|> world 12345"
    assert tok.kind == "bpe_bytelevel"
    assert tok.encode(text) == ref.encode(text, add_special_tokens=False).ids


def test_type_and_section_kind_must_agree(written):
    path, _ = written
    data = bytearray(path.read_bytes())
    struct.pack_into("<I", data, _table(data), 1)  # claim a SentencePiece section
    _refresh_checksum(data)
    bad = path.with_name("kind.litegen")
    bad.write_bytes(bytes(data))
    for reader in (read_bundle, lambda p: load_extension().open_bundle(str(p))):
        with pytest.raises(ModelLoadError, match="does not match the tokenizer section"):
            reader(bad)


def test_corrupt_bpe_section_is_a_typed_error(written):
    path, _data = written
    blob = bytearray(path.read_bytes())
    offset = struct.unpack_from("<Q", blob, _table(blob) + 8)[0]
    struct.pack_into("<I", blob, offset + 8 + 12, 10**8)  # vocabulary size
    _refresh_checksum(blob)
    bad = path.with_name("corrupt.litegen")
    bad.write_bytes(bytes(blob))
    read_bundle(bad)  # the container is intact; the tokenizer is not
    with pytest.raises(ModelLoadError, match=f"bundle '{bad}'.*not a valid byte-level BPE"):
        Tokenizer.from_bundle(bad)


def test_writer_refuses_a_type_that_does_not_match_the_bytes(written, tmp_path):
    _, data = written
    tflite = tmp_path / "fc.tflite"
    with pytest.raises(ExportError, match="does not match the tokenizer bytes"):
        write_bundle(
            tflite, tmp_path / "x.litegen", data, {**METADATA, "tokenizer_type": "sentencepiece"}
        )
    with pytest.raises(ExportError, match="does not match the tokenizer bytes"):
        write_bundle(tflite, tmp_path / "y.litegen", b"\x0a\x01x", METADATA)
