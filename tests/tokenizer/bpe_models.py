"""Small byte-level BPE tokenizers built in the tests with the HF ``tokenizers`` library (a
second or so each): GPT-2 style (ByteLevel pre-tokenizer), Llama 3 style (Split with the
Llama 3 regex + ByteLevel, ignore_merges, BOS post-processor) and Qwen 2 style (NFC,
Split with the Qwen 2 regex + ByteLevel, special and non-special added tokens)."""

from __future__ import annotations

import functools
import json
import random
from pathlib import Path
from typing import Any

from litegen.tokenizer.bpe import LLAMA3_PATTERN, QWEN2_PATTERN
from tests.tokenizer.spm_models import WORDS, corpus

STYLES = ("gpt2", "llama3", "qwen2")

SPECIALS = {
    "gpt2": ["<|endoftext|>"],
    "llama3": ["<|begin_of_text|>", "<|end_of_text|>", "<|eot_id|>", "<|start_header_id|>"],
    "qwen2": ["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
}
# Non-special added tokens (Qwen 2.5 ships <tool_call> this way), one stripping spaces.
QWEN_EXTRA = ["<tool_call>", "</tool_call>"]
QWEN_STRIPPED = "<|strip|>"
# normalized=true added tokens: matched after the normalizer (NFC for Qwen, so the
# decomposed "cafe\u0301!" matches too); one with a space, which is outside the byte
# alphabet and so decodes as its own UTF-8.
NORMALIZED = {"gpt2": ["hello world"], "llama3": [], "qwen2": ["caf\u00e9!"]}

EXTRA_WORDS = [
    "I'm",
    "WE'LL",
    "they're",
    "it's",
    "1234567",
    "x=1;y=22",
    "  \n\n  ",
    "\r\n",
    "tab\there",
    "e\u0301",  # decomposed é: NFC composes it
    "\u212b",  # Angstrom sign: NFC maps it to Å
]


def training_text(seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    words = WORDS + EXTRA_WORDS
    lines = corpus(1500, seed)
    lines += [
        "".join(rng.choice([" ", "", "\n"]) + rng.choice(words) for _ in range(8))
        for _ in range(500)
    ]
    return lines


def _build(style: str) -> Any:
    from tokenizers import (
        AddedToken,
        Regex,
        Tokenizer,
        decoders,
        models,
        normalizers,
        processors,
        trainers,
    )
    from tokenizers import pre_tokenizers as pre

    byte_level = pre.ByteLevel(add_prefix_space=False, use_regex=style == "gpt2")
    tok = Tokenizer(models.BPE(ignore_merges=style == "llama3"))
    if style == "gpt2":
        tok.pre_tokenizer = byte_level
    else:
        regex = LLAMA3_PATTERN if style == "llama3" else QWEN2_PATTERN
        tok.pre_tokenizer = pre.Sequence(
            [pre.Split(Regex(regex), behavior="isolated", invert=False), byte_level]
        )
    if style == "qwen2":
        tok.normalizer = normalizers.NFC()
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=700,
        initial_alphabet=pre.ByteLevel.alphabet(),
        special_tokens=SPECIALS[style],
        show_progress=False,
    )
    tok.train_from_iterator(training_text(), trainer=trainer)
    if style == "llama3":
        tok.post_processor = processors.TemplateProcessing(
            single="<|begin_of_text|> $A",
            special_tokens=[("<|begin_of_text|>", tok.token_to_id("<|begin_of_text|>"))],
        )
    tok.add_tokens([AddedToken(t, special=False, normalized=True) for t in NORMALIZED[style]])
    if style == "qwen2":
        tok.add_tokens([AddedToken(t, special=False, normalized=False) for t in QWEN_EXTRA])
        tok.add_special_tokens(
            [AddedToken(QWEN_STRIPPED, lstrip=True, rstrip=True, normalized=False, special=True)]
        )
    return tok


@functools.cache
def tokenizer_json(style: str) -> str:
    """The tokenizer.json text of a freshly trained tokenizer of ``style``."""
    return _build(style).to_str()


def tokenizer_config(style: str) -> dict[str, Any]:
    """A tokenizer_config.json as the real checkpoints of ``style`` ship it."""
    if style == "llama3":
        return {"bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>"}
    if style == "qwen2":
        return {"bos_token": None, "eos_token": "<|im_end|>", "pad_token": "<|endoftext|>"}
    return {"bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>", "add_bos_token": False}


def write_checkpoint_tokenizer(root: Path, style: str) -> Path:
    """Writes tokenizer.json + tokenizer_config.json of ``style`` into ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "tokenizer.json").write_text(tokenizer_json(style), encoding="utf-8")
    (root / "tokenizer_config.json").write_text(json.dumps(tokenizer_config(style)))
    return root / "tokenizer.json"


def reference(style: str) -> Any:
    """The HF ``tokenizers`` tokenizer of ``style``."""
    from tokenizers import Tokenizer

    return Tokenizer.from_str(tokenizer_json(style))


def random_texts(n: int, seed: int, style: str) -> list[str]:
    """Random strings: words, digit runs, whitespace runs, contractions, special tokens
    inside text, random code points of every plane."""
    rng = random.Random(seed)
    specials = SPECIALS[style] + NORMALIZED[style]
    specials += [*QWEN_EXTRA, QWEN_STRIPPED, "cafe\u0301!"] if style == "qwen2" else []
    pieces = (
        WORDS
        + EXTRA_WORDS
        + specials
        + [
            " ",
            "  ",
            "\t",
            "\n",
            "\r",
            "\u00a0",
            "\u3000",
            "'s",
            "'S",
            "'ll",
            "'Re",
            "'\u017f",
            "0",
            "42",
            "9999",
            "٣",
            "Ⅻ",
            "!",
            "?!",
            "...",
            "🙂",
            "👩‍💻",
            "a\u0308",
            "\u1100\u1161",  # Hangul jamo NFC composes to 가
        ]
    )

    def random_char() -> str:
        while True:
            c = rng.choice(
                [
                    rng.randrange(0x20, 0x80),
                    rng.randrange(0x80, 0x3000),
                    rng.randrange(0x3000, 0x10000),
                    rng.randrange(0x10000, 0x30000),
                ]
            )
            if not 0xD800 <= c <= 0xDFFF:
                return chr(c)

    texts = []
    for _ in range(n):
        parts = []
        for _ in range(rng.randint(1, 12)):
            parts.append(random_char() if rng.random() < 0.25 else rng.choice(pieces))
            if rng.random() < 0.5:
                parts.append(rng.choice(["", " ", "  ", "\n"]))
        texts.append("".join(parts))
    return texts
