"""``litegen chat MODEL``: an interactive conversation in the terminal.

One engine session holds the conversation, so each turn prefills only the new message
(the chat template renders the whole conversation; its shared prefix is reused). Ctrl-C
during an answer stops that answer (the session and the conversation so far are kept);
Ctrl-D or ``/exit`` quits.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading
from collections.abc import Iterator
from typing import Any

from litegen.cli.generating import (
    add_model_args,
    add_sampling_args,
    format_stats,
    load_generator,
    require_tokenizer,
    sampling_kwargs,
)
from litegen.errors import ChatTemplateError, InputError

PROMPT = ">>> "
HELP = (
    "/reset starts over, /set NAME VALUE changes a sampling option (e.g. /set temperature "
    "0.7), /stats shows the last answer's stats, /exit or Ctrl-D quits; Ctrl-C stops an answer"
)


def register(sub: argparse._SubParsersAction) -> None:
    chat = sub.add_parser(
        "chat",
        help="chat with a model in the terminal (streaming, multi-turn)",
        description="Chat with a .litegen bundle in the terminal, using its chat template. "
        "Answers stream as they are generated; each turn reuses the conversation's cached "
        "prefix. " + HELP + ".",
    )
    add_model_args(chat)
    chat.add_argument("--system", metavar="TEXT", help="a system message to start with")
    add_sampling_args(chat, max_new_tokens=512)
    chat.add_argument(
        "--stats", action="store_true", help="print a stats line to stderr after each answer"
    )
    chat.set_defaults(handler=_chat)


@contextlib.contextmanager
def _ctrl_c_cancels(session: Any, interrupted: threading.Event) -> Iterator[None]:
    """While an answer streams, SIGINT cancels the generation instead of raising
    KeyboardInterrupt (which would abandon the stream half-read)."""

    def on_sigint(signum: int, frame: Any) -> None:
        interrupted.set()
        session.cancel()

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


class ChatLoop:
    def __init__(self, args: argparse.Namespace) -> None:
        self.generator = load_generator(args)
        require_tokenizer(self.generator)
        if not self.generator.chat_template:
            raise ChatTemplateError(
                f"'{self.generator.path}' has no chat template, so it cannot chat; use "
                "'litegen run' for plain completion"
            )
        self.session = self.generator.new_session()
        self.system = args.system
        self.kwargs = sampling_kwargs(args)
        self.show_stats = args.stats
        self.messages: list[dict[str, str]] = []
        self.reset()

    def reset(self) -> None:
        self.messages = [] if self.system is None else [{"role": "system", "content": self.system}]
        self.session.reset()

    def answer(self, text: str) -> None:
        """Streams the reply to ``text`` to stdout. A reply stopped by Ctrl-C stays in the
        conversation as far as it was shown."""
        self.messages.append({"role": "user", "content": text})
        interrupted = threading.Event()
        shown: list[str] = []
        # Ctrl-C is taken over before the request starts, so that no moment of the turn
        # leaves a KeyboardInterrupt to end the whole chat.
        with _ctrl_c_cancels(self.session, interrupted):
            try:
                pieces = self.session.stream_chat(self.messages, **self.kwargs)
            except InputError as exc:  # e.g. the conversation no longer fits the context
                self.messages.pop()
                message = " ".join(str(exc).split())
                print(f"litegen: error: {message}", file=sys.stderr)
                if "exceeds the context" in message:
                    print("[the conversation is too long: /reset starts a new one]")
                return
            try:
                for piece in pieces:
                    if interrupted.is_set():
                        break
                    shown.append(piece)
                    sys.stdout.write(piece)
                    sys.stdout.flush()
            finally:
                pieces.close()  # joins the engine thread (cancelled if still running)
        self.messages.append({"role": "assistant", "content": "".join(shown)})
        print(flush=True)
        if interrupted.is_set():
            print("[stopped]", flush=True)
            return
        result = self.session.last_result
        if result is None:
            return
        if result.stats.stop_reason == "context_full":
            print("[the context is full: /reset to start over]", flush=True)
        if self.show_stats:
            print(format_stats(result.stats), file=sys.stderr, flush=True)

    def command(self, line: str) -> bool:
        """Handles a /command; False to quit."""
        name = line.split()[0].lower()
        if name in ("/exit", "/quit", "/bye"):
            return False
        if name == "/reset":
            self.reset()
            print("[new conversation]")
        elif name == "/set":
            self.set_option(line.split()[1:])
        elif name == "/stats":
            result = self.session.last_result
            print(format_stats(result.stats) if result else "[no answer yet]")
        else:
            print(f"[unknown command {name}: {HELP}]")
        return True

    def set_option(self, words: list[str]) -> None:
        """``/set NAME VALUE``: changes a sampling option for the next answers."""
        settable = {k: type(v) for k, v in self.kwargs.items() if isinstance(v, (int, float))}
        if len(words) != 2 or words[0].replace("-", "_") not in settable:
            print(f"[usage: /set NAME VALUE, NAME one of {', '.join(settable)}]")
            return
        name = words[0].replace("-", "_")
        kind = settable[name]
        try:
            value = kind(words[1])
        except ValueError:
            print(f"[{name} must be {'an integer' if kind is int else 'a number'}]")
            return
        self.kwargs[name] = value
        print(f"[{name} = {value}]")

    def run(self) -> int:
        interactive = sys.stdin.isatty()
        if interactive:
            with contextlib.suppress(ImportError):
                import readline  # noqa: F401 (line editing and history for input())
            context = self.generator.max_context
            print(f"litegen chat: {self.generator.path} (context {context} tokens). {HELP}.")
        while True:
            try:
                line = input(PROMPT if interactive else "")
            except EOFError:
                if interactive:
                    print()
                return 0
            except KeyboardInterrupt:
                print("\n[Ctrl-D or /exit quits]")
                continue
            line = line.strip()
            if not line:
                continue
            if line.startswith("/"):
                if not self.command(line):
                    return 0
                continue
            self.answer(line)


def _chat(args: argparse.Namespace) -> int:
    return ChatLoop(args).run()
