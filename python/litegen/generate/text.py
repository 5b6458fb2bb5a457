"""Text around the token engine: incremental detokenizing, stop strings, chat templates.

The stop-string algorithm is the one of ``cpp/engine/stop_strings.h`` (used by
``litegen-run``), on ``str`` instead of bytes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from litegen.errors import InputError


class StopMatcher:
    """Feed text deltas; get back what is safe to emit. A tail that could still be the
    start of a stop string is held back; once a stop string appears, :attr:`matched` is set
    and nothing from the stop string on is emitted. All :meth:`push` results plus
    :meth:`flush` concatenate to the text cut at the first stop string."""

    def __init__(self, stops: Sequence[str]) -> None:
        self.stops = [s for s in stops if s]
        self.pending = ""
        self.matched: str | None = None

    def push(self, delta: str) -> str:
        if self.matched is not None:
            return ""
        self.pending += delta
        first = -1
        for stop in self.stops:
            at = self.pending.find(stop)
            if at >= 0 and (first < 0 or at < first):
                first, self.matched = at, stop
        if first >= 0:
            out, self.pending = self.pending[:first], ""
            return out
        hold = 0
        for stop in self.stops:
            for k in range(min(len(stop) - 1, len(self.pending)), hold, -1):
                if self.pending.endswith(stop[:k]):
                    hold = k
                    break
        cut = len(self.pending) - hold
        out, self.pending = self.pending[:cut], self.pending[cut:]
        return out

    def flush(self) -> str:
        out = "" if self.matched is not None else self.pending
        self.pending = ""
        return out


class _DiffDecoder:
    """Incremental decoding for a tokenizer hook without a stream decoder: decodes all ids
    and emits the new suffix, holding back a trailing U+FFFD (an incomplete character)."""

    def __init__(self, tokenizer: Any) -> None:
        self._tokenizer = tokenizer
        self._ids: list[int] = []
        self._emitted = ""

    def push(self, token_id: int) -> str:
        self._ids.append(token_id)
        text = self._tokenizer.decode(list(self._ids))
        if text.endswith("\ufffd") or not text.startswith(self._emitted):
            return ""
        delta, self._emitted = text[len(self._emitted) :], text
        return delta

    def flush(self) -> str:
        text = self._tokenizer.decode(list(self._ids))
        delta = text[len(self._emitted) :] if text.startswith(self._emitted) else ""
        self._ids, self._emitted = [], ""
        return delta


class TextStream:
    """Token ids in, emitted text pieces out (detokenizer + stop strings)."""

    def __init__(self, tokenizer: Any, stops: Sequence[str]) -> None:
        make = getattr(tokenizer, "stream_decoder", None)
        self._decoder = make() if callable(make) else _DiffDecoder(tokenizer)
        self.matcher = StopMatcher(stops)
        self.pieces: list[str] = []

    @property
    def stopped(self) -> bool:
        return self.matcher.matched is not None

    def push(self, token_id: int) -> str:
        piece = self.matcher.push(self._decoder.push(token_id))
        if piece:
            self.pieces.append(piece)
        return piece

    def finish(self) -> str:
        tail = ""
        if not self.stopped:
            tail = self.matcher.push(self._decoder.flush()) + self.matcher.flush()
        if tail:
            self.pieces.append(tail)
        return tail

    @property
    def text(self) -> str:
        return "".join(self.pieces)


def normalize_stops(stop: str | Sequence[str] | None) -> list[str]:
    if stop is None:
        return []
    if isinstance(stop, str):
        stop = [stop]
    elif isinstance(stop, (bytes, bytearray)) or not isinstance(stop, Sequence):
        raise InputError(f"stop must be a string or a sequence of strings, got {stop!r}")
    out = []
    for i, s in enumerate(stop):
        if not isinstance(s, str) or not s:
            raise InputError(f"stop[{i}] must be a non-empty string, got {s!r}")
        out.append(s)
    return out


def encode_with_specials(tokenizer: Any, text: str, specials: dict[str, int]) -> list[int]:
    """Encodes ``text``, mapping the literal special-token strings in it (e.g. ``<s>``,
    ``</s>`` written by a chat template) to their ids, as Hugging Face tokenizers do;
    SentencePiece would otherwise spell them out as ordinary characters."""
    ids: list[int] = []
    specials = {k: v for k, v in specials.items() if k}
    rest = text
    while rest:
        best_at, best = -1, ""
        for piece in specials:
            at = rest.find(piece)
            if at < 0:
                continue
            if best_at < 0 or at < best_at or (at == best_at and len(piece) > len(best)):
                best_at, best = at, piece
        if best_at < 0:
            ids += tokenizer.encode(rest)
            break
        if best_at > 0:
            ids += tokenizer.encode(rest[:best_at])
        ids.append(specials[best])
        rest = rest[best_at + len(best) :]
    return ids


def render_chat(
    template: str,
    messages: Sequence[dict[str, Any]],
    *,
    bos_token: str,
    eos_token: str,
    add_generation_prompt: bool = True,
) -> str:
    """Renders a Hugging Face chat template (Jinja in a sandbox, ``trim_blocks`` and
    ``lstrip_blocks``, ``raise_exception`` and ``tojson`` available)."""
    import json

    try:
        from jinja2 import TemplateError
        from jinja2.sandbox import ImmutableSandboxedEnvironment
    except ImportError as exc:  # pragma: no cover (jinja2 is a runtime dependency)
        raise InputError("chat templates need the jinja2 package (pip install jinja2)") from exc

    def raise_exception(message: str) -> None:
        raise InputError(f"chat template: {message}")

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    env.globals["raise_exception"] = raise_exception
    env.filters["tojson"] = lambda value, indent=None: json.dumps(
        value, ensure_ascii=False, indent=indent
    )
    try:
        return env.from_string(template).render(
            messages=list(messages),
            add_generation_prompt=add_generation_prompt,
            bos_token=bos_token,
            eos_token=eos_token,
        )
    except TemplateError as exc:
        raise InputError(f"cannot render the chat template: {exc}") from exc


def check_messages(messages: Any) -> list[dict[str, Any]]:
    if isinstance(messages, (str, bytes)) or not isinstance(messages, Sequence) or not messages:
        raise InputError("messages must be a non-empty list of {'role', 'content'} dicts")
    for i, m in enumerate(messages):
        if (
            not isinstance(m, dict)
            or not isinstance(m.get("role"), str)
            or not isinstance(m.get("content"), str)
        ):
            raise InputError(
                f"messages[{i}] must be a dict with string 'role' and 'content', got {m!r}"
            )
    return list(messages)
