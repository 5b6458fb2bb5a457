"""``litegen run MODEL [PROMPT | -f FILE | stdin]``: one prompt, the text streamed to
stdout, the stats to stderr."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

from litegen.cli.generating import (
    add_model_args,
    add_sampling_args,
    format_stats,
    load_generator,
    require_tokenizer,
    sampling_kwargs,
)
from litegen.errors import InputError


def register(sub: argparse._SubParsersAction) -> None:
    run = sub.add_parser(
        "run",
        help="generate text from one prompt (streamed to stdout, stats to stderr)",
        description="Generate text from one prompt with litegen's C++ engine. The prompt is "
        "PROMPT, the contents of -f FILE, or standard input. With a .litegen bundle that has "
        "a chat template, the prompt is sent as a user message through the template "
        "(--no-chat-template sends it as is). The text streams to stdout; a stats line goes "
        "to stderr.",
    )
    add_model_args(run)
    run.add_argument("prompt", nargs="?", metavar="PROMPT", help="the prompt ('-' = stdin)")
    run.add_argument("-f", "--file", metavar="FILE", help="read the prompt from FILE")
    template = run.add_mutually_exclusive_group()
    template.add_argument(
        "--chat",
        dest="chat",
        action="store_const",
        const=True,
        default=None,
        help="format the prompt with the chat template (an error if the model has none)",
    )
    template.add_argument(
        "--no-chat-template",
        dest="chat",
        action="store_const",
        const=False,
        help="send the prompt as is (default when the model has no chat template)",
    )
    run.add_argument("--system", metavar="TEXT", help="a system message (chat template only)")
    add_sampling_args(run)
    output = run.add_mutually_exclusive_group()
    output.add_argument(
        "--stats", action="store_true", help="print every statistic (key: value) to stderr"
    )
    output.add_argument("-q", "--quiet", action="store_true", help="print no stats")
    output.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object (text, token ids, stats) instead of streaming",
    )
    run.set_defaults(handler=_run)


def read_prompt(args: argparse.Namespace) -> str:
    if args.file is not None:
        if args.prompt is not None:
            raise InputError("give the prompt either as PROMPT or with -f FILE, not both")
        path = Path(args.file)
        try:
            return path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = getattr(exc, "strerror", None) or str(exc)
            raise InputError(f"cannot read the prompt file '{path}': {reason}") from exc
    if args.prompt is not None and args.prompt != "-":
        return args.prompt
    if args.prompt is None and sys.stdin.isatty():
        raise InputError("no prompt: give PROMPT, -f FILE, or pipe the prompt on stdin")
    return sys.stdin.read()


def _run(args: argparse.Namespace) -> int:
    prompt = read_prompt(args)
    if not prompt:
        raise InputError("the prompt is empty")
    gen = load_generator(args)
    require_tokenizer(gen)
    use_template = args.chat if args.chat is not None else bool(gen.chat_template)
    if args.system is not None and not use_template:
        raise InputError("--system needs the chat template (drop --no-chat-template)")
    kwargs = sampling_kwargs(args)
    session = gen.new_session()
    if use_template:
        messages = [{"role": "user", "content": prompt}]
        if args.system is not None:
            messages.insert(0, {"role": "system", "content": args.system})
        pieces = session.stream_chat(messages, **kwargs)
    else:
        pieces = session.stream(prompt, **kwargs)

    if args.json:
        for _ in pieces:
            pass
        result = session.last_result
        assert result is not None
        out = {"text": result.text, "token_ids": result.token_ids, "stats": asdict(result.stats)}
        print(json.dumps(out, ensure_ascii=False))
        return 0

    wrote_text = False
    for piece in pieces:
        sys.stdout.write(piece)
        sys.stdout.flush()
        wrote_text = True
    if wrote_text:
        sys.stdout.write("\n")
        sys.stdout.flush()
    result = session.last_result
    if result is not None and not args.quiet:
        print(format_stats(result.stats, verbose=args.stats), file=sys.stderr)
    return 0
