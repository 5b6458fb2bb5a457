"""The ``litegen`` command: one parser, one module per subcommand.

Each module in ``SUBCOMMANDS`` (``litegen.cli.<name>``) has ``register(subparsers)``,
which adds its parser and sets ``handler`` (``args -> exit status``). Registration only
builds argparse objects; a handler imports what it needs (torch, the runtime) when run,
so ``litegen --help`` stays fast.

Errors litegen raises on user input are printed as one line (``litegen: error: ...``,
exit status 1), without a traceback unless ``--debug``; anything else is a bug and keeps
its traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from litegen.errors import LitegenError

SUBCOMMANDS = ("convert", "run", "chat", "bench", "inspect", "serve")  # in --help order


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="litegen",
        description="Author LLMs in PyTorch, export them to LiteRT/TFLite, run them fast "
        "on device CPUs.",
    )
    parser.add_argument(
        "--debug", action="store_true", help="show Python tracebacks for litegen errors"
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in SUBCOMMANDS:
        importlib.import_module(f"litegen.cli.{name}").register(sub)
    for command in sub.choices.values():
        # Also accepted after the subcommand (``litegen run ... --debug``); SUPPRESS keeps
        # the top-level value when it is not given there.
        command.add_argument(
            "--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS
        )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args))
    except LitegenError as e:
        if args.debug:
            raise
        message = " ".join(str(e).split())  # one line, whatever the message holds
        print(f"litegen: error: {message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("litegen: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # stdout was closed early (``litegen inspect m.litegen | head``): not an error.
        # Point stdout at /dev/null so the interpreter's final flush does not fail again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
