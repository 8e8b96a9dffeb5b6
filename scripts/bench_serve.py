"""Requests per second of `tts-temp serve` with 1 and 2 workers (or any list), from a small asyncio client.

Starts one server per worker count and kind (each on a free port, stopped by its pid at the end),
then runs `--repeats` rounds; in each round every server gets the same `--requests` requests with
`--concurrency` in flight, one server after the other, so the servers are compared at the same
time of day on a machine whose load changes. Prints every run (with the load average and the CPU
the server's processes used), then a markdown table of medians, spreads and the ratio to the first
configuration within each round. Example (the numbers in docs/serve.md):

    python scripts/bench_serve.py --workers 1 2 --kinds process --requests 6 --concurrency 2 --repeats 3
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx2 as httpx

ROOT = Path(__file__).resolve().parents[1]
JFK = ROOT / "tts_temp" / "data" / "jfk.wav"
# No temperature: the served voice's default (tts/defaults.py), as a plain client would ask.
SPEECH = {"model": "tts-1", "voice": "alloy", "input": "The birch canoe slid on the smooth planks.",
          "response_format": "wav"}
TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU of `pid` and every live process below it (Linux /proc; 0 elsewhere)."""
    parents: dict[int, list[int]] = {}
    stats: dict[int, list[str]] = {}
    for entry in Path("/proc").iterdir() if Path("/proc").is_dir() else []:
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            stats[int(entry.name)] = fields
            parents.setdefault(int(fields[1]), []).append(int(entry.name))
    total, todo = 0.0, [pid]
    while todo:
        p = todo.pop()
        if p in stats:
            total += (int(stats[p][11]) + int(stats[p][12])) / TICKS
        todo.extend(parents.get(p, []))
    return total


async def wait_ready(url: str, proc: subprocess.Popen, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient() as c:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise SystemExit(f"the server exited with {proc.returncode}")
            try:
                if (await c.get(url + "/health", timeout=5)).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.3)
    raise SystemExit("the server did not become ready")


async def load(url: str, kind: str, requests: int, concurrency: int) -> float:
    audio = JFK.read_bytes()
    sem = asyncio.Semaphore(concurrency)

    async def one(c: httpx.AsyncClient, i: int) -> None:
        async with sem:
            if kind == "transcribe":
                r = await c.post(url + "/v1/audio/transcriptions", files={"file": ("jfk.wav", audio)},
                                 data={"model": "whisper-1", "seed": str(i)})
            else:
                r = await c.post(url + "/v1/audio/speech", json={**SPEECH, "seed": i})
            r.raise_for_status()

    async with httpx.AsyncClient(timeout=600) as c:
        await asyncio.gather(*(one(c, requests + 1 + i) for i in range(concurrency)))   # warm-up: not timed
        t0 = time.perf_counter()
        await asyncio.gather(*(one(c, i) for i in range(1, requests + 1)))
        return requests / (time.perf_counter() - t0)


@contextlib.contextmanager
def server(workers: int, worker_kind: str, args):
    port = free_port()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    env.pop("OMP_NUM_THREADS", None)   # the server gives each worker cores / workers threads itself
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen([sys.executable, "-m", "tts_temp.cli", "serve", "--port", str(port), "--model",
                                 args.model, "--workers", str(workers), "--worker-kind", worker_kind,
                                 "--queue", str(args.requests + args.concurrency)]
                                + ([] if args.threads is None else ["--threads", str(args.threads)]),
                                stdout=log, stderr=subprocess.STDOUT, env=env)
        try:
            url = f"http://127.0.0.1:{port}"
            asyncio.run(wait_ready(url, proc))
            yield url, proc
        finally:
            os.kill(proc.pid, signal.SIGTERM)
            proc.wait(60)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    p.add_argument("--kinds", nargs="+", choices=("process", "thread"), default=["process"])
    p.add_argument("--kind", choices=("transcribe", "speech"), default="transcribe")
    p.add_argument("--model", default="tiny.en")
    p.add_argument("--threads", type=int, default=None,
                   help="torch threads per worker (default: the server's, cores / workers)")
    p.add_argument("--requests", type=int, default=16)
    p.add_argument("--concurrency", type=int, default=4)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    from tts_temp.asr import kernels   # the CPU's name and ISA flags, as the other benchmarks print them

    configs = [(w, k) for k in args.kinds for w in args.workers if not (w == 1 and k != args.kinds[0])]
    print(f"CPU: {kernels.cpu_info().describe()} ({os.cpu_count()} cores); {time.strftime('%Y-%m-%d %H:%M %Z')}; {args.kind}, threads per worker {args.threads or 'cores / workers'}, "
          f"model {args.model}, {args.requests} requests, {args.concurrency} in flight, {args.repeats} rounds",
          flush=True)
    rates: dict[tuple[int, str], list[float]] = {c: [] for c in configs}
    ratios: dict[tuple[int, str], list[float]] = {c: [] for c in configs}
    with contextlib.ExitStack() as stack:
        servers = {c: stack.enter_context(server(*c, args)) for c in configs}
        for r in range(args.repeats):
            first = None
            for c, (url, proc) in servers.items():
                cpu0, load0, t0 = tree_cpu_seconds(proc.pid), os.getloadavg()[0], time.perf_counter()
                rps = asyncio.run(load(url, args.kind, args.requests, args.concurrency))
                wall = time.perf_counter() - t0
                cores = (tree_cpu_seconds(proc.pid) - cpu0) / wall
                first = first or rps
                rates[c].append(rps)
                ratios[c].append(rps / first)
                print(f"round {r + 1}: {c[0]} {c[1]} worker(s): {rps:.2f} req/s ({rps / first:.2f}x), server used "
                      f"{cores:.2f} cores, load average {load0:.1f} -> {os.getloadavg()[0]:.1f}", flush=True)
    print("\n| workers | kind | requests/s, median (min-max) | vs first, median (min-max) |\n|---:|---|---:|---:|")
    for c in configs:
        rs, qs = rates[c], ratios[c]
        print(f"| {c[0]} | {c[1]} | {statistics.median(rs):.2f} ({min(rs):.2f}-{max(rs):.2f}) | "
              f"{statistics.median(qs):.2f}x ({min(qs):.2f}-{max(qs):.2f}) |")


if __name__ == "__main__":
    main()
