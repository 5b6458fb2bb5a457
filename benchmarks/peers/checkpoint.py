"""The benchmark checkpoint: litegen's random-weight TinyLlama-shaped checkpoint
(``benchmarks/convert_benchmark.py``) plus the SentencePiece tokenizer that llama.cpp's
converter and LiteRT-LM bundles need.

The tokenizer is ``convert_benchmark.write_tokenizer``'s (the peers venv has no litegen, so
not ``litegen.demo``'s trainer): trained in seconds on generated text and padded with
user-defined pieces up to the model's vocab_size, so every id the random model can emit
decodes to a piece in every runtime."""

from __future__ import annotations

from pathlib import Path

from benchmarks.convert_benchmark import TINYLLAMA, Shape, write_checkpoint, write_tokenizer

# --quick: small enough that the whole pipeline runs in minutes; vocab 512 leaves room for
# SentencePiece's 3 specials + 256 byte pieces; dims are multiples of 32 for Q4_0/int4.
QUICK = Shape("quick", 512, 128, 2, 4, 2, 256)
FULL = TINYLLAMA


def make_checkpoint(shape: Shape, directory: Path) -> Path:
    """``directory/<shape.name>``: config.json + model.safetensors + tokenizer files
    (reused when complete)."""
    ckpt = write_checkpoint(shape, directory)
    write_tokenizer(ckpt, shape.vocab_size)
    return ckpt


def main(argv: list[str] | None = None) -> int:
    """``python -m benchmarks.peers.checkpoint OUT_DIR [--quick]``: make it, print its path.
    (run.py calls it in a subprocess: torch stays out of the runner, whose RSS every child
    inherits at fork.)"""
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    print(make_checkpoint(QUICK if args.quick else FULL, args.out_dir))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
