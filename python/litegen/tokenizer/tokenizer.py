"""`litegen.Tokenizer`: the runtime's C++ tokenizer (SentencePiece or byte-level BPE),
typed for Python.

The same code the C++ engine and ``litegen-run`` use (``cpp/engine/tokenizer.h``), so text
encoded here gives exactly the ids the engine sees. Needs only the native extension (no
torch, no ``sentencepiece`` / ``tokenizers`` Python package).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from litegen.errors import InputError, ModelLoadError
from litegen.runtime._native import load_extension


class StreamDecoder:
    """Incremental detokenizer: :meth:`push` returns the text each new token adds, never
    splitting a multi-byte UTF-8 character (and with SentencePiece's leading-space handling);
    the pushed pieces plus :meth:`flush` concatenate to ``Tokenizer.decode(all ids)``."""

    def __init__(self, native: Any) -> None:
        self._native = native

    def push(self, token_id: int) -> str:
        """The text ``token_id`` adds (may be empty while a character is incomplete)."""
        return self._native.push(_check_id(token_id))

    def flush(self) -> str:
        """Text still held back (an incomplete character becomes U+FFFD); then resets."""
        return self._native.flush()

    def reset(self) -> None:
        self._native.reset()

    @property
    def ids(self) -> list[int]:
        """Token ids pushed since the last reset / flush."""
        return list(self._native.ids)


def _check_id(token_id: Any) -> int:
    if isinstance(token_id, bool) or not isinstance(token_id, int):
        try:
            import numpy as np

            if isinstance(token_id, np.integer):
                return int(token_id)
        except ImportError:  # pragma: no cover
            pass
        raise InputError(f"token ids must be integers, got {token_id!r}")
    if not -(2**31) <= token_id < 2**31:
        raise InputError(f"token id {token_id} is outside the vocabulary")
    return token_id


class Tokenizer:
    """The runtime tokenizer (C++): SentencePiece, or byte-level BPE (converted from a
    checkpoint's tokenizer.json; added tokens such as ``<|eot_id|>`` encode atomically, as in
    HF ``tokenizers``). Build with :meth:`from_file` (a ``.model`` file), :meth:`from_bytes`
    or :meth:`from_bundle` (a ``.litegen`` file); the bytes say which kind it is.

    Raises :class:`ModelLoadError` for missing or invalid model data and
    :class:`InputError` for ids outside the vocabulary.
    """

    def __init__(self, native: Any) -> None:
        self._native = native

    @classmethod
    def from_bytes(cls, data: bytes, *, source: str = "<memory>") -> Tokenizer:
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise ModelLoadError(f"tokenizer model '{source}': expected bytes, got {type(data)}")
        return cls(load_extension().Tokenizer.from_bytes(bytes(data), source))

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> Tokenizer:
        return cls(load_extension().Tokenizer.from_file(str(Path(path))))

    @classmethod
    def from_bundle(cls, path: str | os.PathLike[str]) -> Tokenizer:
        from litegen.bundle import read_bundle

        bundle = read_bundle(path)
        return cls.from_bytes(bundle.tokenizer_model, source=f"bundle '{bundle.path}'")

    def encode(self, text: str, *, add_bos: bool = False, add_eos: bool = False) -> list[int]:
        """Token ids of ``text`` (no BOS / EOS unless asked)."""
        if not isinstance(text, str):
            raise InputError(f"encode() takes a str, got {type(text).__name__}")
        return list(self._native.encode(text, add_bos, add_eos))

    def decode(self, ids: Iterable[int]) -> str:
        """Text of ``ids``; control tokens (BOS/EOS) decode to nothing."""
        return self._native.decode([_check_id(i) for i in ids])

    def stream_decoder(self) -> StreamDecoder:
        return StreamDecoder(self._native.stream_decoder())

    def decode_stream(self, ids: Iterable[int]) -> Iterator[str]:
        """Yields the non-empty text pieces of ``ids`` as :class:`StreamDecoder` emits them."""
        decoder = self.stream_decoder()
        for token_id in ids:
            if piece := decoder.push(token_id):
                yield piece
        if tail := decoder.flush():
            yield tail

    def id_to_piece(self, token_id: int) -> str:
        return self._native.id_to_piece(_check_id(token_id))

    def piece_to_id(self, piece: str) -> int | None:
        """The id of exactly ``piece``, or None when the vocabulary lacks it."""
        token_id = self._native.piece_to_id(piece)
        return None if token_id < 0 else token_id

    def is_control(self, token_id: int) -> bool:
        return bool(self._native.is_control(_check_id(token_id)))

    @property
    def kind(self) -> str:
        """``"sentencepiece"`` or ``"bpe_bytelevel"``."""
        return str(self._native.kind)

    @property
    def vocab_size(self) -> int:
        return int(self._native.vocab_size)

    def __len__(self) -> int:
        return self.vocab_size

    @staticmethod
    def _optional(value: int) -> int | None:
        return None if value < 0 else int(value)

    @property
    def bos_id(self) -> int | None:
        return self._optional(self._native.bos_id)

    @property
    def eos_id(self) -> int | None:
        return self._optional(self._native.eos_id)

    @property
    def unk_id(self) -> int | None:
        return self._optional(self._native.unk_id)

    @property
    def pad_id(self) -> int | None:
        return self._optional(self._native.pad_id)

    def __repr__(self) -> str:
        return f"Tokenizer('{self._native.source}', {self.kind}, vocab_size={self.vocab_size})"
