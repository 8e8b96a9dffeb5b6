"""Worker processes: each loads the models once, at start, and runs jobs sent over its own pipe.

Why processes: whisper's decoding loop is Python between small kernels and holds the GIL, so
threads in one process barely overlap; processes do, as uvicorn's and gunicorn's workers do.
Processes are spawned, not forked (a fork of a process that has started OpenMP threads can hang).
Once loaded, a worker sends back its registry's catalogue (names, defaults, what each model can do):
the server answers lookups from the first worker's and loads no model itself, so memory is N copies.

One thread in the server per worker takes jobs from a shared queue, sends each to its process and
waits for the answer or the process's death. A worker that dies is logged, its request fails with
a 503 in OpenAI's shape, and it is started again; if it cannot be, and none is left, every request
gets a 503 and /health says failed. A worker exits when its pipe closes or the server is gone (even
mid-request), so it does not outlive a server killed outright; on shutdown workers are stopped
and reaped.
"""
from __future__ import annotations

import logging
import multiprocessing
import os
import queue as queue_
import signal
import threading
import time
from concurrent.futures import Future
from multiprocessing.connection import Connection, wait
from typing import Any, Callable

from tts_temp.serve.registry import Catalogue
from tts_temp.serve.workers import Pool, set_threads

log = logging.getLogger("tts_temp.serve")
STOP_SECONDS = 5.0


class WorkerDied(Exception):
    """The worker process running a request died (killed, out of memory, a crash in native code)."""


def _first_line(exc: BaseException) -> str:
    text = str(exc)
    return text.splitlines()[0] if text else type(exc).__name__


def _exit_with_parent(parent: int) -> None:
    """A worker busy with a long request would notice the end of its pipe only afterwards: when the
    server is killed outright, stop now rather than finish work nobody will receive."""
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(0)


def worker_main(conn: Connection, config: Any, threads: int) -> None:
    """A worker process: load, say ready (or why not), then answer jobs until the pipe closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)   # ctrl-C reaches the whole process group: the server stops us
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), name="tts-temp-parent-watch", daemon=True).start()
    set_threads(threads)
    try:
        from tts_temp.serve.registry import load_registry

        registry = load_registry(config)
        catalogue = registry.describe()
    except BaseException as exc:  # noqa: BLE001 - any failure to load is reported, then the worker exits
        conn.send(("failed", _first_line(exc)))
        return
    conn.send(("ready", catalogue))
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):
            return
        if job is None:
            return
        fn, args = job
        try:
            answer: tuple[str, Any] = ("ok", fn(registry, *args))
        except Exception as exc:  # noqa: BLE001 - the request's error goes back to it
            answer = ("error", exc)
        try:
            conn.send(answer)
        except (EOFError, OSError):
            return
        except Exception as exc:  # noqa: BLE001 - an answer that does not pickle
            conn.send(("error", RuntimeError(f"a worker's answer could not be sent: {_first_line(exc)}")))


class _Worker:
    """One worker process and the pipe to it."""

    def __init__(self, index: int, config: Any, threads: int):
        ctx = multiprocessing.get_context("spawn")
        self.index = index
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=worker_main, args=(child, config, threads), daemon=True,
                                name=f"tts-temp-worker-{index}")
        self.proc.start()
        child.close()   # only the worker holds its end: when the server goes, the worker reads EOF
        self.catalogue: Catalogue | None = None   # what it loaded, once ready

    def wait_ready(self) -> str | None:
        """None once loaded (its catalogue kept), else why it did not load."""
        ready = wait([self.conn, self.proc.sentinel])
        if self.conn in ready:
            try:
                status, value = self.conn.recv()
            except (EOFError, OSError):
                status, value = "failed", None
            if status == "ready":
                self.catalogue = value
                return None
            if value:
                return value
        self.proc.join(1)
        return f"worker {self.index} exited with code {self.proc.exitcode} while loading"

    def died(self) -> str:
        self.proc.join(1)
        return f"worker {self.index} (pid {self.proc.pid}) died with exit code {self.proc.exitcode}"

    def call(self, fn: Callable, args: tuple) -> tuple[str, Any]:
        """("ok", result), ("error", exception) or ("died", message). A job that does not pickle
        raises here, before anything is written."""
        from multiprocessing.reduction import ForkingPickler

        data = bytes(ForkingPickler.dumps((fn, args)))
        try:
            self.conn.send_bytes(data)
            ready = wait([self.conn, self.proc.sentinel])
        except OSError:
            return "died", self.died()
        if self.conn in ready:
            try:
                return self.conn.recv()
            except (EOFError, OSError):
                pass
        return "died", self.died()

    def stop(self) -> None:
        try:
            self.conn.close()   # an idle worker reads EOF and exits
        except OSError:
            pass
        self.proc.join(STOP_SECONDS if self.proc.is_alive() else 0)
        if self.proc.is_alive():
            self.proc.terminate()
            self.proc.join(STOP_SECONDS)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join()


class ProcessWorkers(Pool):
    """`workers` processes, each with its own copy of the models and cores / workers torch threads; the
    server process holds only their catalogue."""

    kind = "process"

    def __init__(self, workers: int, queue: int, threads: int | None = None):
        super().__init__(workers, queue, threads)
        self._jobs: queue_.Queue = queue_.Queue()
        self._slots: list[_Worker | None] = []
        self._threads: list[threading.Thread] = []
        self._alive = 0
        self._lock = threading.Lock()
        self._stopping = False
        self._config: Any = None

    def start(self, config: Any) -> None:
        """Spawn the workers; they load in parallel."""
        self._config = config
        self._slots = [_Worker(i, config, self.threads) for i in range(self.workers)]

    def ready(self) -> Catalogue:
        """Wait until every worker has loaded; one that does not load stops the server with its message.
        What they serve is the first worker's catalogue (each loaded the same options)."""
        failures = [f for f in (w.wait_ready() for w in self._slots) if f is not None]
        if failures:
            self.shutdown()
            raise RuntimeError(failures[0])
        catalogue = self._slots[0].catalogue
        assert catalogue is not None   # set by a successful wait_ready
        self._alive = self.workers
        log.info("%d worker process(es) ready: pids %s, %d torch thread(s) each", self.workers,
                 ", ".join(str(w.proc.pid) for w in self._slots), self.threads)
        for i in range(self.workers):
            t = threading.Thread(target=self._serve, args=(i,), name=f"tts-temp-worker-{i}", daemon=True)
            t.start()
            self._threads.append(t)
        return catalogue

    def submit(self, fn: Callable, args: tuple, exclusive: bool) -> Future:
        future: Future = Future()
        self._jobs.put((fn, args, future))
        return future

    def _serve(self, i: int) -> None:
        """Feed worker i from the queue; start it again when it dies."""
        while True:
            job = self._jobs.get()
            if job is None or self._stopping:
                if job is not None:
                    job[2].set_exception(WorkerDied("the server is stopping"))
                return
            fn, args, future = job
            if not self._slots[i].proc.is_alive():   # died while idle: start it again before giving it the job
                log.error("%s while idle; starting it again", self._slots[i].died())
                if not self._restart(i):
                    if self.failure is None:
                        self._jobs.put(job)   # another worker takes it
                    else:
                        future.set_exception(WorkerDied(self.failure))
                    return
            if not future.set_running_or_notify_cancel():
                continue
            try:
                status, value = self._slots[i].call(fn, args)
            except Exception as exc:  # noqa: BLE001 - the job did not pickle (a bug): the request gets a 500
                future.set_exception(exc)
                continue
            if status == "ok":
                future.set_result(value)
            elif status == "error":
                future.set_exception(value)
            else:
                if not self._stopping:
                    log.error("%s while running a request; starting it again", value)
                future.set_exception(WorkerDied(value))
                if self._stopping:
                    return
                if not self._restart(i):
                    return

    def _restart(self, i: int) -> bool:
        worker = _Worker(i, self._config, self.threads)
        self._slots[i] = worker
        failure = worker.wait_ready()
        if failure is None:
            log.info("worker %d restarted: pid %d", i, worker.proc.pid)
            return True
        log.error("worker %d could not be started again: %s", i, failure)
        with self._lock:
            self._alive -= 1
            if self._alive == 0:
                self.failure = failure
                self._fail_queued(f"no worker is running: {failure}")
        return False

    def _fail_queued(self, message: str) -> None:
        while True:
            try:
                job = self._jobs.get_nowait()
            except queue_.Empty:
                return
            if job is not None:
                job[2].set_exception(WorkerDied(message))

    def shutdown(self) -> None:
        """Stop every worker and reap it; requests still queued fail."""
        self._stopping = True
        self._fail_queued("the server is stopping")
        for _ in self._threads:
            self._jobs.put(None)
        for w in self._slots:
            if w is not None:
                w.stop()
