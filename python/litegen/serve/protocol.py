"""The OpenAI wire format: request bodies checked and mapped to engine arguments, and the
response / stream-chunk bodies. Pure functions, no HTTP and no engine, so every rule is
testable on its own.

Follows the OpenAI API: ``/v1/completions`` and ``/v1/chat/completions`` bodies, OpenAI's
defaults (``temperature`` 1, ``top_p`` 1, ``max_tokens`` 16 for completions), errors as
``{"error": {"message", "type", "param", "code"}}``. Extensions: ``top_k``, ``min_p``,
``repetition_penalty`` and ``ignore_eos``. Features the engine does not have (several choices, log
probabilities, tools, penalties other than repetition) are refused with a 400 rather than
ignored.
"""

from __future__ import annotations

import math
import secrets
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

# OpenAI's default for /v1/completions; chat completions default to the rest of the context.
COMPLETION_DEFAULT_MAX_TOKENS = 16
MAX_STOP_STRINGS = 4

_FINISH_REASONS = {
    "stop_token": "stop",
    "stop_string": "stop",
    "cancelled": "stop",
    "callback": "stop",
    "max_new_tokens": "length",
    "context_full": "length",
}
# Accepted when absent, null, false, 0 or empty; otherwise the engine cannot honour them.
_UNSUPPORTED = (
    "logprobs",
    "top_logprobs",
    "echo",
    "suffix",
    "tools",
    "tool_choice",
    "functions",
    "function_call",
    "logit_bias",
    "presence_penalty",
    "frequency_penalty",
)


class ApiError(Exception):
    """An error answered as OpenAI does: HTTP ``status`` and an ``error`` object."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        type: str = "invalid_request_error",
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param
        self.code = code
        self.type = type

    def body(self) -> dict[str, Any]:
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }


@dataclass(frozen=True)
class GenerationRequest:
    """One request, checked: what the engine runs and how to answer."""

    kind: str  # "completion" or "chat"
    prompt: str | list[int] | None  # completion: text or token ids
    messages: list[dict[str, str]] | None  # chat
    engine_kwargs: dict[str, Any] = field(default_factory=dict)  # Session.stream arguments
    stream: bool = False
    include_usage: bool = False  # stream_options.include_usage


def _number(body: dict[str, Any], name: str, default: float, lo: float, hi: float) -> float:
    value = body.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ApiError(400, f"'{name}' must be a number, got {value!r}", param=name)
    if not lo <= value <= hi:
        raise ApiError(400, f"'{name}' must be in [{lo}, {hi}], got {value}", param=name)
    return float(value)


def _integer(body: dict[str, Any], name: str, lo: int, hi: int | None = None) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ApiError(400, f"'{name}' must be an integer, got {value!r}", param=name)
    if value < lo or (hi is not None and value > hi):
        bound = f">= {lo}" if hi is None else f"in [{lo}, {hi}]"
        raise ApiError(400, f"'{name}' must be {bound}, got {value}", param=name)
    return value


def _stop(body: dict[str, Any]) -> list[str]:
    stop = body.get("stop")
    if stop is None:
        return []
    if isinstance(stop, str):
        stop = [stop]
    if (
        not isinstance(stop, list)
        or len(stop) > MAX_STOP_STRINGS
        or not all(isinstance(s, str) and s for s in stop)
    ):
        raise ApiError(
            400,
            f"'stop' must be a non-empty string or a list of up to {MAX_STOP_STRINGS} "
            "non-empty strings",
            param="stop",
        )
    return stop


def check_model(body: dict[str, Any], model_id: str) -> None:
    model = body.get("model")
    if model is None:
        raise ApiError(400, "'model' is required", param="model")
    if model != model_id:
        raise ApiError(
            404,
            f"The model '{model}' does not exist; this server serves '{model_id}'",
            param="model",
            code="model_not_found",
        )


def _sampling(body: dict[str, Any], *, default_max_tokens: int, max_context: int) -> dict[str, Any]:
    for name in _UNSUPPORTED:
        if body.get(name) not in (None, False, 0, [], {}):
            raise ApiError(400, f"'{name}' is not supported by litegen", param=name)
    n = _integer(body, "n", 1)
    if n is not None and n != 1:
        raise ApiError(400, "only n=1 is supported (one choice per request)", param="n")
    best_of = _integer(body, "best_of", 1)
    if best_of is not None and best_of != 1:
        raise ApiError(400, "only best_of=1 is supported", param="best_of")
    max_tokens = _integer(body, "max_tokens", 0)
    if max_tokens is None:
        max_tokens = _integer(body, "max_completion_tokens", 0)
    seed = _integer(body, "seed", 0, 2**64 - 1)
    ignore_eos = body.get("ignore_eos", False)
    if not isinstance(ignore_eos, bool):
        raise ApiError(
            400, f"'ignore_eos' must be a boolean, got {ignore_eos!r}", param="ignore_eos"
        )
    kwargs = {
        # The engine stops when the context is full, whatever the limit.
        "max_new_tokens": min(
            default_max_tokens if max_tokens is None else max_tokens, max_context
        ),
        "temperature": _number(body, "temperature", 1.0, 0.0, 2.0),
        "top_p": _number(body, "top_p", 1.0, 0.0, 1.0),
        "top_k": int(_integer(body, "top_k", 0) or 0),
        "min_p": _number(body, "min_p", 0.0, 0.0, 1.0),
        "repetition_penalty": _number(body, "repetition_penalty", 1.0, 0.0, 10.0),
        # OpenAI samples differently on every request unless a seed is given.
        "seed": secrets.randbits(63) if seed is None else seed,
        "stop": _stop(body),
    }
    if ignore_eos:  # as llama.cpp's server: generate past the end-of-sequence tokens
        kwargs["stop_token_ids"] = ()
    return kwargs


def _stream_flags(body: dict[str, Any]) -> tuple[bool, bool]:
    stream = body.get("stream", False)
    if stream is None:
        stream = False
    if not isinstance(stream, bool):
        raise ApiError(400, f"'stream' must be a boolean, got {stream!r}", param="stream")
    options = body.get("stream_options") or {}
    if not isinstance(options, dict):
        raise ApiError(400, "'stream_options' must be an object", param="stream_options")
    return stream, bool(options.get("include_usage", False))


def parse_completion(body: Any, *, model_id: str, max_context: int) -> GenerationRequest:
    body = _object(body)
    check_model(body, model_id)
    prompt = body.get("prompt")
    # One prompt: a string, token ids, or a batch of exactly one of these.
    if isinstance(prompt, list) and len(prompt) == 1 and isinstance(prompt[0], (str, list)):
        prompt = prompt[0]
    if isinstance(prompt, list):
        if not prompt or not all(
            isinstance(t, int) and not isinstance(t, bool) and t >= 0 for t in prompt
        ):
            raise ApiError(
                400,
                "'prompt' must be a string or a list of token ids (one prompt per request)",
                param="prompt",
            )
    elif not isinstance(prompt, str) or not prompt:
        raise ApiError(400, "'prompt' must be a non-empty string", param="prompt")
    stream, include_usage = _stream_flags(body)
    kwargs = _sampling(
        body, default_max_tokens=COMPLETION_DEFAULT_MAX_TOKENS, max_context=max_context
    )
    return GenerationRequest("completion", prompt, None, kwargs, stream, include_usage)


def _content(message: dict[str, Any], index: int) -> str:
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts: text only
        texts = []
        for part in content:
            if not isinstance(part, dict) or part.get("type") != "text":
                raise ApiError(
                    400,
                    f"messages[{index}]: only text content parts are supported",
                    param="messages",
                )
            texts.append(str(part.get("text", "")))
        return "".join(texts)
    raise ApiError(400, f"messages[{index}].content must be a string", param="messages")


def parse_chat(body: Any, *, model_id: str, max_context: int) -> GenerationRequest:
    body = _object(body)
    check_model(body, model_id)
    raw = body.get("messages")
    if not isinstance(raw, list) or not raw:
        raise ApiError(400, "'messages' must be a non-empty list", param="messages")
    messages = []
    for i, m in enumerate(raw):
        if not isinstance(m, dict) or not isinstance(m.get("role"), str):
            raise ApiError(400, f"messages[{i}] must be an object with a 'role'", param="messages")
        messages.append({"role": m["role"], "content": _content(m, i)})
    stream, include_usage = _stream_flags(body)
    kwargs = _sampling(body, default_max_tokens=max_context, max_context=max_context)
    return GenerationRequest("chat", None, messages, kwargs, stream, include_usage)


def _object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise ApiError(400, "the request body must be a JSON object")
    return body


# ---- responses ---------------------------------------------------------------------------


def finish_reason(stop_reason: str) -> str:
    return _FINISH_REASONS.get(stop_reason, "stop")


def usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


@dataclass(frozen=True)
class ResponseIds:
    """The id and timestamp every chunk of one response shares."""

    id: str
    created: int
    model: str

    @classmethod
    def new(cls, kind: str, model: str) -> ResponseIds:
        prefix = "chatcmpl" if kind == "chat" else "cmpl"
        return cls(f"{prefix}-{uuid.uuid4().hex}", int(time.time()), model)


def completion_body(
    ids: ResponseIds, kind: str, text: str, reason: str, use: dict[str, int]
) -> dict[str, Any]:
    if kind == "chat":
        choice: dict[str, Any] = {
            "index": 0,
            "message": {"role": "assistant", "content": text},
            "logprobs": None,
            "finish_reason": reason,
        }
        obj = "chat.completion"
    else:
        choice = {"index": 0, "text": text, "logprobs": None, "finish_reason": reason}
        obj = "text_completion"
    return {
        "id": ids.id,
        "object": obj,
        "created": ids.created,
        "model": ids.model,
        "choices": [choice],
        "usage": use,
    }


def chunk_body(
    ids: ResponseIds,
    kind: str,
    *,
    text: str | None = None,
    role: bool = False,
    reason: str | None = None,
    use: dict[str, int] | None = None,
) -> dict[str, Any]:
    """One streamed chunk: a text delta (``text``), the opening assistant role
    (``role``), the closing ``reason``, or (``use``) the usage chunk with no choices."""
    if use is not None:
        choices: list[dict[str, Any]] = []
    elif kind == "chat":
        delta: dict[str, Any] = {}
        if role:
            delta = {"role": "assistant", "content": ""}
        elif text is not None:
            delta = {"content": text}
        choices = [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": reason}]
    else:
        choices = [{"index": 0, "text": text or "", "logprobs": None, "finish_reason": reason}]
    body: dict[str, Any] = {
        "id": ids.id,
        "object": "chat.completion.chunk" if kind == "chat" else "text_completion",
        "created": ids.created,
        "model": ids.model,
        "choices": choices,
    }
    if use is not None:
        body["usage"] = use
    return body
