"""The .litegen container: Python writer -> Python and C++ readers, the bundle as a plain
.tflite for the runtime, and typed errors (no crash) for damaged files."""

from __future__ import annotations

import io
import os
import stat
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest

import litegen
from litegen.bundle import FORMAT_VERSION, read_bundle, write_bundle
from litegen.bundle.format import FOOTER_SIZE
from litegen.errors import ExportError, ModelLoadError
from litegen.runtime._native import load_extension
from litegen.tokenizer import Tokenizer
from tests.fixtures.cpp_models import write_two_signature_fc
from tests.tokenizer.spm_models import train

METADATA = {
    "litegen_version": litegen.__version__,
    "source_checkpoint": "tests/tiny",
    "model_type": "llama",
    "context_size": 32,
    "quant_recipe": "none",
    "export_form": "fast",
    "signatures": ["prefill", "decode"],
    "tokenizer_type": "sentencepiece",
    "vocab_size": 592,
    "bos_token_id": 1,
    "eos_token_ids": [2, 7],
    "pad_token_id": None,
    "add_bos_token": True,
    "chat_template": "{% for m in messages %}<|{{ m.role }}|>{{ m.content }}é{% endfor %}",
}


@pytest.fixture
def tflite(tmp_path: Path) -> Path:
    path = tmp_path / "fc.tflite"
    write_two_signature_fc(path)
    return path


@pytest.fixture
def bundle(tmp_path: Path, tflite: Path) -> Path:
    return write_bundle(tflite, tmp_path / "m.litegen", train("bpe"), METADATA)


def native_open(path: Path) -> dict:
    return load_extension().open_bundle(str(path))


def test_round_trip_python_and_cpp_readers(bundle, tflite):
    b = read_bundle(bundle)
    assert b.format_version == FORMAT_VERSION and b.model_offset == 0
    assert b.model_size == tflite.stat().st_size and b.file_size == bundle.stat().st_size
    assert b.read_model_bytes() == tflite.read_bytes()
    assert bundle.read_bytes()[: b.model_size] == tflite.read_bytes()
    assert b.tokenizer_model == train("bpe")
    assert b.metadata == {**METADATA, "format_version": FORMAT_VERSION}
    assert b.file_size % 64 == 0

    c = native_open(bundle)
    assert (c["model_offset"], c["model_size"], c["file_size"]) == (0, b.model_size, b.file_size)
    assert c["tokenizer_model"] == b.tokenizer_model
    meta = c["metadata"]
    for key in (
        "context_size",
        "signatures",
        "eos_token_ids",
        "bos_token_id",
        "chat_template",
        "add_bos_token",
        "quant_recipe",
        "source_checkpoint",
        "model_type",
        "litegen_version",
        "vocab_size",
        "export_form",
    ):
        assert meta[key] == METADATA[key], key
    assert meta["pad_token_id"] == -1  # None in JSON -> -1 in C++
    assert load_extension().is_bundle_file(str(bundle))
    assert not load_extension().is_bundle_file(str(tflite))


def test_bundle_is_a_tflite_for_the_runtime(bundle, tflite):
    plain, bundled = litegen.Model(tflite), litegen.Model(bundle)
    assert plain.signatures == bundled.signatures
    for name, sig in plain.signatures.items():
        feeds = {
            t.name: np.full([d if d > 0 else 3 for d in t.shape], 0.5, t.dtype) for t in sig.inputs
        }
        want, got = plain.run(name, **feeds), bundled.run(name, **feeds)
        for key in want:
            np.testing.assert_array_equal(want[key], got[key])


def test_tokenizer_from_bundle(bundle):
    tok = Tokenizer.from_bundle(bundle)
    assert tok.encode("the lazy dog") == Tokenizer.from_bytes(train("bpe")).encode("the lazy dog")


def test_write_from_stream_and_atomically(tmp_path, tflite):
    out = write_bundle(io.BytesIO(tflite.read_bytes()), tmp_path / "s.litegen", b"tok", METADATA)
    assert read_bundle(out).tokenizer_model == b"tok"
    with pytest.raises(ExportError, match=r"not a \.tflite"):
        write_bundle(io.BytesIO(b"nope" * 10), tmp_path / "bad.litegen", b"tok", METADATA)
    with pytest.raises(ExportError, match="JSON"):
        write_bundle(tflite, tmp_path / "bad.litegen", b"tok", {"x": object()})
    with pytest.raises(ExportError, match="tokenizer"):
        write_bundle(tflite, tmp_path / "bad.litegen", b"", METADATA)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fc.tflite", "s.litegen"]
    # The mode a plain open() gives (0666 less the umask), like the .tflite next to it.
    umask = os.umask(0o022)
    try:
        out = write_bundle(tflite, tmp_path / "m.litegen", b"tok", METADATA)
    finally:
        os.umask(umask)
    assert stat.S_IMODE(out.stat().st_mode) == 0o644


# ---- damaged bundles -------------------------------------------------------------------


def _refresh_checksum(data: bytearray) -> None:
    """Recompute the footer CRC so that a structural change is what the readers see."""
    footer = len(data) - FOOTER_SIZE
    model_size = struct.unpack_from("<Q", data, footer + 24)[0]
    crc = zlib.crc32(bytes(data[model_size:footer]))
    crc = zlib.crc32(bytes(data[footer : footer + 48]), crc)
    struct.pack_into("<I", data, footer + 48, crc)


def _expect_both_fail(path: Path, match: str) -> None:
    with pytest.raises(ModelLoadError, match=match) as py_err:
        read_bundle(path)
    assert str(path) in str(py_err.value)
    with pytest.raises(ModelLoadError, match=match) as cpp_err:
        native_open(path)
    assert str(path) in str(cpp_err.value)


def _variant(bundle: Path, name: str, mutate) -> Path:
    data = bytearray(bundle.read_bytes())
    result = mutate(data)
    data = data if result is None else result
    out = bundle.with_name(name)
    out.write_bytes(bytes(data))
    return out


def test_sections_appended_in_place_match_a_copied_bundle(tmp_path, tflite):
    """append_bundle_sections (what `litegen convert -o x.litegen` uses: no 1 GB copy of
    the model) writes the same bytes as write_bundle, and refuses a file that is not a
    .tflite without touching it."""
    from litegen.bundle.format import append_bundle_sections

    copied = write_bundle(tflite, tmp_path / "copied.litegen", b"tok", METADATA)
    work = tmp_path / "work.tflite"
    work.write_bytes(tflite.read_bytes())
    out = append_bundle_sections(work, tmp_path / "appended.litegen", b"tok", METADATA)
    assert not work.exists()
    assert out.read_bytes() == copied.read_bytes()
    assert read_bundle(out).tokenizer_model == b"tok"
    junk = tmp_path / "junk.tflite"
    junk.write_bytes(b"nope" * 10)
    with pytest.raises(ExportError, match=r"not a \.tflite"):
        append_bundle_sections(junk, tmp_path / "bad.litegen", b"tok", METADATA)
    assert junk.read_bytes() == b"nope" * 10 and not (tmp_path / "bad.litegen").exists()


def test_damaged_bundles_raise_typed_errors(bundle):
    size = bundle.stat().st_size
    footer = size - FOOTER_SIZE
    model_size = read_bundle(bundle).model_size
    table = struct.unpack_from("<Q", bundle.read_bytes(), footer + 32)[0]

    def flip(pos):
        def mutate(d):
            d[pos] ^= 0x40

        return mutate

    # Every footer byte matters: magic, version, sizes, offsets, checksum, file size.
    for pos in range(FOOTER_SIZE):
        path = _variant(bundle, f"footer{pos}.litegen", flip(footer + pos))
        _expect_both_fail(path, "bundle|corrupt")
    _expect_both_fail(_variant(bundle, "magic.litegen", flip(footer)), "not a litegen bundle")
    _expect_both_fail(_variant(bundle, "version.litegen", flip(footer + 8)), "format version")
    _expect_both_fail(_variant(bundle, "crc.litegen", flip(footer + 48)), "checksum mismatch")
    # Tokenizer / metadata / table bytes are covered by the checksum.
    for pos in (model_size + 100, table - 5, table + 3):
        _expect_both_fail(_variant(bundle, "body.litegen", flip(pos)), "checksum mismatch")
    # Truncated and extended files.
    for cut in (1, 64, 1000, size - model_size, size - 10, size):
        path = _variant(bundle, "cut.litegen", lambda d, cut=cut: d[: size - cut])
        _expect_both_fail(path, "bundle")
    _expect_both_fail(_variant(bundle, "long.litegen", lambda d: d + b"\0"), "not a litegen bundle")

    # Structurally wrong but with a valid checksum: section out of range, misaligned.
    def section_out_of_range(d):
        struct.pack_into("<Q", d, table + 16, 10**9)  # tokenizer size
        _refresh_checksum(d)

    def section_in_model(d):
        struct.pack_into("<Q", d, table + 8, 0)  # tokenizer offset inside the model
        _refresh_checksum(d)

    def table_outside(d):
        struct.pack_into("<Q", d, footer + 32, footer + 8)
        _refresh_checksum(d)

    def no_tokenizer(d):
        struct.pack_into("<I", d, table, 99)  # unknown kind: skipped, so none is left
        _refresh_checksum(d)

    def bad_metadata(d):
        meta_off = struct.unpack_from("<Q", d, table + 32 + 8)[0]
        d[meta_off] = ord("[")
        _refresh_checksum(d)

    _expect_both_fail(_variant(bundle, "s1.litegen", section_out_of_range), "out of range")
    _expect_both_fail(_variant(bundle, "s2.litegen", section_in_model), "out of range")
    _expect_both_fail(_variant(bundle, "s3.litegen", table_outside), "section table")
    _expect_both_fail(_variant(bundle, "s4.litegen", no_tokenizer), "no tokenizer section")
    _expect_both_fail(_variant(bundle, "s5.litegen", bad_metadata), "metadata")


def test_not_a_bundle(tmp_path, tflite):
    _expect_both_fail(tflite, "not a litegen bundle")
    tiny = tmp_path / "tiny.litegen"
    tiny.write_bytes(b"x" * 10)
    _expect_both_fail(tiny, "truncated")
    with pytest.raises(ModelLoadError, match="cannot open"):
        read_bundle(tmp_path / "missing.litegen")
    with pytest.raises(ModelLoadError, match="cannot open"):
        native_open(tmp_path / "missing.litegen")


def test_bundle_metadata_validation(tmp_path, tflite):
    for bad, match in (
        ({**METADATA, "context_size": 0}, "context_size"),
        ({**METADATA, "signatures": "prefill"}, "signatures"),
        ({**METADATA, "eos_token_ids": ["2"]}, "eos_token_ids"),
        ({**METADATA, "tokenizer_type": "tiktoken"}, "tokenizer type"),
    ):
        path = write_bundle(tflite, tmp_path / "meta.litegen", b"tok", bad)
        _expect_both_fail(path, match)
