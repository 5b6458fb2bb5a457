"""The ``.litegen`` bundle: a .tflite model followed by the tokenizer and metadata.

Layout (all integers little-endian; full specification in docs/bundle_format.md)::

    [0, model_size)            the .tflite file, byte for byte (so the bundle IS a .tflite)
    zero padding to 64 bytes
    sections, each 64-byte aligned: tokenizer (SentencePiece model, kind 1, or byte-level
    BPE, kind 3), metadata (JSON, kind 2)
    section table (64-byte aligned): 32-byte entries  <u32 kind, u32 flags, u64 offset,
                                                       u64 size, u64 reserved>
    footer, the last 64 bytes:
       0 magic  b"LITEGEN\\0"       8 u32 format version   12 u32 footer size (64)
      16 u64 model offset (0)      24 u64 model size       32 u64 section table offset
      40 u64 section table size    48 u32 CRC-32 of bytes [model_size, file_size - 64)
                                          followed by footer bytes [0, 48)
      52 u32 reserved (0)          56 u64 file size
"""

from __future__ import annotations

import json
import os
import struct
import uuid
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from litegen.errors import ExportError, ModelLoadError
from litegen.tokenizer.bpe import MAGIC as BPE_MAGIC

MAGIC = b"LITEGEN\0"
FORMAT_VERSION = 1
FOOTER_SIZE = 64
ALIGNMENT = 64
SECTION_ENTRY_SIZE = 32
SECTION_TOKENIZER_SENTENCEPIECE = 1
SECTION_METADATA_JSON = 2
SECTION_TOKENIZER_BPE_BYTELEVEL = 3
# metadata tokenizer_type -> the section kind holding that tokenizer
TOKENIZER_SECTIONS = {
    "sentencepiece": SECTION_TOKENIZER_SENTENCEPIECE,
    "bpe_bytelevel": SECTION_TOKENIZER_BPE_BYTELEVEL,
}
TFLITE_IDENTIFIER = b"TFL3"  # bytes 4..8 of every .tflite flatbuffer

_FOOTER = struct.Struct("<8sIIQQQQIIQ")
_ENTRY = struct.Struct("<IIQQQ")
assert _FOOTER.size == FOOTER_SIZE and _ENTRY.size == SECTION_ENTRY_SIZE
_CHUNK = 8 << 20  # whole 2 MiB multiples: see tflite_writer._BlockWriter


@dataclass(frozen=True)
class Bundle:
    """What :func:`read_bundle` found. The model is bytes ``[model_offset, model_offset +
    model_size)`` of ``path``; pass ``path`` itself to :class:`litegen.runtime.Model`."""

    path: Path
    file_size: int
    format_version: int
    model_offset: int
    model_size: int
    tokenizer_model: bytes  # SentencePiece ModelProto or serialized byte-level BPE
    metadata: dict[str, Any] = field(default_factory=dict)

    def read_model_bytes(self) -> bytes:
        with open(self.path, "rb") as f:
            f.seek(self.model_offset)
            return f.read(self.model_size)


def _pad(n: int) -> int:
    return -n % ALIGNMENT


def write_bundle(
    tflite: str | os.PathLike[str] | BinaryIO,
    out_path: str | os.PathLike[str],
    tokenizer_model_bytes: bytes,
    metadata: Mapping[str, Any],
) -> Path:
    """Write ``out_path``: the .tflite model (a path, or a binary stream read to its end in
    1 MiB chunks), then the tokenizer and ``metadata`` (JSON-serializable; ``format_version``
    is set; its ``tokenizer_type`` picks the tokenizer section kind: ``"bpe_bytelevel"``, else
    SentencePiece). Written to a temporary file in the same directory and renamed into
    place, so readers never see a partial bundle. Returns ``out_path``."""
    out = Path(out_path)
    meta_bytes = _metadata_bytes(out, tokenizer_model_bytes, metadata)

    parent = out.parent if str(out.parent) else Path(".")
    # A unique temporary name, created with the mode a plain open() gives (0666 less the
    # umask; mkstemp would make the bundle 0600).
    tmp = parent / f".{out.name}.{uuid.uuid4().hex[:12]}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            model_size = _copy_model(tflite, f, out)
            _append_sections(f, model_size, tokenizer_model_bytes, meta_bytes)
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return out


def append_bundle_sections(
    tflite_path: str | os.PathLike[str],
    out_path: str | os.PathLike[str],
    tokenizer_model_bytes: bytes,
    metadata: Mapping[str, Any],
) -> Path:
    """Like :func:`write_bundle`, but turns the .tflite file at ``tflite_path`` itself into
    the bundle: the sections are appended to it and it is renamed to ``out_path`` (same
    filesystem). Saves copying the model (1 GB for a 1B int8 model). ``tflite_path`` is
    consumed; on error it is left as it was or removed. The fsync after appending covers
    the whole file, so the model may be written without one of its own."""
    src = Path(tflite_path)
    out = Path(out_path)
    meta_bytes = _metadata_bytes(out, tokenizer_model_bytes, metadata)
    try:
        with open(src, "r+b") as f:
            head = f.read(8)
            if len(head) < 8 or head[4:8] != TFLITE_IDENTIFIER:
                raise ExportError(
                    f"{out}: the model data is not a .tflite flatbuffer (no TFL3 identifier)"
                )
            model_size = f.seek(0, os.SEEK_END)
            _append_sections(f, model_size, tokenizer_model_bytes, meta_bytes)
    except OSError as exc:
        raise ExportError(f"{out}: cannot append to the model {src} ({exc.strerror})") from exc
    os.replace(src, out)
    return out


def _metadata_bytes(out: Path, tokenizer_model_bytes: bytes, metadata: Mapping[str, Any]) -> bytes:
    """The metadata section (``format_version`` set), after checking it against the
    tokenizer bytes."""
    if not isinstance(tokenizer_model_bytes, (bytes, bytearray)) or not tokenizer_model_bytes:
        raise ExportError(f"{out}: the tokenizer model must be non-empty bytes")
    is_bpe = bytes(tokenizer_model_bytes[: len(BPE_MAGIC)]) == BPE_MAGIC
    if is_bpe != (metadata.get("tokenizer_type") == "bpe_bytelevel"):
        raise ExportError(
            f"{out}: metadata tokenizer_type {metadata.get('tokenizer_type')!r} does not match "
            f"the tokenizer bytes ({'byte-level BPE' if is_bpe else 'not byte-level BPE'})"
        )
    meta = dict(metadata)
    meta["format_version"] = FORMAT_VERSION
    try:
        meta_bytes = json.dumps(meta, ensure_ascii=False, sort_keys=True, indent=1).encode()
    except (TypeError, ValueError) as exc:
        raise ExportError(f"{out}: bundle metadata is not JSON-serializable ({exc})") from exc
    return meta_bytes


def _append_sections(
    f: BinaryIO, model_size: int, tokenizer_model_bytes: bytes, meta_bytes: bytes
) -> None:
    """Write everything after the model (at ``model_size``): padding, the tokenizer and
    metadata sections, the section table and the footer; then flush and fsync."""
    crc = 0
    pos = model_size

    def put(data: bytes) -> None:
        nonlocal crc, pos
        f.write(data)
        crc = zlib.crc32(data, crc)
        pos += len(data)

    meta = json.loads(meta_bytes)
    put(b"\0" * _pad(pos))
    entries = []
    tokenizer_kind = TOKENIZER_SECTIONS.get(
        str(meta.get("tokenizer_type")), SECTION_TOKENIZER_SENTENCEPIECE
    )
    for kind, data in (
        (tokenizer_kind, bytes(tokenizer_model_bytes)),
        (SECTION_METADATA_JSON, meta_bytes),
    ):
        entries.append(_ENTRY.pack(kind, 0, pos, len(data), 0))
        put(data)
        put(b"\0" * _pad(pos))
    table_offset = pos
    table = b"".join(entries)
    put(table)
    put(b"\0" * _pad(pos))
    file_size = pos + FOOTER_SIZE
    head = _FOOTER.pack(
        MAGIC,
        FORMAT_VERSION,
        FOOTER_SIZE,
        0,
        model_size,
        table_offset,
        len(table),
        0,
        0,
        file_size,
    )[:48]
    crc = zlib.crc32(head, crc)
    f.write(head + struct.pack("<IIQ", crc, 0, file_size))
    f.flush()
    os.fsync(f.fileno())


def _copy_model(tflite: str | os.PathLike[str] | BinaryIO, f: BinaryIO, out: Path) -> int:
    if isinstance(tflite, (str, os.PathLike)):
        src_path = Path(tflite)
        try:
            with open(src_path, "rb") as src:
                return _copy_model(src, f, out)
        except OSError as exc:
            raise ExportError(f"{out}: cannot read the model {src_path} ({exc.strerror})") from exc
    size = 0
    head = b""
    while chunk := tflite.read(_CHUNK):
        if len(head) < 8:
            head += chunk[: 8 - len(head)]
        f.write(chunk)
        size += len(chunk)
    if size < 8 or head[4:8] != TFLITE_IDENTIFIER:
        raise ExportError(f"{out}: the model data is not a .tflite flatbuffer (no TFL3 identifier)")
    return size


def read_bundle(path: str | os.PathLike[str]) -> Bundle:
    """Read and validate a bundle (footer, checksum, section ranges, metadata). Raises
    :class:`ModelLoadError` naming the file and the reason. The model bytes are not read."""
    p = Path(path)
    where = f"bundle '{p}'"

    def corrupt(reason: str) -> ModelLoadError:
        return ModelLoadError(f"{where} is corrupt: {reason}")

    try:
        f = open(p, "rb")  # noqa: SIM115 (closed below)
    except OSError as exc:
        raise ModelLoadError(f"cannot open {where}: {exc.strerror}") from exc
    with f:
        size = os.fstat(f.fileno()).st_size
        if size < FOOTER_SIZE:
            raise ModelLoadError(
                f"{where} is not a litegen bundle: the file has only {size} bytes (truncated?)"
            )
        footer_pos = size - FOOTER_SIZE
        f.seek(footer_pos)
        footer = f.read(FOOTER_SIZE)
        (
            magic,
            version,
            footer_size,
            model_offset,
            model_size,
            table_offset,
            table_size,
            checksum,
            _reserved,
            recorded_size,
        ) = _FOOTER.unpack(footer)
        if magic != MAGIC:
            raise ModelLoadError(
                f'{where} is not a litegen bundle: no "LITEGEN" footer magic at byte '
                f"{footer_pos} (not a bundle, truncated or corrupt)"
            )
        if version != FORMAT_VERSION:
            raise ModelLoadError(
                f"{where} has format version {version}; this litegen reads version {FORMAT_VERSION}"
            )
        if footer_size != FOOTER_SIZE:
            raise corrupt(f"footer size {footer_size} is not {FOOTER_SIZE}")
        if _reserved:
            raise corrupt("the reserved footer field is not zero")
        if recorded_size != size:
            raise corrupt(
                f"the footer records a file of {recorded_size} bytes, but the file has {size} "
                "(truncated or appended to)"
            )
        if model_offset != 0:
            raise corrupt("the model does not start at byte 0")
        if not 8 <= model_size <= footer_pos:
            raise corrupt(f"model size {model_size} is outside the file")
        if (
            table_size % SECTION_ENTRY_SIZE
            or table_size // SECTION_ENTRY_SIZE > 1024
            or not model_size <= table_offset <= footer_pos
            or table_size > footer_pos - table_offset
        ):
            raise corrupt(
                f"the section table ({table_size} bytes at byte {table_offset}) is outside "
                f"the sections area [{model_size}, {footer_pos})"
            )
        crc = 0
        f.seek(model_size)
        remaining = footer_pos - model_size
        while remaining:
            chunk = f.read(min(_CHUNK, remaining))
            if not chunk:
                raise corrupt("unexpected end of file")
            crc = zlib.crc32(chunk, crc)
            remaining -= len(chunk)
        crc = zlib.crc32(footer[:48], crc)
        if crc != checksum:
            raise corrupt(f"checksum mismatch (stored {checksum}, computed {crc})")

        f.seek(table_offset)
        table = f.read(table_size)
        sections: dict[int, bytes] = {}
        tokenizer_kind: int | None = None
        for i in range(table_size // SECTION_ENTRY_SIZE):
            kind, _flags, offset, length, _ = _ENTRY.unpack_from(table, i * SECTION_ENTRY_SIZE)
            name = f"section {i} (kind {kind})"
            if not model_size <= offset <= table_offset or length > table_offset - offset:
                raise corrupt(f"{name} ({length} bytes at byte {offset}) is out of range")
            if offset % ALIGNMENT:
                raise corrupt(f"{name} is not 64-byte aligned")
            if kind in TOKENIZER_SECTIONS.values():
                if tokenizer_kind is not None:
                    raise corrupt("two tokenizer sections")
                tokenizer_kind = kind
            elif kind != SECTION_METADATA_JSON:
                continue  # written by a newer litegen; skipped
            if kind in sections:
                raise corrupt(f"two sections of kind {kind}")
            f.seek(offset)
            sections[kind] = f.read(length)
    if tokenizer_kind is None:
        raise corrupt("no tokenizer section")
    if SECTION_METADATA_JSON not in sections:
        raise corrupt("no metadata section")
    if not sections[tokenizer_kind]:
        raise corrupt("the tokenizer section is empty")
    try:
        metadata = json.loads(sections[SECTION_METADATA_JSON].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise corrupt(f"metadata is not valid JSON ({exc})") from exc
    if not isinstance(metadata, dict):
        raise corrupt("metadata is not a JSON object")
    _check_metadata(metadata, version, corrupt, where)
    if TOKENIZER_SECTIONS[metadata["tokenizer_type"]] != tokenizer_kind:
        raise corrupt(
            f"metadata tokenizer_type {metadata['tokenizer_type']!r} does not match the "
            f"tokenizer section (kind {tokenizer_kind})"
        )
    return Bundle(
        path=p,
        file_size=size,
        format_version=version,
        model_offset=model_offset,
        model_size=model_size,
        tokenizer_model=sections[tokenizer_kind],
        metadata=metadata,
    )


def _check_metadata(meta: dict[str, Any], version: int, corrupt: Any, where: str) -> None:
    def is_int(v: Any) -> bool:
        return isinstance(v, int) and not isinstance(v, bool)

    if meta.get("format_version") != version:
        raise corrupt(
            f"metadata format_version {meta.get('format_version')!r} differs from the "
            f"footer's {version}"
        )
    ctx = meta.get("context_size")
    if not is_int(ctx) or ctx <= 0:
        raise corrupt("metadata 'context_size' is missing or not a positive integer")
    sigs = meta.get("signatures")
    if not isinstance(sigs, list) or not all(isinstance(s, str) for s in sigs):
        raise corrupt("metadata 'signatures' is missing or not a list of names")
    eos = meta.get("eos_token_ids", [])
    if eos is not None and (not isinstance(eos, list) or not all(is_int(i) for i in eos)):
        raise corrupt("metadata 'eos_token_ids' is not a list of integers")
    for key in ("bos_token_id", "pad_token_id", "vocab_size"):
        if meta.get(key) is not None and not is_int(meta[key]):
            raise corrupt(f"metadata {key!r} is not an integer")
    for key in ("chat_template", "source_checkpoint", "quant_recipe", "litegen_version"):
        if meta.get(key) is not None and not isinstance(meta[key], str):
            raise corrupt(f"metadata {key!r} is not a string")
    if meta.get("tokenizer_type") not in TOKENIZER_SECTIONS:
        raise ModelLoadError(
            f"{where} has tokenizer type {meta.get('tokenizer_type')!r}; this litegen reads "
            + " and ".join(repr(k) for k in TOKENIZER_SECTIONS)
        )
