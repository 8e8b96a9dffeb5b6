"""Where a sweep's items run: in this process (the default), or on Ray actors, behind one function.

`run_tasks(make_worker, tasks, options)` yields `(index, result, error)` as each task finishes, in
completion order; the driver (the sweep) is the only one that writes results. A worker is built
once per process by `make_worker()` (it loads the model and the voice) and then called once per
task, so models are loaded once per worker, not once per item.

- `workers == 1` and no address: everything runs here, in order, and Ray is never imported.
- `workers > 1`: a local Ray is started with that many CPUs; `ray_address`: an existing cluster is
  joined (then `workers` actors are placed on it). A head started by `ray start --head` while a Ray
  token exists (~/.ray/auth_token, RAY_AUTH_TOKEN_PATH, RAY_AUTH_TOKEN) demands that token, so the
  driver turns Ray's token mode on for any address when a token is there and RAY_AUTH_MODE is unset
  (Ray itself does so only for 'auto'); a token client still joins a cluster without authentication.
Each worker pins torch to `threads_per_worker` threads, in-process too, so a result never depends on
how many workers computed the sweep. A Ray worker process that dies has its in-flight tasks retried
on a fresh actor (up to `max_retries` times each, then reported as an error), so no task is lost
and none is reported twice.
"""
from __future__ import annotations

import contextlib
import os
import socket
from collections import Counter, deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from tts_temp.errors import UserError

IN_FLIGHT_PER_WORKER = 2   # one running, one queued: a worker never waits for the driver
AUTH_MODE_VARIABLE = "RAY_AUTH_MODE"   # Ray reads its authentication mode from this variable only
CONNECT_PROBE_SECONDS = 10.0


@dataclass(frozen=True)
class EngineOptions:
    workers: int = 1
    ray_address: str | None = None
    threads_per_worker: int = 1
    max_retries: int = 3

    def validate(self) -> None:
        if int(self.workers) != self.workers or self.workers < 1:
            raise UserError(f"--workers must be a whole number >= 1, got {self.workers}")
        if int(self.threads_per_worker) != self.threads_per_worker or self.threads_per_worker < 1:
            raise UserError(f"--threads-per-worker must be a whole number >= 1, got {self.threads_per_worker}")

    @property
    def uses_ray(self) -> bool:
        return self.workers > 1 or self.ray_address is not None


@contextlib.contextmanager
def torch_threads(n: int):
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def run_tasks(make_worker: Callable[[], Callable[[Any], Any]], tasks: Sequence[Any],
              options: EngineOptions) -> Iterator[tuple[int, Any, str | None]]:
    """Run every task once; yield (task index, result, None) or (task index, None, error message)."""
    options.validate()
    if not tasks:
        return
    if options.uses_ray:
        yield from _ray(make_worker, tasks, options)
    else:
        yield from _serial(make_worker, tasks, options)


def _serial(make_worker, tasks, options: EngineOptions):
    with torch_threads(options.threads_per_worker):
        worker = make_worker()
        for i, task in enumerate(tasks):
            yield i, worker(task), None


class _Host:
    """The Ray actor: one worker, built once, with torch pinned to its share of the CPUs."""

    def __init__(self, make_worker, threads: int):
        import torch

        torch.set_num_threads(threads)
        self.worker = make_worker()

    def run(self, task):
        return self.worker(task)

    def pid(self) -> int:
        return os.getpid()


def _connect(options: EngineOptions) -> bool:
    """Start or join Ray; True when this call started it (and so must shut it down)."""
    try:
        import ray
    except ImportError:
        raise UserError("--workers > 1 and --ray-address need Ray: pip install 'tts_temp[ray]'") from None
    if ray.is_initialized():
        return False
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # no network calls from an offline machine
    common = dict(include_dashboard=False, log_to_driver=False, configure_logging=False)
    refused = getattr(ray.exceptions, "AuthenticationError", RuntimeError)  # Rays with token auth only
    try:
        if options.ray_address is not None:
            _check_reachable(options.ray_address)
            _token_mode_if_token_available()
            ray.init(address=options.ray_address, **common)
        else:
            ray.init(num_cpus=options.workers * options.threads_per_worker, **common)
    except (ConnectionError, RuntimeError, ValueError, refused) as exc:
        raise UserError(_connect_failure(options.ray_address, exc)) from None
    return True


def _token_mode_if_token_available() -> None:
    """Ray's own rule for 'auto', applied to every address: token mode on when a token is found and
    RAY_AUTH_MODE is unset (an explicit RAY_AUTH_MODE, 'disabled' included, is left as it is)."""
    if AUTH_MODE_VARIABLE in os.environ:
        return
    try:
        from ray._private.authentication.authentication_token_setup import (
            maybe_enable_token_auth_if_token_available,
        )
    except ImportError:  # a Ray without token authentication: nothing to turn on
        return
    maybe_enable_token_auth_if_token_available(warn_if_disabled=False)


def _check_reachable(address: str) -> None:
    """A HOST:PORT with nothing listening costs Ray minutes of retries before a vague 'Failed to connect';
    one TCP connect says it at once ('auto' and ray:// addresses are left to Ray)."""
    host, sep, port = address.rpartition(":")
    if not sep or "://" in address or not port.isdigit():
        return
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_PROBE_SECONDS).close()
    except OSError as exc:
        raise UserError(f"cannot reach the Ray cluster at {address}: {exc.strerror or exc} "
                        "(is a head running there, started with `ray start --head`?)") from None


def _connect_failure(address: str | None, exc: BaseException) -> str:
    """One line with the real cause: Ray wraps it (a refused token, a GCS that never answered) in
    'Failed to connect to Ray cluster at ...' and puts the inner error's traceback in the text."""
    root = exc
    while root.__cause__ is not None:
        root = root.__cause__
    cause = _last_line(str(root))
    where = f"the Ray cluster at {address}" if address is not None else "a local Ray"
    if type(root).__name__ == "AuthenticationError" or any(
            mark in cause for mark in ("AuthenticationError", "InvalidAuthToken", "Unauthenticated")):
        said = cause.rsplit("Error: ", 1)[-1].split(". ")[0]   # Ray's sentence, without its help text
        mode = os.environ.get(AUTH_MODE_VARIABLE, "unset")
        return (f"cannot join {where}: it requires token authentication ({said}; {AUTH_MODE_VARIABLE}={mode}); "
                "give the cluster's token in ~/.ray/auth_token, RAY_AUTH_TOKEN_PATH or RAY_AUTH_TOKEN")
    return f"cannot start or reach {where}: {cause}"


def _last_line(message: str) -> str:
    lines = [l.strip() for l in message.splitlines() if l.strip()]
    return lines[-1] if lines else message


def _ray(make_worker, tasks, options: EngineOptions):
    import ray
    from ray.exceptions import RayActorError, RayTaskError

    started = _connect(options)
    try:
        host = ray.remote(num_cpus=options.threads_per_worker, max_restarts=0)(_Host)
        actors = [host.remote(make_worker, options.threads_per_worker) for _ in range(options.workers)]
        pending = deque(range(len(tasks)))
        in_flight: dict[Any, tuple[int, Any]] = {}   # object ref -> (task index, actor)
        load: Counter = Counter()                    # tasks in flight per actor
        retries: Counter = Counter()
        dead: set = set()

        def feed(actor) -> None:
            while pending and load[actor] < IN_FLIGHT_PER_WORKER:
                i = pending.popleft()
                in_flight[actor.run.remote(tasks[i])] = (i, actor)
                load[actor] += 1

        for actor in actors:
            feed(actor)
        while in_flight:
            (ref,), _ = ray.wait(list(in_flight), num_returns=1)
            i, actor = in_flight.pop(ref)
            load[actor] -= 1
            try:
                result = ray.get(ref)
            except RayActorError as exc:
                if "creation task" in str(exc):     # the worker could not start (model, import): no retry
                    reason = "worker failed to start: " + _last_line(str(exc))
                    for j in [i, *pending, *(j for j, _ in in_flight.values())]:
                        yield j, None, reason
                    return
                retries[i] += 1                     # the worker process died: retry its task elsewhere
                if retries[i] > options.max_retries:
                    yield i, None, f"worker died {retries[i]} times on this item ({type(exc).__name__})"
                else:
                    pending.appendleft(i)
                if actor not in dead:
                    dead.add(actor)
                    actors.remove(actor)
                    actors.append(host.remote(make_worker, options.threads_per_worker))
                for a in actors:
                    feed(a)
                continue
            except RayTaskError as exc:             # the task itself raised: one bad item
                yield i, None, str(exc.cause if getattr(exc, "cause", None) else exc).splitlines()[0]
            else:
                yield i, result, None
            feed(actor)
            for a in actors:                        # a replacement actor may be idle
                feed(a)
    finally:
        if started:
            ray.shutdown()
