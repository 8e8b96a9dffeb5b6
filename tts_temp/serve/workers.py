"""N worker threads behind a bounded queue, and the lock for the paths that are not thread-safe yet.

Threads, not processes: the models are loaded once and shared, and torch releases the GIL inside
its kernels. Each worker gets cores / workers torch threads, so N workers never oversubscribe the
machine. Admission is decided on the event loop: at most `workers + queue` requests are running or
waiting; one more is refused at once with a 503 and Retry-After rather than left to time out.

Two transcription paths touch state shared between threads: Silero VAD's model is stateful
(`reset_states` then a stream of calls), and word timestamps flip whisper's class-wide sdpa flag
and hook the model's cross-attention. Until those are made thread-safe in `asr`, requests with
`vad_filter` or word timestamps hold `ExclusiveLock.exclusive()`, and every other model call
holds it shared, so they never overlap with one.
"""
from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


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


def _set_threads(n: int) -> None:
    import torch

    torch.set_num_threads(n)


def default_workers() -> int:
    return max(1, os.cpu_count() or 1)


class WorkerPool:
    """Run blocking model calls on `workers` threads; refuse work beyond `workers + queue`."""

    def __init__(self, workers: int, queue: int):
        if workers < 1:
            raise ValueError(f"--workers must be >= 1, got {workers}")
        if queue < 0:
            raise ValueError(f"--queue must be >= 0, got {queue}")
        self.workers, self.queue = workers, queue
        self.limit = workers + queue
        self.pending = 0
        self.lock = SharedExclusiveLock()
        # torch.set_num_threads in the main thread does not reach OpenMP in threads started later (each
        # has its own thread count, and GEMM results depend on it): every worker sets its own
        self.threads = self.torch_threads(workers)
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="tts-temp-worker",
                                            initializer=_set_threads, initargs=(self.threads,))

    @staticmethod
    def torch_threads(workers: int) -> int:
        return max(1, (os.cpu_count() or 1) // workers)

    async def run(self, fn: Callable[..., T], *args: Any, exclusive: bool = False) -> T:
        """`fn(*args)` on a worker; a 503 when the queue is full. The slot is freed when the work
        ends, not when the client leaves, so a cancelled request cannot overfill the queue."""
        if self.pending >= self.limit:
            from tts_temp.serve.errors import busy  # fastapi: imported only when serving

            raise busy(f"the server is busy ({self.workers} worker(s), {self.queue} queued); retry shortly")
        self.pending += 1
        loop = asyncio.get_running_loop()

        def call() -> T:
            with (self.lock.exclusive() if exclusive else self.lock.shared()):
                return fn(*args)

        future = self._executor.submit(call)
        future.add_done_callback(lambda _: loop.call_soon_threadsafe(self._release))
        return await asyncio.wrap_future(future)

    def _release(self) -> None:
        self.pending -= 1

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
