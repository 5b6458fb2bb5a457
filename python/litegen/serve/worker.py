"""The engine thread: requests run one at a time, in arrival order, on one session.

A :class:`litegen.Generator` session is not for concurrent use, so every request becomes a
:class:`Job` on a queue served by one thread. The session is kept between requests: a
request that starts like the previous one (the same conversation, one turn longer)
prefills only what is new, and the engine's results do not depend on what was reused.
Events (``start`` once the arguments passed the engine's checks, ``piece`` per text delta,
then ``done`` or ``error``) go back to the request's asyncio loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from dataclasses import dataclass, field

from litegen.generate import GenerationResult, Generator
from litegen.serve.protocol import GenerationRequest


class ShuttingDown(Exception):
    """A queued request refused because the server is stopping."""


@dataclass(frozen=True)
class Event:
    kind: str  # "start", "piece", "done", "error"
    text: str = ""
    result: GenerationResult | None = None  # done (None when cancelled)
    error: BaseException | None = None


@dataclass(eq=False)
class Job:
    request: GenerationRequest
    loop: asyncio.AbstractEventLoop
    events: asyncio.Queue[Event] = field(default_factory=asyncio.Queue)
    cancelled: threading.Event = field(default_factory=threading.Event)

    def emit(self, event: Event) -> None:
        # The loop may be gone at shutdown; nobody is listening then.
        with contextlib.suppress(RuntimeError):
            self.loop.call_soon_threadsafe(self.events.put_nowait, event)


class EngineWorker:
    def __init__(self, generator: Generator) -> None:
        self.generator = generator
        self._session = generator.new_session()
        self._jobs: queue.Queue[Job | None] = queue.Queue()
        self._current: Job | None = None
        self._lock = threading.Lock()  # guards _current against cancel() races
        self._thread = threading.Thread(target=self._serve, name="litegen-engine", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def submit(self, request: GenerationRequest) -> Job:
        """Queues ``request``; call from the event loop that will read its events."""
        job = Job(request, asyncio.get_running_loop())
        self._jobs.put(job)
        return job

    def cancel(self, job: Job) -> None:
        """Stops ``job`` (its client went away): dropped if still queued, cancelled within
        one engine step if running."""
        job.cancelled.set()
        with self._lock:
            if self._current is job:
                self._session.cancel()

    def cancel_all(self) -> None:
        """Cancels the running job and refuses the queued ones (the server is shutting
        down); does not wait. Safe from a signal handler."""
        while True:
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                break
            if job is None:  # stop() was called already; keep the sentinel
                self._jobs.put(None)
                break
            job.cancelled.set()
            job.emit(Event("error", error=ShuttingDown("the server is shutting down")))
        with self._lock:
            if self._current is not None:
                self._current.cancelled.set()
                self._session.cancel()

    def stop(self, timeout: float = 10.0) -> None:
        """Cancels everything and ends the thread."""
        self.cancel_all()
        self._jobs.put(None)
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _serve(self) -> None:
        while (job := self._jobs.get()) is not None:
            if job.cancelled.is_set():
                continue
            with self._lock:
                self._current = job
            try:
                self._run(job)
            except BaseException as exc:  # reported to the request, the thread lives on
                job.emit(Event("error", error=exc))
            finally:
                with self._lock:
                    self._current = None

    def _run(self, job: Job) -> None:
        request = job.request
        session = self._session
        if request.kind == "chat":
            pieces = session.stream_chat(request.messages or [], **request.engine_kwargs)
        else:
            pieces = session.stream(request.prompt, **request.engine_kwargs)
        # Here the engine has accepted the request (its checks run before stream returns).
        job.emit(Event("start"))
        try:
            for piece in pieces:
                if job.cancelled.is_set():
                    break
                job.emit(Event("piece", text=piece))
        finally:
            pieces.close()
        done = not job.cancelled.is_set()
        job.emit(Event("done", result=session.last_result if done else None))
