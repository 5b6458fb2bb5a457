"""Bundle-time handling of a HuggingFace checkpoint's tokenizer files.

The runtime tokenizer (C++) is SentencePiece or byte-level BPE. What a checkpoint ships
decides the path:

* ``tokenizer.model`` (Llama 2 / TinyLlama, Gemma, Phi-3, Mistral, ...): bundled after
  checking that SentencePiece loads it and that its vocabulary fits the model's. Tokens the
  checkpoint adds beyond the SentencePiece vocabulary (Phi-3's ``<|end|>``,
  ``<|assistant|>``, ... from tokenizer.json / added_tokens.json / tokenizer_config.json)
  are appended as user-defined pieces with their HF ids, so the runtime encodes them
  atomically (as HF does) and can decode them.
* only ``tokenizer.json`` with byte-level BPE (Llama 3, Qwen 2/3, GPT-2 style):
  serialized for the C++ byte-level BPE tokenizer (:mod:`litegen.tokenizer.bpe`; BOS / EOS
  / PAD from tokenizer_config.json) and bundled only after it encodes and decodes sample
  text exactly as the HF ``tokenizers`` library does (:mod:`litegen.tokenizer.bpe_check`).
  Other tokenizer.json files are a :class:`TokenizerError` naming what is unsupported.
  Nothing is converted silently.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from litegen.errors import TokenizerError

SENTENCEPIECE_FILE = "tokenizer.model"
HF_TOKENIZER_FILE = "tokenizer.json"


@dataclass(frozen=True)
class CheckpointTokenizer:
    """A checkpoint's tokenizer, ready to bundle."""

    model_bytes: bytes  # a serialized SentencePiece ModelProto or byte-level BPE tokenizer
    source: Path  # the file it came from
    kind: str  # "sentencepiece" or "bpe_bytelevel" (the bundle's tokenizer_type)
    vocab_size: int
    bos_id: int | None
    eos_id: int | None
    pad_id: int | None
    # Whether the checkpoint's tokenizer itself prepends BOS (the tokenizer.json
    # post-processor); None: unknown (SentencePiece files do not say).
    add_bos: bool | None = None


def _sentencepiece_info(
    data: bytes, source: Path
) -> tuple[int, int | None, int | None, int | None]:
    """Loads ``data`` with the C++ tokenizer (the one the runtime uses)."""
    from litegen.errors import ModelLoadError
    from litegen.tokenizer.tokenizer import Tokenizer

    try:
        tok = Tokenizer.from_bytes(data, source=str(source))
    except ModelLoadError as exc:
        raise TokenizerError(f"{source}: not a valid SentencePiece model ({exc})") from exc
    return tok.vocab_size, tok.bos_id, tok.eos_id, tok.pad_id


def _added_tokens(root: Path) -> dict[int, str]:
    """HF added tokens (id -> content) from tokenizer.json, added_tokens.json and
    tokenizer_config.json's added_tokens_decoder."""
    found: dict[int, str] = {}

    def load(name: str) -> object:
        try:
            return json.loads((root / name).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            return None

    spec = load(HF_TOKENIZER_FILE)
    if isinstance(spec, dict) and isinstance(spec.get("added_tokens"), list):
        for entry in spec["added_tokens"]:
            if isinstance(entry, dict) and isinstance(entry.get("id"), int):
                found.setdefault(entry["id"], str(entry.get("content", "")))
    added = load("added_tokens.json")
    if isinstance(added, dict):
        for content, token_id in added.items():
            if isinstance(token_id, int):
                found.setdefault(token_id, str(content))
    config = load("tokenizer_config.json")
    decoder = config.get("added_tokens_decoder") if isinstance(config, dict) else None
    if isinstance(decoder, dict):
        for key, entry in decoder.items():
            if str(key).isdigit() and isinstance(entry, dict):
                found.setdefault(int(key), str(entry.get("content", "")))
    return found


def _encode_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _user_defined_piece(text: str) -> bytes:
    """A serialized ModelProto.pieces entry: piece (1), score 0.0 (2), USER_DEFINED (3)."""
    raw = text.encode("utf-8")
    piece = b"\x0a" + _encode_varint(len(raw)) + raw + b"\x15\x00\x00\x00\x00" + b"\x18\x04"
    return b"\x0a" + _encode_varint(len(piece)) + piece


def _with_added_tokens(data: bytes, vocab_size: int, added: dict[int, str], source: Path) -> bytes:
    """``data`` with the added tokens whose ids follow the SentencePiece vocabulary appended
    as user-defined pieces (protobuf: appending a repeated field's entries to a serialized
    message appends them to the list, so ids stay exactly the HF ids)."""
    extra = sorted(i for i in added if i >= vocab_size)
    if not extra:
        return data
    if extra != list(range(vocab_size, vocab_size + len(extra))):
        raise TokenizerError(
            f"{source}: the added tokens {extra[:8]}... do not directly follow the "
            f"SentencePiece vocabulary of {vocab_size} pieces; litegen cannot give them "
            "their ids"
        )
    return data + b"".join(_user_defined_piece(added[i]) for i in extra)


def _describe_hf_tokenizer(path: Path) -> tuple[str, bool]:
    """(model type, byte-level?) of a tokenizer.json, read as plain JSON."""
    try:
        spec = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise TokenizerError(f"{path}: cannot read the HF tokenizer ({exc})") from exc
    if not isinstance(spec, dict):
        raise TokenizerError(f"{path}: not a tokenizer.json object")
    model = spec.get("model") or {}
    model_type = str(model.get("type") or "unknown") if isinstance(model, dict) else "unknown"

    def has_byte_level(node: object) -> bool:
        if isinstance(node, dict):
            if node.get("type") == "ByteLevel":
                return True
            return any(has_byte_level(v) for v in node.values())
        if isinstance(node, list):
            return any(has_byte_level(v) for v in node)
        return False

    byte_level = has_byte_level(spec.get("pre_tokenizer")) or has_byte_level(spec.get("decoder"))
    return model_type, byte_level


def _byte_level_bpe(root: Path, hf_path: Path, model_vocab_size: int | None) -> CheckpointTokenizer:
    from litegen.tokenizer.bpe import KIND, convert_tokenizer_json
    from litegen.tokenizer.bpe_check import check_equivalence

    config_path = root / "tokenizer_config.json"
    config: object = {}
    if config_path.is_file():
        try:
            config = json.loads(config_path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise TokenizerError(f"{config_path}: cannot read ({exc})") from exc
    converted = convert_tokenizer_json(hf_path, config if isinstance(config, dict) else {})
    if model_vocab_size is not None and converted.vocab_size > model_vocab_size:
        raise TokenizerError(
            f"{hf_path}: the tokenizer has ids up to {converted.vocab_size - 1} but the "
            f"model's vocab_size is {model_vocab_size}; this tokenizer does not belong to "
            f"the checkpoint in {root}"
        )
    check_equivalence(hf_path, converted.data, source=str(hf_path))
    return CheckpointTokenizer(
        converted.data,
        hf_path,
        KIND,
        converted.vocab_size,
        converted.bos_id,
        converted.eos_id,
        converted.pad_id,
        add_bos=converted.add_bos,
    )


def load_checkpoint_tokenizer(
    hf_dir: str | os.PathLike[str], *, model_vocab_size: int | None = None
) -> CheckpointTokenizer:
    """The tokenizer of checkpoint directory ``hf_dir``, as bytes to bundle.

    Raises :class:`TokenizerError` naming the directory when no tokenizer is found, the
    model file is invalid, its vocabulary is larger than the model's
    (``model_vocab_size``), or only an unsupported ``tokenizer.json`` is present (or one
    the runtime would tokenize differently from HF ``tokenizers``).
    """
    root = Path(hf_dir)
    if not root.is_dir():
        raise TokenizerError(f"{root}: checkpoint directory not found")
    spm_path = root / SENTENCEPIECE_FILE
    if spm_path.is_file():
        try:
            data = spm_path.read_bytes()
        except OSError as exc:
            raise TokenizerError(f"{spm_path}: cannot read ({exc.strerror})") from exc
        vocab_size, _, _, _ = _sentencepiece_info(data, spm_path)
        data = _with_added_tokens(data, vocab_size, _added_tokens(root), spm_path)
        vocab_size, bos, eos, pad = _sentencepiece_info(data, spm_path)
        if model_vocab_size is not None and vocab_size > model_vocab_size:
            raise TokenizerError(
                f"{spm_path}: the tokenizer has {vocab_size} pieces but the model's "
                f"vocab_size is {model_vocab_size}; this tokenizer does not belong to "
                f"the checkpoint in {root}"
            )
        return CheckpointTokenizer(data, spm_path, "sentencepiece", vocab_size, bos, eos, pad)

    hf_path = root / HF_TOKENIZER_FILE
    if hf_path.is_file():
        model_type, byte_level = _describe_hf_tokenizer(hf_path)
        if model_type == "BPE" and byte_level:
            return _byte_level_bpe(root, hf_path, model_vocab_size)
        raise TokenizerError(
            f"{hf_path}: a tokenizer.json of type {model_type} without a "
            f"{SENTENCEPIECE_FILE} is not yet supported; add the SentencePiece model "
            f"({SENTENCEPIECE_FILE}) the tokenizer was made from to {root}"
        )
    raise TokenizerError(
        f"{root}: no tokenizer found (expected {SENTENCEPIECE_FILE} or "
        f"{HF_TOKENIZER_FILE}); a .litegen bundle needs the checkpoint's tokenizer"
    )
