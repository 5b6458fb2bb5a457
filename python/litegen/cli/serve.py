"""``litegen serve MODEL [--host H] [--port N]``: an OpenAI-compatible HTTP server."""

from __future__ import annotations

import argparse
import contextlib
import signal
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

from litegen.cli.generating import add_model_args, load_generator, require_tokenizer
from litegen.errors import InputError

# uvicorn waits this long for open responses (streams) after SIGINT/SIGTERM, then cancels
# them; the engine worker then cancels the running generation within one step.
GRACEFUL_SHUTDOWN_S = 5


def register(sub: argparse._SubParsersAction) -> None:
    serve = sub.add_parser(
        "serve",
        help="serve a model over an OpenAI-compatible HTTP API",
        description="Serve one model over HTTP with OpenAI-compatible endpoints: "
        "GET /v1/models, POST /v1/completions and POST /v1/chat/completions (streaming with "
        "server-sent events, or not). Requests run one at a time in arrival order. Sampling: "
        "temperature, top_p, max_tokens, stop, seed, plus top_k, min_p, "
        "repetition_penalty and ignore_eos. Needs the 'serve' extra (pip install "
        "'litegen[serve]').",
    )
    add_model_args(serve)
    serve.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)"
    )
    serve.add_argument("--port", type=int, default=8000, help="TCP port (default: 8000)")
    serve.add_argument(
        "--model-id",
        metavar="NAME",
        help="the model name clients use (default: the model file name without extension)",
    )
    serve.add_argument(
        "--log-level",
        default="info",
        choices=("critical", "error", "warning", "info", "debug"),
        help="uvicorn log level (default: info; warning hides the request log)",
    )
    serve.set_defaults(handler=_serve)


def _serve(args: argparse.Namespace) -> int:
    try:
        import uvicorn

        from litegen.serve.app import create_app
    except ModuleNotFoundError as exc:
        raise InputError(
            f"litegen serve needs the 'serve' extra ({exc.name} is missing): "
            "pip install 'litegen[serve]'"
        ) from exc
    if not 0 <= args.port <= 65535:
        raise InputError(f"--port must be in [0, 65535], got {args.port}")
    _check_address(args.host, args.port)  # before the model loads, and as one clear line
    generator = load_generator(args)
    require_tokenizer(generator)
    app = create_app(generator, args.model_id)
    config = uvicorn.Config(
        app,
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
    )
    server = _server_class(uvicorn, on_exit=app.state.worker.cancel_all)(config)
    print(
        f"litegen serve: {generator.path} as '{args.model_id or generator.path.stem}' on "
        f"http://{args.host}:{args.port}/v1 (Ctrl-C stops)",
        file=sys.stderr,
        flush=True,
    )
    # SIGINT/SIGTERM: stop accepting, finish (or after GRACEFUL_SHUTDOWN_S cancel) open
    # requests, run the app's shutdown (which stops the engine thread), return.
    server.run()
    return 0 if server.started else 1


def _check_address(host: str, port: int) -> None:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise InputError(f"--host {host!r} is not an address of this machine ({exc})") from exc
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does
        try:
            probe.bind(address)
        except OSError as exc:
            raise InputError(
                f"cannot listen on {host}:{port} ({exc.strerror}); pick another --port or "
                "stop the program using it"
            ) from exc


def _server_class(uvicorn: Any, on_exit: Callable[[], None]) -> type:
    class Server(uvicorn.Server):  # type: ignore[misc, name-defined]
        """On SIGINT/SIGTERM, generations in progress are cancelled at once (``on_exit``),
        so open streams end now rather than at their max_tokens, and uvicorn's graceful
        shutdown does not wait for them.

        uvicorn re-raises the signal once it has shut down, so that the default handlers
        end the process (a KeyboardInterrupt, or death by SIGTERM); after a clean shutdown
        ``litegen serve`` exits normally (status 0) instead."""

        def handle_exit(self, sig: int, frame: Any) -> None:
            super().handle_exit(sig, frame)
            on_exit()

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            if threading.current_thread() is not threading.main_thread():
                yield  # signal handlers can only be set from the main thread
                return
            previous = {
                sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)
            }
            try:
                yield
            finally:
                for sig, handler in previous.items():
                    signal.signal(sig, handler)

    return Server
