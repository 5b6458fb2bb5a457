"""What the commands that generate (``run``, ``chat``, ``serve``) share: the model and
engine options, the sampling flags mapped to :class:`litegen.Generator` arguments, and
the stats line."""

from __future__ import annotations

import argparse
import dataclasses
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from litegen.generate import GenerationStats, Generator


def add_model_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "model",
        metavar="MODEL",
        help="a .litegen bundle, or a fast-form .tflite (with --tokenizer for text)",
    )
    parser.add_argument(
        "--threads", type=int, default=2, metavar="N", help="CPU threads (default: 2)"
    )
    parser.add_argument(
        "--tokenizer",
        metavar="PATH",
        help="SentencePiece tokenizer.model (needed for a bare .tflite; overrides a bundle's)",
    )
    parser.add_argument(
        "--no-weight-cache",
        action="store_true",
        help="do not use (or write) the XNNPack weight cache",
    )


def add_sampling_args(parser: argparse.ArgumentParser, *, max_new_tokens: int = 256) -> None:
    group = parser.add_argument_group("sampling")
    group.add_argument(
        "-n",
        "--max-new-tokens",
        type=int,
        default=max_new_tokens,
        metavar="N",
        help=f"most tokens to generate (default: {max_new_tokens})",
    )
    group.add_argument(
        "--temperature",
        type=float,
        default=0.0,
        metavar="T",
        help="0 = greedy (default), higher = more random",
    )
    group.add_argument("--top-k", type=int, default=0, metavar="K", help="0 = off (default)")
    group.add_argument("--top-p", type=float, default=1.0, metavar="P", help="1 = off (default)")
    group.add_argument("--min-p", type=float, default=0.0, metavar="P", help="0 = off (default)")
    group.add_argument(
        "--repetition-penalty",
        type=float,
        default=1.0,
        metavar="R",
        help="1 = off (default)",
    )
    group.add_argument("--seed", type=int, default=0, help="sampling seed (default: 0)")
    group.add_argument(
        "--stop",
        action="append",
        default=[],
        metavar="TEXT",
        help="stop when the text contains TEXT (repeatable)",
    )
    group.add_argument(
        "--ignore-eos",
        action="store_true",
        help="do not stop at the model's end-of-sequence tokens",
    )


def sampling_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """Keyword arguments for ``Session.generate`` / ``stream`` / ``chat``; the engine
    validates them (an invalid value is an InputError naming the parameter)."""
    kwargs: dict[str, Any] = {
        "max_new_tokens": args.max_new_tokens,
        "temperature": args.temperature,
        "top_k": args.top_k,
        "top_p": args.top_p,
        "min_p": args.min_p,
        "repetition_penalty": args.repetition_penalty,
        "seed": args.seed,
        "stop": list(args.stop),
    }
    if args.ignore_eos:
        kwargs["stop_token_ids"] = ()
    return kwargs


def load_generator(args: argparse.Namespace) -> Generator:
    from litegen.generate import Generator

    return Generator(
        args.model,
        num_threads=args.threads,
        tokenizer=args.tokenizer,
        weight_cache=not args.no_weight_cache,
    )


def require_tokenizer(gen: Generator) -> None:
    """Text in and out needs a tokenizer: a bundle has one, a bare .tflite needs
    ``--tokenizer``."""
    from litegen.errors import InputError

    if gen.tokenizer is None:
        raise InputError(
            f"'{gen.path}' is a bare .tflite without a tokenizer: pass --tokenizer "
            "tokenizer.model (or use the .litegen bundle)"
        )


def format_stats(stats: GenerationStats, *, verbose: bool = False) -> str:
    """One line for people; ``verbose``: every field as ``key: value`` lines (the format
    of ``litegen-run``, easy to grep)."""
    if verbose:
        return "\n".join(
            f"{key}: {value:.6f}" if isinstance(value, float) else f"{key}: {value}"
            for key, value in dataclasses.asdict(stats).items()
        )
    reused = f", {stats.reused_tokens} reused" if stats.reused_tokens else ""
    return (
        f"[{stats.prompt_tokens} prompt tokens{reused}, {stats.generated_tokens} generated; "
        f"first token {stats.time_to_first_token_s * 1000:.0f} ms, "
        f"prefill {stats.prefill_tokens_per_s:.1f} tok/s, "
        f"decode {stats.decode_tokens_per_s:.1f} tok/s; stop: {stats.stop_reason}]"
    )
