"""`litegen.Generator`: generate text or tokens from a ``.litegen`` bundle (or a fast-form
``.tflite`` plus a tokenizer) with the C++ engine.

The engine (cpp/engine/) owns the KV caches, runs prefill (chunked) and the decode loop
and samples in C++; the GIL is released while it computes. A :class:`Session` is one
conversation: it keeps its token history and, on the next request, reuses the cached
prefix the request shares with it, so only the new tokens are prefilled.

Text: a bundle brings its tokenizer and metadata (stop tokens = its EOS ids, BOS per
``add_bos_token``, the chat template). Stop strings are matched on the streamed text
(``litegen.generate.text``), so ``stream`` never shows the start of a stop string.
"""

from __future__ import annotations

import contextlib
import operator
import os
import queue
import shutil
import sys
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from litegen.errors import ChatTemplateError, InputError, ModelLoadError
from litegen.generate.text import (
    TextStream,
    check_messages,
    encode_with_specials,
    normalize_stops,
    render_chat,
)
from litegen.runtime._native import load_extension
from litegen.runtime.model import resolve_weight_cache_path


@runtime_checkable
class Tokenizer(Protocol):
    """What a Generator needs from a tokenizer (text prompts and ``result.text``)."""

    def encode(self, text: str) -> list[int]: ...

    def decode(self, ids: list[int]) -> str: ...


@dataclass(frozen=True)
class GenerationStats:
    """Timings of one request. Rates are 0 when there was nothing to time."""

    time_to_first_token_s: float
    prefill_tokens_per_s: float
    decode_tokens_per_s: float
    prompt_tokens: int
    reused_tokens: int  # prompt tokens whose KV rows were reused from the session
    prefill_tokens: int  # prompt tokens actually prefilled
    generated_tokens: int
    prefill_s: float
    decode_s: float
    # "max_new_tokens", "stop_token", "stop_string", "context_full", "callback" or
    # "cancelled"
    stop_reason: str


@dataclass(frozen=True)
class GenerationResult:
    """``token_ids``: the generated tokens, including a stop token and, after a stop
    string, every token up to the one that completed it. ``text`` (when the Generator has
    a tokenizer): their text, cut before the first stop string; equal to the concatenated
    pieces of :meth:`Session.stream`."""

    token_ids: list[int]
    stats: GenerationStats
    text: str | None = None  # set when the Generator has a tokenizer


_DONE = object()
_UINT64_MAX = 2**64 - 1
_BUNDLE_MAGIC = b"LITEGEN\0"
_FOOTER_SIZE = 64


def _is_bundle(path: Path) -> bool:
    """A ``.litegen`` suffix or the bundle footer magic (a plain .tflite has neither)."""
    if path.suffix == ".litegen":
        return True
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            if size < _FOOTER_SIZE:
                return False
            f.seek(size - _FOOTER_SIZE)
            return f.read(8) == _BUNDLE_MAGIC
    except OSError:
        return False


def litegen_run_path() -> Path | None:
    """The ``litegen-run`` binary installed with this package (next to the Python
    interpreter), or None."""
    candidate = Path(sys.executable).parent / "litegen-run"
    if candidate.is_file():
        return candidate
    found = shutil.which("litegen-run")
    return Path(found) if found else None


def _int(name: str, value: Any, lo: int, hi: int | None = None) -> int:
    if isinstance(value, bool):
        raise InputError(f"{name} must be an integer, got {value!r}")
    try:
        number = operator.index(value)
    except TypeError:
        raise InputError(f"{name} must be an integer, got {value!r}") from None
    if number < lo or (hi is not None and number > hi):
        bound = f">= {lo}" if hi is None else f"in [{lo}, {hi}]"
        raise InputError(f"{name} must be {bound}, got {number}")
    return number


def _float(name: str, value: Any) -> float:
    if isinstance(value, (bool, str, bytes)):
        raise InputError(f"{name} must be a number, got {value!r}")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a number, got {value!r}") from None


def _ids(name: str, values: Iterable[Any]) -> list[int]:
    return [_int(f"{name}[{i}]", v, 0, 2**31 - 1) for i, v in enumerate(values)]


class Session:
    """One conversation: its KV cache and token history. Not for concurrent use; create
    one session per thread (they share the Generator's compiled model)."""

    def __init__(self, generator: Generator, native: Any) -> None:
        self._generator = generator
        self._native = native
        self.last_result: GenerationResult | None = None

    # ---- requests ---------------------------------------------------------------------
    def _request(
        self,
        prompt: str | Sequence[int],
        max_new_tokens: int,
        temperature: float,
        top_k: int,
        top_p: float,
        min_p: float,
        repetition_penalty: float,
        seed: int,
        stop_token_ids: Iterable[int] | None,
    ) -> tuple[Any, ...]:
        generator = self._generator
        if isinstance(prompt, str):
            tokenizer = generator.tokenizer
            if tokenizer is None:
                raise InputError(
                    f"a text prompt needs a tokenizer: '{generator.path}' is not a .litegen "
                    "bundle, so pass Generator(..., tokenizer=...) or give token ids"
                )
            ids = list(tokenizer.encode(prompt))
            if generator.add_bos and generator.bos_token_id is not None:
                ids.insert(0, generator.bos_token_id)
        else:
            if isinstance(prompt, (bytes, bytearray)) or not isinstance(prompt, Iterable):
                raise InputError(
                    f"prompt must be a list of token ids or a string, got {type(prompt).__name__}"
                )
            ids = _ids("prompt", prompt)
        args = (
            ids,
            _int("max_new_tokens", max_new_tokens, 0, 2**31 - 1),
            _float("temperature", temperature),
            _int("top_k", top_k, 0, 2**31 - 1),
            _float("top_p", top_p),
            _float("min_p", min_p),
            _float("repetition_penalty", repetition_penalty),
            _int("seed", seed, 0, _UINT64_MAX),
            _ids(
                "stop_token_ids",
                generator.stop_token_ids if stop_token_ids is None else stop_token_ids,
            ),
        )
        self._native.validate(*args)  # typed errors naming the parameter, before any work
        return args

    def _text_stream(self, stop: str | Sequence[str] | None) -> TextStream | None:
        stops = normalize_stops(stop)
        tokenizer = self._generator.tokenizer
        if tokenizer is None:
            if stops:
                raise InputError("stop strings need a tokenizer (use stop_token_ids instead)")
            return None
        return TextStream(tokenizer, stops)

    def _result(
        self, ids: list[int], stats: dict[str, Any], text: TextStream | None = None
    ) -> GenerationResult:
        stats = dict(stats)
        if text is not None and text.stopped:
            stats["stop_reason"] = "stop_string"
        tokenizer = self._generator.tokenizer
        if text is not None:
            value: str | None = text.text
        else:
            value = tokenizer.decode(list(ids)) if tokenizer is not None else None
        result = GenerationResult(list(ids), GenerationStats(**stats), value)
        self.last_result = result
        return result

    def generate(
        self,
        prompt: str | Sequence[int],
        *,
        max_new_tokens: int = 256,
        temperature: float = 0.0,
        top_k: int = 0,
        top_p: float = 1.0,
        min_p: float = 0.0,
        repetition_penalty: float = 1.0,
        seed: int = 0,
        stop_token_ids: Iterable[int] | None = None,
        stop: str | Sequence[str] = (),
    ) -> GenerationResult:
        """Generates up to ``max_new_tokens`` tokens after ``prompt`` (token ids, or text
        with a tokenizer; BOS is prepended to text when the bundle's metadata says so).
        ``temperature=0`` is greedy. The prompt is the whole conversation: the part this
        session already holds is not run again.

        Generation ends at ``max_new_tokens``, after a token of ``stop_token_ids`` (which
        is included in the result; ``None`` means the bundle's EOS ids, ``()`` none), when
        the text contains a ``stop`` string (``.text`` is cut before it; ``.token_ids``
        keep every token up to the one that completed it; needs a tokenizer), on
        :meth:`cancel`, or when the model's context is full (``stats.stop_reason ==
        "context_full"``: not an error, the tokens so far are returned).
        ``stats.stop_reason`` says which.

        Raises:
            InputError: empty prompt, prompt over the model's context, token ids outside
                the vocabulary, invalid sampling values (the message names the parameter).
            ExecutionError: a run failed.
        """
        args = self._request(
            prompt,
            max_new_tokens,
            temperature,
            top_k,
            top_p,
            min_p,
            repetition_penalty,
            seed,
            stop_token_ids,
        )
        text = self._text_stream(stop)
        if text is None or not text.matcher.stops:
            # No stop strings: .text is the plain decode (the stream decoder's contract
            # makes it equal to the concatenated stream pieces).
            ids, stats = self._native.generate(*args)
            return self._result(ids, stats)

        def on_token(token: int) -> bool:
            text.push(token)
            return not text.stopped

        ids, stats = self._native.generate(*args, on_token=on_token)
        text.finish()
        return self._result(ids, stats, text)

    def stream(
        self,
        prompt: str | Sequence[int],
        *,
        max_new_tokens: int = 256,
        temperature: float = 0.0,
        top_k: int = 0,
        top_p: float = 1.0,
        min_p: float = 0.0,
        repetition_penalty: float = 1.0,
        seed: int = 0,
        stop_token_ids: Iterable[int] | None = None,
        stop: str | Sequence[str] = (),
    ) -> Iterator[Any]:
        """Like :meth:`generate`, yielding as the engine produces tokens (the engine runs in
        a background thread): text pieces (``str``) when the Generator has a tokenizer,
        whose concatenation equals the result's ``.text`` (a possible start of a stop
        string is held back until it is known not to be one); token ids (``int``)
        otherwise. Arguments are checked before this returns. Closing the iterator early
        cancels the generation. The full result (with stats) is in :attr:`last_result`
        once the iterator is exhausted."""
        args = self._request(
            prompt,
            max_new_tokens,
            temperature,
            top_k,
            top_p,
            min_p,
            repetition_penalty,
            seed,
            stop_token_ids,
        )
        text = self._text_stream(stop)
        tokens: queue.Queue[Any] = queue.Queue()
        outcome: dict[str, Any] = {}
        closed = threading.Event()

        def on_token(token: int) -> bool:
            if text is None:
                tokens.put(token)
                return not closed.is_set()
            if piece := text.push(token):
                tokens.put(piece)
            return not closed.is_set() and not text.stopped

        def run() -> None:
            try:
                outcome["value"] = self._native.generate(*args, on_token=on_token)
            except BaseException as exc:  # re-raised in the consumer
                outcome["error"] = exc
            finally:
                tokens.put(_DONE)

        worker = threading.Thread(target=run, name="litegen-generate", daemon=True)
        worker.start()

        def iterate() -> Iterator[int]:
            try:
                while (item := tokens.get()) is not _DONE:
                    yield item
                worker.join()
                if "error" in outcome:
                    raise outcome["error"]
                if text is not None and (tail := text.finish()):
                    yield tail
                self._result(*outcome["value"], text)
            finally:
                if worker.is_alive():  # closed early
                    closed.set()
                    self._native.cancel()
                    worker.join()

        return iterate()

    def chat(self, messages: Sequence[dict[str, Any]], **kwargs: Any) -> GenerationResult:
        """Renders ``messages`` (``[{"role": ..., "content": ...}, ...]``, the whole
        conversation) with the chat template (Hugging Face conventions:
        ``add_generation_prompt=True``, ``bos_token`` / ``eos_token``) and generates the
        reply (keyword arguments as in :meth:`generate`; the result's ``.text`` is the
        reply). A follow-up turn that appends the reply and a new message reuses the cached
        prefix. Raises :class:`ChatTemplateError` when the model has no template."""
        return self.generate(self._chat_prompt(messages), **kwargs)

    def stream_chat(self, messages: Sequence[dict[str, Any]], **kwargs: Any) -> Iterator[Any]:
        """:meth:`chat`, streaming like :meth:`stream`."""
        return self.stream(self._chat_prompt(messages), **kwargs)

    def _chat_prompt(self, messages: Sequence[dict[str, Any]]) -> list[int]:
        generator = self._generator
        template = generator.chat_template
        if not template:
            what = "bundle" if generator.is_bundle else "model"
            raise ChatTemplateError(
                f"{what} '{generator.path}' has no chat template"
                + ("" if generator.is_bundle else " (pass Generator(..., chat_template=...))")
            )
        if generator.tokenizer is None:
            raise InputError(f"chat() needs a tokenizer: '{generator.path}' has none")
        checked = check_messages(messages)
        specials = generator.special_tokens()
        bos = next((k for k, v in specials.items() if v == generator.bos_token_id), "")
        eos_ids = generator.stop_token_ids
        eos = next((k for k, v in specials.items() if eos_ids and v == eos_ids[0]), "")
        rendered = render_chat(template, checked, bos_token=bos, eos_token=eos)
        return encode_with_specials(generator.tokenizer, rendered, specials)

    def cancel(self) -> None:
        """Stops the running generation of this session (from any thread) within one
        step; it returns the tokens so far with ``stop_reason == "cancelled"``."""
        self._native.cancel()

    def reset(self) -> None:
        """Forgets the conversation (the next request is prefilled from scratch)."""
        self._native.reset()

    @property
    def history(self) -> list[int]:
        """Token ids whose KV rows the session holds (the conversation so far, minus the
        last generated token, which is not run until the next request)."""
        return list(self._native.history())


class Generator:
    """A fast-form litegen model (``litegen.convert(..., form="fast")``) ready to generate.

    Args:
        path: a ``.litegen`` bundle (tokenizer, stop tokens, BOS and chat template come
            from it) or a fast-form ``.tflite``.
        num_threads: threads for XNNPack and litegen's attention kernels.
        weight_cache_path: XNNPack weight-cache file; ``None`` picks one under the user
            cache directory ($LITEGEN_CACHE_DIR). ``weight_cache=False`` disables it.
        tokenizer: a SentencePiece ``tokenizer.model`` path, a :class:`litegen.Tokenizer`,
            or any object with ``encode(str) -> list[int]`` and ``decode(list[int]) ->
            str``; enables text prompts, ``result.text`` and text streaming. Overrides a
            bundle's tokenizer.
        prefill_chunk_size: longest prefill run (longer prompts go in chunks).
        stop_token_ids: default stop tokens (``None``: the bundle's EOS ids; none for a
            bare .tflite).
        add_bos: prepend BOS to text prompts (``None``: the bundle's ``add_bos_token``).
        chat_template: Jinja chat template (``None``: the bundle's).

    ``generate`` / ``stream`` / ``cancel`` use a default session, so consecutive calls
    reuse the prefix they share; :meth:`new_session` makes independent conversations.

    Raises:
        ModelLoadError: missing or corrupt file, or not a litegen LLM (no prefill/decode
            signatures with tokens, input_pos, kv_cache_* and logits).
        InputError: invalid options.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        num_threads: int = 2,
        weight_cache_path: str | os.PathLike[str] | None = None,
        weight_cache: bool = True,
        tokenizer: Tokenizer | str | os.PathLike[str] | None = None,
        prefill_chunk_size: int = 512,
        stop_token_ids: Iterable[int] | None = None,
        add_bos: bool | None = None,
        chat_template: str | None = None,
    ) -> None:
        native = load_extension()
        self.path = Path(path)
        self.num_threads = _int("num_threads", num_threads, 1, 256)
        chunk = _int("prefill_chunk_size", prefill_chunk_size, 1, 2**31 - 1)
        if add_bos is not None and not isinstance(add_bos, bool):
            raise InputError(f"add_bos must be a bool or None, got {add_bos!r}")
        if chat_template is not None and not isinstance(chat_template, str):
            raise InputError(f"chat_template must be a string, got {type(chat_template)}")
        if isinstance(tokenizer, (str, os.PathLike)):
            from litegen.tokenizer import Tokenizer as SentencePieceTokenizer

            tokenizer = SentencePieceTokenizer.from_file(tokenizer)
        elif tokenizer is not None and not isinstance(tokenizer, Tokenizer):
            raise InputError(
                "tokenizer must have encode(str) and decode(list[int]) methods, or be a "
                "tokenizer.model path"
            )
        if not self.path.is_file():
            reason = "no such file" if not self.path.exists() else "not a regular file"
            raise ModelLoadError(f"cannot open model file '{self.path}': {reason}")
        # A bundle: validated (corrupt -> ModelLoadError naming it) before the model load.
        self.is_bundle = _is_bundle(self.path)
        self.metadata: dict[str, Any] | None = None
        if self.is_bundle:
            from litegen.bundle import read_bundle
            from litegen.tokenizer import Tokenizer as SentencePieceTokenizer

            bundle = read_bundle(self.path)
            self.metadata = dict(bundle.metadata)
            if tokenizer is None:
                tokenizer = SentencePieceTokenizer.from_bytes(
                    bundle.tokenizer_model, source=f"bundle '{bundle.path}'"
                )
        meta = self.metadata or {}
        self.tokenizer = tokenizer
        bos = meta.get("bos_token_id")
        if bos is None and tokenizer is not None:
            bos = getattr(tokenizer, "bos_id", None)
        self.bos_token_id: int | None = bos if isinstance(bos, int) and bos >= 0 else None
        self.add_bos: bool = bool(meta.get("add_bos_token", False)) if add_bos is None else add_bos
        self.stop_token_ids: list[int] = (
            _ids("stop_token_ids", meta.get("eos_token_ids") or [])
            if stop_token_ids is None
            else _ids("stop_token_ids", stop_token_ids)
        )
        self.chat_template: str | None = (
            chat_template if chat_template is not None else meta.get("chat_template") or None
        )
        self.weight_cache_path = resolve_weight_cache_path(
            self.path, weight_cache_path, weight_cache
        )
        self._engine = native.Engine(
            str(self.path), self.num_threads, str(self.weight_cache_path or ""), chunk
        )
        info = self._engine.info()
        self.max_context: int = info["max_context"]
        self.vocab_size: int = info["vocab_size"]
        self.num_layers: int = info["num_layers"]
        # "float16" (the fast form's default) or "float32": what each session allocates.
        self.kv_dtype: str = info["kv_dtype"]
        self._default: Session | None = None

    def new_session(self) -> Session:
        """A new conversation with its own (zeroed) KV cache."""
        return Session(self, self._engine.new_session())

    @property
    def session(self) -> Session:
        """The default session behind :meth:`generate` and :meth:`stream`."""
        if self._default is None:
            self._default = self.new_session()
        return self._default

    def special_tokens(self) -> dict[str, int]:
        """Piece strings of BOS and the stop tokens (``<s>``, ``</s>``, ...) -> ids, as a
        chat template writes them."""
        to_piece = getattr(self.tokenizer, "id_to_piece", None)
        out: dict[str, int] = {}
        if not callable(to_piece):
            return out
        ids = ([self.bos_token_id] if self.bos_token_id is not None else []) + self.stop_token_ids
        for token_id in ids:
            with contextlib.suppress(InputError):
                out.setdefault(to_piece(token_id), token_id)
        return out

    def generate(self, prompt: str | Sequence[int], **kwargs: Any) -> GenerationResult:
        """See :meth:`Session.generate`."""
        return self.session.generate(prompt, **kwargs)

    def stream(self, prompt: str | Sequence[int], **kwargs: Any) -> Iterator[Any]:
        """See :meth:`Session.stream`."""
        return self.session.stream(prompt, **kwargs)

    def chat(self, messages: Sequence[dict[str, Any]], **kwargs: Any) -> GenerationResult:
        """See :meth:`Session.chat` (on the default session)."""
        return self.session.chat(messages, **kwargs)

    def stream_chat(self, messages: Sequence[dict[str, Any]], **kwargs: Any) -> Iterator[Any]:
        """See :meth:`Session.stream_chat` (on the default session)."""
        return self.session.stream_chat(messages, **kwargs)

    def cancel(self) -> None:
        """Cancels the default session's running generation (see :meth:`Session.cancel`)."""
        self.session.cancel()

    def __repr__(self) -> str:
        return (
            f"Generator('{self.path}', layers={self.num_layers}, "
            f"context={self.max_context}, kv_dtype={self.kv_dtype}, vocab={self.vocab_size}, "
            f"num_threads={self.num_threads})"
        )
