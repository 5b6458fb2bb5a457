"""Bundle-time equivalence check of the C++ byte-level BPE tokenizer against the HF
``tokenizers`` library on sample text: a bundle is only written when both give the same
ids for every sample and the same text for every sample's ids and for a spread of single
tokens. Any difference is a :class:`TokenizerError` naming the first one."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from litegen.errors import TokenizerError

SAMPLE_TEXTS = [
    "Hello world",
    "The quick brown fox jumps over the lazy dog.",
    "  leading, trailing and   runs of spaces   ",
    "tabs\tand\nnewlines\r\n\n\nand \n \n mixed",
    "I'm sure they're done; we'll see, it's 'quoted' and DON'T SHOUT'S",
    "digits 0 12 345 6789 1234567890 3.14159 1,000,000 ٣٤٥ Ⅻ",
    "café naïve über façade résumé Straße ÆØÅ",
    "e\u0301 a\u0308 \u212b \u1100\u1161 (combining marks and NFC-sensitive text)",
    "λόγος привет мир 東京 日本語 中文 한국어 हिन्दी العربية",
    "emoji 🙂🚀👩‍💻🇫🇷 and symbols ©®™✓ ∑∫√",
    "code: def f(x):\n    return x**2  # comment\n\tif a != b: print('ok')",
    "punctuation!!! ??? ... --- (((x))) [a] {b} <c> @#$%^&*",
    "\u00a0non-breaking\u3000ideographic\u2028line separator",
    "",
    " ",
    "\n",
]


def _samples(added: list[str], seed: int = 0) -> list[str]:
    """The fixed samples, the added tokens inside text, and random mixtures."""
    texts = list(SAMPLE_TEXTS)
    for token in added:
        texts += [token, f"a{token}b", f" {token} x ", f"{token}{token}\n{token}"]
    rng = random.Random(seed)
    pool = [s for s in SAMPLE_TEXTS if s] + added
    for _ in range(64):
        texts.append("".join(rng.choice(pool)[: rng.randint(1, 24)] for _ in range(4)))
    return texts


def check_equivalence(tokenizer_json: Path, data: bytes, *, source: str) -> None:
    """Raises :class:`TokenizerError` unless the serialized tokenizer ``data`` (our C++
    tokenizer) encodes and decodes like ``tokenizers`` loading ``tokenizer_json``."""
    try:
        from tokenizers import Tokenizer as HfTokenizer
    except ImportError as exc:  # pragma: no cover (installed with transformers)
        raise TokenizerError(
            f"{tokenizer_json}: checking the byte-level BPE tokenizer needs the HF "
            "'tokenizers' package (pip install tokenizers)"
        ) from exc
    from litegen.errors import InputError, ModelLoadError
    from litegen.tokenizer.tokenizer import Tokenizer

    try:
        ours = Tokenizer.from_bytes(data, source=source)
    except ModelLoadError as exc:
        raise TokenizerError(
            f"{tokenizer_json}: the converted tokenizer is invalid ({exc})"
        ) from exc
    try:
        ref: Any = HfTokenizer.from_file(str(tokenizer_json))
    except Exception as exc:  # tokenizers raises plain Exception subclasses
        raise TokenizerError(f"{tokenizer_json}: HF tokenizers cannot load it ({exc})") from exc

    def mismatch(what: str, ours_value: Any, ref_value: Any) -> TokenizerError:
        return TokenizerError(
            f"{tokenizer_json}: litegen's byte-level BPE tokenizer differs from HF tokenizers "
            f"on {what}: litegen {ours_value!r}, tokenizers {ref_value!r}; refusing to bundle it"
        )

    added = [t.content for t in ref.get_added_tokens_decoder().values()]
    for text in _samples(added):
        expected = ref.encode(text, add_special_tokens=False).ids
        try:
            got = ours.encode(text)
        except InputError as exc:
            raise mismatch(f"encoding {text!r}", str(exc), expected) from exc
        if got != expected:
            raise mismatch(f"encoding {text!r}", got[:32], expected[:32])
        decoded = ref.decode(expected, skip_special_tokens=True)
        if ours.decode(expected) != decoded:
            raise mismatch(f"decoding the ids of {text!r}", ours.decode(expected), decoded)
    # Single tokens spread over the whole vocabulary (every one for small vocabularies).
    step = max(1, ours.vocab_size // 4096)
    for token_id in range(0, ours.vocab_size, step):
        decoded = ref.decode([token_id], skip_special_tokens=True)
        if ours.decode([token_id]) != decoded:
            raise mismatch(f"decoding token {token_id}", ours.decode([token_id]), decoded)
