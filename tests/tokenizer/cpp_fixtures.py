"""Fixtures for cpp/tests/tokenizer_test.cc and cpp/tests/bpe_tokenizer_test.cc:
``python -m tests.tokenizer.cpp_fixtures DIR`` writes a trained SentencePiece model, the
Python sentencepiece package's ids for sample texts and a .litegen bundle; and, for the
byte-level BPE tokenizer, serialized tokenizers of each style with the HF ``tokenizers``
ids / texts / pre-tokenizer splits for sample texts, NFC references from ``unicodedata``
and a bundle with a byte-level BPE section."""

from __future__ import annotations

import random
import sys
import unicodedata
from pathlib import Path

from litegen.bundle import write_bundle
from tests.fixtures.cpp_models import write_two_signature_fc
from tests.tokenizer import bpe_models
from tests.tokenizer.spm_models import SAMPLES, reference, train


def write(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    model = train("bpe")
    (out / "tokenizer.model").write_bytes(model)
    ref = reference(model)
    # One sample per line: hex(utf-8 text) <TAB> ids <TAB> hex(decoded text).
    lines = []
    for text in SAMPLES:
        ids = ref.encode(text)
        decoded = ref.decode(ids)
        lines.append(f"{text.encode().hex()}\t{' '.join(map(str, ids))}\t{decoded.encode().hex()}")
    (out / "tokenizer_expected.tsv").write_text("\n".join(lines) + "\n")
    tflite = out / "bundle_model.tflite"
    write_two_signature_fc(tflite)
    write_bundle(
        tflite,
        out / "model.litegen",
        model,
        {
            "litegen_version": "test",
            "source_checkpoint": "tests/tiny",
            "model_type": "llama",
            "context_size": 32,
            "quant_recipe": "none",
            "export_form": "fast",
            "signatures": ["prefill", "decode"],
            "tokenizer_type": "sentencepiece",
            "vocab_size": reference(model).get_piece_size(),
            "bos_token_id": 1,
            "eos_token_ids": [2, 7],
            "pad_token_id": None,
            "add_bos_token": True,
            "chat_template": '{{ messages }} \u00e9\n"q"',
        },
    )


def _hex_list(items: list[str]) -> str:
    return ",".join(item.encode().hex() for item in items)


def write_bpe(out: Path) -> None:
    """Per style: bpe_<style>.bin (serialized tokenizer), bpe_<style>_expected.tsv
    (hex text, tokenizers ids, hex decoded text), pretok_<style>.tsv (hex text, hex
    pieces); nfc.tsv (hex text, hex NFC); bpe_model.litegen."""
    from tokenizers import Regex, pre_tokenizers

    from litegen.tokenizer.bpe import (
        GPT2_PATTERN,
        LLAMA3_PATTERN,
        QWEN2_PATTERN,
        convert_tokenizer_json,
    )

    patterns = {"gpt2": GPT2_PATTERN, "llama3": LLAMA3_PATTERN, "qwen2": QWEN2_PATTERN}
    for style in bpe_models.STYLES:
        path = bpe_models.write_checkpoint_tokenizer(out / f"bpe_{style}", style)
        data = convert_tokenizer_json(path, bpe_models.tokenizer_config(style)).data
        (out / f"bpe_{style}.bin").write_bytes(data)
        ref = bpe_models.reference(style)
        texts = bpe_models.random_texts(150, seed=11, style=style)
        texts += ["", "  x  ", "a\r\n\r\n b", "I'LL 1234567 e\u0301"]
        lines = []
        for text in texts:
            ids = ref.encode(text, add_special_tokens=False).ids
            decoded = ref.decode(ids, skip_special_tokens=True)
            lines.append(
                f"{text.encode().hex()}\t{' '.join(map(str, ids))}\t{decoded.encode().hex()}"
            )
        (out / f"bpe_{style}_expected.tsv").write_text("\n".join(lines) + "\n")
        split = pre_tokenizers.Split(Regex(patterns[style]), behavior="isolated")
        rows = []
        for text in texts:
            if not text:
                continue
            pieces = [piece for piece, _ in split.pre_tokenize_str(text)]
            rows.append(f"{text.encode().hex()}\t{_hex_list(pieces)}")
        (out / f"pretok_{style}.tsv").write_text("\n".join(rows) + "\n")
    rng = random.Random(2)
    marks = ["\u0301", "\u0308", "\u0323", "\u0302", "\u0345", "\u0f73", "\u11a8", "\u1161"]
    bases = [
        "a",
        "e",
        "o",
        "A",
        "\u212b",
        "\u1100",
        "\uac00",
        "\u0344",
        "\u0958",
        "x",
        "\u03b1",
        " ",
    ]
    nfc = []
    for _ in range(400):
        text = "".join(rng.choice(bases + marks) for _ in range(rng.randint(1, 8)))
        nfc.append(f"{text.encode().hex()}\t{unicodedata.normalize('NFC', text).encode().hex()}")
    (out / "nfc.tsv").write_text("\n".join(nfc) + "\n")
    tflite = out / "bundle_model.tflite"
    write_bundle(
        tflite,
        out / "bpe_model.litegen",
        (out / "bpe_llama3.bin").read_bytes(),
        {
            "context_size": 32,
            "signatures": ["prefill", "decode"],
            "tokenizer_type": "bpe_bytelevel",
            "bos_token_id": 0,
            "eos_token_ids": [2],
            "add_bos_token": True,
        },
    )


if __name__ == "__main__":
    write(Path(sys.argv[1]))
    write_bpe(Path(sys.argv[1]))
