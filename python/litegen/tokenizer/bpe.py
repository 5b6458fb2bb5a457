"""Byte-level BPE ``tokenizer.json`` (Llama 3, Qwen 2/3, GPT-2 style) -> the serialized
form the C++ ``BpeTokenizer`` reads (layout: cpp/engine/bpe_tokenizer.h and
docs/bundle_format.md).

Only what the runtime implements faithfully is accepted: a BPE model without subword
prefixes/suffixes or dropout, no normalizer or NFC, the ByteLevel pre-tokenizer (GPT-2's
regex) or a Split with one of the known regexes followed by ByteLevel without regex, and a
ByteLevel decoder. Anything else is a :class:`TokenizerError` naming the unsupported part.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from litegen.errors import TokenizerError

MAGIC = b"LGBPE01\0"
KIND = "bpe_bytelevel"

GPT2_PATTERN = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"
LLAMA3_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|"
    r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
QWEN2_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}|"
    r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
# Values of cpp/engine/pretokenizer.h PreTokenizerPattern.
PATTERNS = {GPT2_PATTERN: 1, LLAMA3_PATTERN: 2, QWEN2_PATTERN: 3}
NORMALIZERS = {None: 0, "NFC": 1}

_KIND_UNUSED, _KIND_MODEL, _KIND_ADDED = 0, 1, 2
_SPECIAL, _NORMALIZED, _LSTRIP, _RSTRIP, _IN_MODEL = 1, 2, 4, 8, 16
_IGNORE_MERGES = 1
_HEADER = struct.Struct("<IIIIIiii")


def byte_alphabet() -> dict[int, str]:
    """GPT-2's byte -> character map (printable Latin-1 stands for itself)."""
    printable = [*range(ord("!"), ord("~") + 1), *range(0xA1, 0xAD), *range(0xAE, 0x100)]
    table = {b: chr(b) for b in printable}
    extra = 0
    for b in range(256):
        if b not in table:
            table[b] = chr(256 + extra)
            extra += 1
    return table


@dataclass(frozen=True)
class ByteLevelBpe:
    """A checked byte-level BPE tokenizer.json, ready to serialize."""

    data: bytes  # the serialized tokenizer (starts with MAGIC)
    vocab_size: int  # max id + 1
    bos_id: int | None
    eos_id: int | None
    pad_id: int | None
    add_bos: bool  # the post-processor prepends a start token
    pattern: str  # which split pattern: "gpt2" / "llama3" / "qwen2"


def _unsupported(path: Path, what: str) -> TokenizerError:
    return TokenizerError(f"{path}: {what} is not supported by litegen's byte-level BPE tokenizer")


def _pre_tokenizer_pattern(path: Path, node: Any) -> int:
    if not isinstance(node, dict):
        raise _unsupported(path, f"pre_tokenizer {node!r}")
    kind = node.get("type")
    if kind == "ByteLevel":
        if node.get("add_prefix_space"):
            raise _unsupported(path, "ByteLevel add_prefix_space=true")
        if node.get("use_regex", True) is not True:
            raise _unsupported(path, "a ByteLevel pre-tokenizer without any split regex")
        return PATTERNS[GPT2_PATTERN]
    if kind == "Sequence":
        steps = node.get("pretokenizers")
        if (
            isinstance(steps, list)
            and len(steps) == 2
            and isinstance(steps[0], dict)
            and isinstance(steps[1], dict)
            and steps[0].get("type") == "Split"
            and steps[1].get("type") == "ByteLevel"
        ):
            split, byte_level = steps
            pattern = split.get("pattern")
            regex = pattern.get("Regex") if isinstance(pattern, dict) else None
            if not isinstance(regex, str) or regex not in PATTERNS:
                raise TokenizerError(
                    f"{path}: the pre-tokenizer split pattern {pattern!r} is not one litegen "
                    "implements (known: the GPT-2, Llama 3 and Qwen 2 regexes)"
                )
            if split.get("behavior") != "Isolated" or split.get("invert"):
                raise _unsupported(
                    path, f"Split behavior {split.get('behavior')!r} invert={split.get('invert')}"
                )
            if byte_level.get("add_prefix_space"):
                raise _unsupported(path, "ByteLevel add_prefix_space=true")
            if byte_level.get("use_regex", True):
                raise _unsupported(path, "a second split (ByteLevel use_regex=true after Split)")
            return PATTERNS[regex]
    raise _unsupported(path, f"pre_tokenizer {json.dumps(node)[:200]}")


def _normalizer(path: Path, node: Any) -> int:
    if node is None:
        return 0
    kind = node.get("type") if isinstance(node, dict) else None
    if kind == "Sequence" and node.get("normalizers") == []:
        return 0
    if isinstance(kind, str) and kind in NORMALIZERS:
        return NORMALIZERS[kind]
    raise _unsupported(path, f"normalizer {json.dumps(node)[:200]}")


def _check_decoder(path: Path, node: Any) -> None:
    if not (isinstance(node, dict) and node.get("type") == "ByteLevel"):
        raise _unsupported(path, f"decoder {json.dumps(node)[:200]}")


def _merges(path: Path, model: dict[str, Any]) -> list[tuple[str, str]]:
    merges = model.get("merges") or []
    if not isinstance(merges, list):
        raise TokenizerError(f"{path}: the BPE merges are not a list")
    out = []
    for merge in merges:
        if isinstance(merge, str):
            parts = merge.split(" ")
        elif isinstance(merge, list):
            parts = merge
        else:
            parts = []
        if len(parts) != 2 or not all(isinstance(p, str) for p in parts):
            raise TokenizerError(f"{path}: malformed merge {merge!r}")
        out.append((parts[0], parts[1]))
    return out


def _token_id(value: Any, ids: dict[str, int]) -> int | None:
    """The id of a tokenizer_config ``bos_token`` style entry (str or {"content": ...})."""
    if isinstance(value, dict):
        value = value.get("content")
    return ids.get(value) if isinstance(value, str) else None


def _start_token(post: Any, ids: dict[str, int]) -> int | None:
    """The special token a TemplateProcessing post-processor puts first, if any."""
    if not isinstance(post, dict):
        return None
    if post.get("type") == "Sequence":
        steps = post.get("processors")
        for step in steps if isinstance(steps, list) else []:
            found = _start_token(step, ids)
            if found is not None:
                return found
        return None
    if post.get("type") != "TemplateProcessing":
        return None
    single = post.get("single")
    first = single[0] if isinstance(single, list) and single and isinstance(single[0], dict) else {}
    special = first.get("SpecialToken")
    if isinstance(special, dict) and isinstance(special.get("id"), str):
        return ids.get(special["id"])
    return None


def convert_tokenizer_json(path: Path, tokenizer_config: dict[str, Any]) -> ByteLevelBpe:
    """Checks ``path`` (a tokenizer.json) and serializes it for the C++ runtime.
    ``tokenizer_config`` (tokenizer_config.json, may be empty) names BOS / EOS / PAD."""
    try:
        spec = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise TokenizerError(f"{path}: cannot read the HF tokenizer ({exc})") from exc
    if not isinstance(spec, dict) or not isinstance(spec.get("model"), dict):
        raise TokenizerError(f"{path}: not a tokenizer.json object with a model")
    model = spec["model"]
    if model.get("type") != "BPE":
        raise _unsupported(path, f"model type {model.get('type')!r}")
    for key in ("continuing_subword_prefix", "end_of_word_suffix", "dropout"):
        if model.get(key):
            raise _unsupported(path, f"BPE {key}={model[key]!r}")
    pattern = _pre_tokenizer_pattern(path, spec.get("pre_tokenizer"))
    normalizer = _normalizer(path, spec.get("normalizer"))
    _check_decoder(path, spec.get("decoder"))

    vocab = model.get("vocab")
    if not isinstance(vocab, dict) or not vocab:
        raise TokenizerError(f"{path}: the BPE model has no vocabulary")
    alphabet = byte_alphabet()
    missing = [b for b, ch in alphabet.items() if ch not in vocab]
    if missing and (model.get("unk_token") or model.get("byte_fallback")):
        # With all 256 bytes in the vocabulary neither path is ever taken; without them
        # the runtime would have to emulate unk / byte fallback.
        raise _unsupported(path, f"a vocabulary missing bytes {missing[:8]} with unk/byte fallback")

    entries: dict[int, tuple[int, int, str]] = {}  # id -> (kind, flags, text)
    for text, token_id in vocab.items():
        if not isinstance(token_id, int) or token_id < 0 or token_id in entries:
            raise TokenizerError(f"{path}: bad or repeated id {token_id!r} for token {text!r}")
        entries[token_id] = (_KIND_MODEL, 0, text)
    added_tokens = spec.get("added_tokens") or []
    if not isinstance(added_tokens, list):
        raise TokenizerError(f"{path}: added_tokens is not a list")
    for added in added_tokens:
        if (
            not isinstance(added, dict)
            or not isinstance(added.get("id"), int)
            or added["id"] < 0
            or not isinstance(added.get("content"), str)
        ):
            raise TokenizerError(f"{path}: malformed added token {added!r}")
        token_id, content = added["id"], added["content"]
        if added.get("single_word"):
            raise _unsupported(path, f"added token {content!r} with single_word=true")
        if not content:
            raise TokenizerError(f"{path}: added token {token_id} is empty")
        flags = (
            (_SPECIAL if added.get("special") else 0)
            | (_NORMALIZED if added.get("normalized") else 0)
            | (_LSTRIP if added.get("lstrip") else 0)
            | (_RSTRIP if added.get("rstrip") else 0)
        )
        if token_id in entries:
            kind, _, text = entries[token_id]
            if kind != _KIND_MODEL or text != content:
                raise TokenizerError(
                    f"{path}: added token {content!r} reuses id {token_id} of {text!r}"
                )
            flags |= _IN_MODEL
        entries[token_id] = (_KIND_ADDED, flags, content)
    vocab_size = max(entries) + 1
    if vocab_size > 1 << 24:
        raise TokenizerError(f"{path}: token ids up to {vocab_size - 1} are implausibly large")

    ids_of = {text: i for i, (kind, _, text) in entries.items() if kind == _KIND_MODEL}
    ids_of.update({text: i for i, (kind, f, text) in entries.items() if f & _IN_MODEL})
    merge_ids = []
    for rank, (left, right) in enumerate(_merges(path, model)):
        try:
            merge_ids.append((ids_of[left], ids_of[right], ids_of[left + right]))
        except KeyError as exc:
            raise TokenizerError(
                f"{path}: merge {rank} ({left!r}, {right!r}) uses a token missing from the "
                f"vocabulary ({exc})"
            ) from exc

    all_ids = {text: i for i, (_, _, text) in entries.items()}
    bos = _token_id(tokenizer_config.get("bos_token"), all_ids)
    eos = _token_id(tokenizer_config.get("eos_token"), all_ids)
    pad = _token_id(tokenizer_config.get("pad_token"), all_ids)
    start = _start_token(spec.get("post_processor"), all_ids)
    if bos is None:
        bos = start

    out = bytearray(MAGIC)
    out += _HEADER.pack(
        pattern,
        normalizer,
        _IGNORE_MERGES if model.get("ignore_merges") else 0,
        vocab_size,
        len(merge_ids),
        -1 if bos is None else bos,
        -1 if eos is None else eos,
        -1 if pad is None else pad,
    )
    for token_id in range(vocab_size):
        kind, flags, text = entries.get(token_id, (_KIND_UNUSED, 0, ""))
        raw = text.encode("utf-8")
        out += struct.pack("<BBI", kind, flags, len(raw)) + raw
    for merge in merge_ids:
        out += struct.pack("<III", *merge)
    names = {1: "gpt2", 2: "llama3", 3: "qwen2"}
    return ByteLevelBpe(bytes(out), vocab_size, bos, eos, pad, start is not None, names[pattern])
