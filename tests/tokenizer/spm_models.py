"""Small SentencePiece models trained in the tests (a second or two each), on generated
text mixing ASCII, accented Latin, Greek, CJK and emoji, so byte fallback and multi-byte
characters are exercised."""

from __future__ import annotations

import functools
import io
import random

WORDS = [
    "the",
    "quick",
    "brown",
    "fox",
    "jumps",
    "over",
    "lazy",
    "dog",
    "model",
    "token",
    "stream",
    "litegen",
    "runtime",
    "café",
    "naïve",
    "über",
    "façade",
    "résumé",
    "Straße",
    "λόγος",
    "αβγ",
    "東京",
    "日本語",
    "中文",
    "字",
    "한국어",
    "привет",
    "мир",
    "🙂",
    "🚀",
    "3.14",
    "2026",
    "(x)",
    "a-b",
    "don't",
    '"quoted"',
]

# Text the models never saw in training; rare characters go through byte fallback.
SAMPLES = [
    "Hello world",
    "  leading and  double  spaces ",
    "The quick brown fox jumps over the lazy dog.",
    "café naïve über façade résumé Straße",
    "λόγος and 東京 and 日本語 with 🙂🚀",
    "rare: ǅ ꙮ \U0001d518\U0001d52b\U00010348 🦀 ✓",
    "line one\nline two\ttab",
    "",
    "x",
    "数字 123 and ÆØÅ",
]


def corpus(n: int = 4000, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 14))) for _ in range(n)]


@functools.cache
def train(model_type: str = "bpe", vocab_size: int = 600, byte_fallback: bool = True) -> bytes:
    """A serialized SentencePiece model (like a checkpoint's tokenizer.model)."""
    import sentencepiece as spm

    out = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(corpus()),
        model_writer=out,
        model_type=model_type,
        vocab_size=vocab_size,
        byte_fallback=byte_fallback,
        character_coverage=0.995,
        bos_id=1,
        eos_id=2,
        unk_id=0,
        pad_id=-1,
        hard_vocab_limit=False,
        minloglevel=2,
    )
    return out.getvalue()


def reference(model: bytes):
    """The Python sentencepiece processor for ``model``."""
    import sentencepiece as spm

    return spm.SentencePieceProcessor(model_proto=model)
