"""Fixtures for cpp/tests/tokenizer_test.cc: ``python -m tests.tokenizer.cpp_fixtures DIR``
writes a trained SentencePiece model, the Python sentencepiece package's ids for sample
texts, and a .litegen bundle."""

from __future__ import annotations

import sys
from pathlib import Path

from litegen.bundle import write_bundle
from tests.fixtures.cpp_models import write_two_signature_fc
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


if __name__ == "__main__":
    write(Path(sys.argv[1]))
