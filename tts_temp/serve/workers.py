"""The workers behind a bounded queue: what both kinds share, and worker threads.

A job is a module-level function called as `fn(registry, *args)`, so the same job runs on a thread
(with the server's own registry) or in a worker process (with the registry that process loaded at
start; `processes`). Either kind answers `ready()` with the registry's `Catalogue`, which is all the
server's routers look names up in: with processes the server itself loads no model. Admission is
decided on the event loop: at most `workers + queue` requests are running or waiting; one more is
refused at once with a 503 and Retry-After rather than left to time out. Each worker gets
cores / workers torch threads, so N workers never oversubscribe.

Threads share one copy of the models, but whisper's decoding loop is Python between small kernels
and holds the GIL, so a second thread adds little; processes are the default (see docs/serve.md).
On threads, two transcription paths touch state shared between threads: Silero VAD's model is
stateful, and word timestamps flip whisper's class-wide sdpa flag and hook the model's
cross-attention. Requests with `vad_filter` or word timestamps hold `exclusive()`, every other
model call holds it shared, so they never overlap with one.
"""
from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from tts_temp.serve.registry import Catalogue

T = TypeVar("T")
KINDS = ("process", "thread")   # the first is the default


class SharedExclusiveLock:
    """Many shared holders or one exclusive holder; a waiting exclusive holder blocks new shared ones."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._shared = 0
        self._exclusive = False
        self._waiting = 0

    @contextlib.contextmanager
    def shared(self) -> Iterator[None]:
        with self._cond:
            self._cond.wait_for(lambda: not self._exclusive and not self._waiting)
            self._shared += 1
        try:
            yield
        finally:
            with self._cond:
                self._shared -= 1
                self._cond.notify_all()

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[None]:
        with self._cond:
            self._waiting += 1
            self._cond.wait_for(lambda: not self._exclusive and not self._shared)
            self._waiting -= 1
            self._exclusive = True
        try:
            yield
        finally:
            with self._cond:
                self._exclusive = False
                self._cond.notify_all()


def set_threads(n: int) -> None:
    import torch

    torch.set_num_threads(n)


def default_workers() -> int:
    return max(1, os.cpu_count() or 1)


def torch_threads(workers: int) -> int:
    return max(1, (os.cpu_count() or 1) // workers)


class Pool:
    """Admission control and the async entry point; subclasses say where `fn(registry, *args)` runs."""

    kind = ""

    def __init__(self, workers: int, queue: int, threads: int | None = None):
        if workers < 1:
            raise ValueError(f"--workers must be >= 1, got {workers}")
        if queue < 0:
            raise ValueError(f"--queue must be >= 0, got {queue}")
        self.workers, self.queue = workers, queue
        self.limit = workers + queue
        self.pending = 0
        if threads is not None and threads < 1:
            raise ValueError(f"--threads must be >= 1, got {threads}")
        self.threads = torch_threads(workers) if threads is None else threads
        self.failure: str | None = None   # set when no worker is left to run anything

    # ---- the lifecycle: start (may begin loading), ready (blocks until the workers can take jobs), shutdown
    def start(self, config: Any) -> None:
        """Begin: `config` (the server's options) says what to load."""
        raise NotImplementedError

    def ready(self) -> "Catalogue":
        """Block until the workers have loaded and can take jobs; what they serve. A model that does not
        load raises, with its message as the first line."""
        raise NotImplementedError

    def shutdown(self) -> None:
        raise NotImplementedError

    def submit(self, fn: Callable[..., T], args: tuple, exclusive: bool) -> Future:
        raise NotImplementedError

    async def run(self, fn: Callable[..., T], *args: Any, exclusive: bool = False) -> T:
        """`fn(registry, *args)` on a worker; a 503 when the queue is full or no worker is left.
        The slot is freed when the work ends, not when the client leaves, so a cancelled request
        cannot overfill the queue."""
        from tts_temp.serve.errors import ApiError, busy  # fastapi: imported only when serving

        if self.failure is not None:
            raise ApiError(503, f"no worker is running: {self.failure}", code="worker_failed")
        if self.pending >= self.limit:
            raise busy(f"the server is busy ({self.workers} worker(s), {self.queue} queued); retry shortly")
        self.pending += 1
        loop = asyncio.get_running_loop()
        try:
            future = self.submit(fn, args, exclusive)
        except BaseException:
            self.pending -= 1
            raise
        future.add_done_callback(lambda _: loop.call_soon_threadsafe(self._release))
        try:
            return await asyncio.wrap_future(future)
        except asyncio.CancelledError:
            # uvicorn cancels what is still running when its graceful shutdown times out: the client
            # gets a 503 in OpenAI's shape, not a 500 and a traceback in the log
            raise busy("the server is stopping; retry shortly", retry_after=5) from None

    def _release(self) -> None:
        self.pending -= 1


class ThreadWorkers(Pool):
    """`workers` threads over one registry, loaded by the server process itself (one copy of the models)."""

    kind = "thread"

    def __init__(self, workers: int, queue: int, threads: int | None = None):
        super().__init__(workers, queue, threads)
        self.lock = SharedExclusiveLock()
        self.registry: Any = None
        self._config: Any = None
        # torch.set_num_threads in the main thread does not reach OpenMP in threads started later (each
        # has its own thread count, and GEMM results depend on it): every worker sets its own
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="tts-temp-worker",
                                            initializer=set_threads, initargs=(self.threads,))

    def start(self, config: Any) -> None:
        self._config = config

    def ready(self) -> "Catalogue":
        from tts_temp.serve.registry import load_registry

        self.registry = load_registry(self._config)
        return self.registry.describe()

    def submit(self, fn: Callable[..., T], args: tuple, exclusive: bool) -> Future:
        def call() -> T:
            with (self.lock.exclusive() if exclusive else self.lock.shared()):
                return fn(self.registry, *args)

        return self._executor.submit(call)

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


def make_pool(kind: str, workers: int, queue: int, threads: int | None = None) -> Pool:
    """The pool of `kind`; `threads` torch threads per worker (None: cores / workers)."""
    if kind == "thread":
        return ThreadWorkers(workers, queue, threads)
    if kind == "process":
        from tts_temp.serve.processes import ProcessWorkers

        return ProcessWorkers(workers, queue, threads)
    raise ValueError(f"--worker-kind must be one of {', '.join(KINDS)}, got {kind!r}")
