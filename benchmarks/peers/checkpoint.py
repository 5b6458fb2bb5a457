"""The benchmark checkpoint: litegen's random-weight TinyLlama-shaped checkpoint
(``benchmarks/convert_benchmark.py``) plus the SentencePiece tokenizer that llama.cpp's
converter and LiteRT-LM bundles need.

The tokenizer is trained in seconds on generated text (like ``litegen.demo``, whose
trainer this cannot import: the peers venv has no litegen) and then
padded with user-defined pieces up to the model's vocab_size, so every id the random model
can emit decodes to a piece in every runtime."""

from __future__ import annotations

import io
import json
import random
from pathlib import Path

from benchmarks.convert_benchmark import TINYLLAMA, Shape, write_checkpoint

# --quick: small enough that the whole pipeline runs in minutes; vocab 512 leaves room for
# SentencePiece's 3 specials + 256 byte pieces; dims are multiples of 32 for Q4_0/int4.
QUICK = Shape("quick", 512, 128, 2, 4, 2, 256)
FULL = TINYLLAMA
TRAINED_PIECES = 400  # learned by BPE before padding (needs >= 3 + 256 byte pieces)

_WORDS = [
    "the",
    "little",
    "robot",
    "walked",
    "to",
    "river",
    "and",
    "a",
    "curious",
    "fox",
    "looked",
    "at",
    "my",
    "old",
    "friend",
    "quiet",
    "engineer",
    "every",
    "small",
    "model",
    "tokenizer",
    "bright",
    "student",
    "wrote",
    "about",
    "dreamed",
    "of",
    "green",
    "garden",
    "tall",
    "mountain",
    "empty",
    "station",
    "morning",
    "light",
    "wooden",
    "bridge",
    "busy",
    "market",
    "letter",
]


def corpus(lines: int = 2000, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(_WORDS) for _ in range(rng.randint(5, 14))) for _ in range(lines)]


def train_tokenizer(vocab_size: int) -> bytes:
    """A SentencePiece BPE model (byte fallback; <unk>=0, <s>=1, </s>=2) with exactly
    ``vocab_size`` pieces."""
    import sentencepiece as spm
    from sentencepiece import sentencepiece_model_pb2 as model_pb2

    out = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(corpus()),
        model_writer=out,
        model_type="bpe",
        vocab_size=min(TRAINED_PIECES, vocab_size),
        byte_fallback=True,
        character_coverage=1.0,
        unk_id=0,
        bos_id=1,
        eos_id=2,
        pad_id=-1,
        hard_vocab_limit=False,
        minloglevel=2,
    )
    proto = model_pb2.ModelProto()
    proto.ParseFromString(out.getvalue())
    for i in range(len(proto.pieces), vocab_size):
        piece = proto.pieces.add()
        piece.piece = f"<extra_{i}>"
        piece.score = 0.0
        piece.type = model_pb2.ModelProto.SentencePiece.Type.USER_DEFINED
    if len(proto.pieces) != vocab_size:
        raise ValueError(f"tokenizer has {len(proto.pieces)} pieces, wanted {vocab_size}")
    return proto.SerializeToString()


def make_checkpoint(shape: Shape, directory: Path) -> Path:
    """``directory/<shape.name>``: config.json + model.safetensors + tokenizer files
    (reused when complete)."""
    ckpt = write_checkpoint(shape, directory)
    tokenizer = ckpt / "tokenizer.model"
    if not tokenizer.is_file():
        (ckpt / "tokenizer_config.json").write_text(
            json.dumps(
                {
                    "add_bos_token": True,
                    "add_eos_token": False,
                    "bos_token": "<s>",
                    "eos_token": "</s>",
                    "unk_token": "<unk>",
                    "tokenizer_class": "LlamaTokenizer",
                },
                indent=2,
            )
        )
        tmp = tokenizer.with_suffix(".tmp")
        tmp.write_bytes(train_tokenizer(shape.vocab_size))
        tmp.replace(tokenizer)  # written last: its presence means complete
    return ckpt


def main(argv: list[str] | None = None) -> int:
    """``python -m benchmarks.peers.checkpoint OUT_DIR [--quick]``: make it, print its path.
    (A subprocess keeps torch out of the runner, whose RSS every child inherits at fork.)"""
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    print(make_checkpoint(QUICK if args.quick else FULL, args.out_dir))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
