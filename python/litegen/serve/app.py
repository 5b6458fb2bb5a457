"""The Starlette application: OpenAI-compatible routes over one :class:`EngineWorker`.

``create_app(generator)`` builds it without opening a socket (tests drive it with
Starlette's TestClient; ``litegen serve`` runs it under uvicorn). Generation happens on the
worker thread; handlers only parse, queue and relay events, so the event loop stays free.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from litegen.errors import InputError, LitegenError
from litegen.generate import Generator
from litegen.serve.protocol import (
    ApiError,
    GenerationRequest,
    ResponseIds,
    chunk_body,
    completion_body,
    finish_reason,
    parse_chat,
    parse_completion,
    usage,
)
from litegen.serve.worker import EngineWorker, Event, Job, ShuttingDown

# How often a non-streamed request checks whether its client is still there (a client
# that gave up should not keep the engine busy for the other requests).
DISCONNECT_POLL_S = 0.25
CLIENT_CLOSED = 499  # nginx's code for "client closed request": nobody reads it anyway


class _ClientWatch:
    """Whether an HTTP client is still connected, asked at most every DISCONNECT_POLL_S."""

    def __init__(self, request: Request) -> None:
        self._request = request
        self._next_check = 0.0

    async def gone(self) -> bool:
        now = time.monotonic()
        if now < self._next_check:
            return False
        self._next_check = now + DISCONNECT_POLL_S
        return await self._request.is_disconnected()


def _error_response(error: ApiError) -> JSONResponse:
    return JSONResponse(error.body(), status_code=error.status)


def _engine_error(exc: BaseException) -> ApiError:
    """The engine refused the request (InputError: prompt over the context, bad ids, ...)
    -> 400; anything else is the server's fault -> 500."""
    message = " ".join(str(exc).split())
    if isinstance(exc, InputError):  # also ChatTemplateError
        code = "context_length_exceeded" if "exceeds the context" in message else None
        return ApiError(400, message, code=code)
    if isinstance(exc, LitegenError):
        return ApiError(500, message, type="server_error")
    if isinstance(exc, ShuttingDown):
        return ApiError(503, message, type="server_error", code="shutting_down")
    return ApiError(500, f"internal error: {exc}", type="server_error")


def _sse(body: dict[str, Any] | str) -> str:
    data = body if isinstance(body, str) else json.dumps(body, ensure_ascii=False)
    return f"data: {data}\n\n"


def create_app(generator: Generator, model_id: str | None = None) -> Starlette:
    """The OpenAI-compatible app serving ``generator`` as ``model_id`` (default: the model
    file's stem)."""
    model_name = model_id or generator.path.stem
    created = int(time.time())
    worker = EngineWorker(generator)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        worker.start()
        try:
            yield
        finally:
            worker.stop()

    def model_card() -> dict[str, Any]:
        return {
            "id": model_name,
            "object": "model",
            "created": created,
            "owned_by": "litegen",
            "context_length": generator.max_context,
        }

    async def list_models(request: Request) -> Response:
        return JSONResponse({"object": "list", "data": [model_card()]})

    async def get_model(request: Request) -> Response:
        name = request.path_params["model"]
        if name != model_name:
            return _error_response(
                ApiError(
                    404,
                    f"The model '{name}' does not exist",
                    param="model",
                    code="model_not_found",
                )
            )
        return JSONResponse(model_card())

    async def read_json(request: Request) -> Any:
        raw = await request.body()
        try:
            return json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ApiError(400, f"the request body is not valid JSON ({exc})") from exc

    async def completions(request: Request) -> Response:
        return await generate(request, parse_completion)

    async def chat_completions(request: Request) -> Response:
        return await generate(request, parse_chat)

    async def generate(request: Request, parse: Any) -> Response:
        try:
            parsed: GenerationRequest = parse(
                await read_json(request), model_id=model_name, max_context=generator.max_context
            )
        except ApiError as error:
            return _error_response(error)
        job = worker.submit(parsed)
        client = _ClientWatch(request)
        try:
            first = await next_event(job, client)
        except BaseException:
            worker.cancel(job)
            raise
        if first is None:
            return Response(status_code=CLIENT_CLOSED)
        if first.kind == "error":
            return _error_response(_engine_error(first.error or RuntimeError("unknown")))
        ids = ResponseIds.new(parsed.kind, model_name)
        if parsed.stream:
            return StreamingResponse(
                stream_events(job, parsed, ids),
                media_type="text/event-stream",
                headers={"Cache-Control": "no-cache"},
            )
        return await collect(client, job, parsed, ids)

    async def next_event(job: Job, client: _ClientWatch) -> Event | None:
        """The job's next event, or None once the client has gone (the job is then
        cancelled). Streams need no such watch: Starlette cancels them on disconnect."""
        while True:
            if await client.gone():
                worker.cancel(job)
                return None
            try:
                return await asyncio.wait_for(job.events.get(), DISCONNECT_POLL_S)
            except asyncio.TimeoutError:
                continue

    async def collect(
        client: _ClientWatch, job: Job, parsed: GenerationRequest, ids: ResponseIds
    ) -> Response:
        pieces: list[str] = []
        try:
            while True:
                event = await next_event(job, client)
                if event is None:
                    return Response(status_code=CLIENT_CLOSED)
                if event.kind == "piece":
                    pieces.append(event.text)
                elif event.kind == "error":
                    return _error_response(_engine_error(event.error or RuntimeError()))
                elif event.kind == "done":
                    break
        finally:
            worker.cancel(job)  # a no-op once done; stops the engine if the client left
        result = event.result
        if result is None:  # cancelled: only the server's shutdown does that
            raise ApiError(
                503, "the server is shutting down", type="server_error", code="shutting_down"
            )
        stats = result.stats
        body = completion_body(
            ids,
            parsed.kind,
            "".join(pieces),
            finish_reason(stats.stop_reason),
            usage(stats.prompt_tokens, stats.generated_tokens),
        )
        return JSONResponse(body)

    async def stream_events(
        job: Job, parsed: GenerationRequest, ids: ResponseIds
    ) -> AsyncIterator[str]:
        kind = parsed.kind
        try:
            if kind == "chat":
                yield _sse(chunk_body(ids, kind, role=True))
            while True:
                event = await job.events.get()
                if event.kind == "piece":
                    yield _sse(chunk_body(ids, kind, text=event.text))
                elif event.kind == "error":
                    # Headers are sent: the error goes in the stream, as OpenAI does.
                    yield _sse(_engine_error(event.error or RuntimeError()).body())
                    break
                elif event.kind == "done":
                    if event.result is not None:
                        stats = event.result.stats
                        reason = finish_reason(stats.stop_reason)
                        yield _sse(chunk_body(ids, kind, reason=reason))
                        if parsed.include_usage:
                            use = usage(stats.prompt_tokens, stats.generated_tokens)
                            yield _sse(chunk_body(ids, kind, use=use))
                    break
            yield _sse("[DONE]")
        finally:
            worker.cancel(job)  # the client went away mid-stream: stop generating

    async def api_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)
        return _error_response(exc)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        kind = "not_found" if exc.status_code == 404 else None
        return _error_response(ApiError(exc.status_code, str(exc.detail), code=kind))

    routes = [
        Route("/v1/models", list_models, methods=["GET"]),
        Route("/v1/models/{model:path}", get_model, methods=["GET"]),
        Route("/v1/completions", completions, methods=["POST"]),
        Route("/v1/chat/completions", chat_completions, methods=["POST"]),
    ]
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={ApiError: api_error, HTTPException: http_error},
    )
    app.state.worker = worker  # for the server's shutdown (cancel_all) and tests
    return app
