"""Requests per second of `tts-temp serve` with 1 and 2 workers (or any list), from a small asyncio client.

Starts the server itself for each worker count (a free port, stopped by its pid), sends `--requests`
requests with `--concurrency` in flight, and prints a markdown table with the CPU model and the
ratio to the first row. Example (the numbers in docs/serve.md):

    python scripts/bench_serve.py --workers 1 2 --kind transcribe --requests 24 --concurrency 4
"""
from __future__ import annotations

import argparse
import asyncio
import os
import platform
import signal
import socket
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


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def wait_ready(url: str, proc: subprocess.Popen, timeout: float = 300) -> None:
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
        await one(c, 0)   # warm-up, not timed
        t0 = time.perf_counter()
        await asyncio.gather(*(one(c, i) for i in range(1, requests + 1)))
        return requests / (time.perf_counter() - t0)


def run_one(workers: int, args) -> float:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    env.pop("OMP_NUM_THREADS", None)   # the server gives each worker cores / workers threads itself
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen([sys.executable, "-m", "tts_temp.cli", "serve", "--port", str(port), "--model",
                                 args.model, "--workers", str(workers), "--queue", str(args.requests + 1)],
                                stdout=log, stderr=subprocess.STDOUT, env=env)
        try:
            asyncio.run(wait_ready(url, proc))
            return asyncio.run(load(url, args.kind, args.requests, args.concurrency))
        finally:
            os.kill(proc.pid, signal.SIGTERM)
            proc.wait(30)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    p.add_argument("--kind", choices=("transcribe", "speech"), default="transcribe")
    p.add_argument("--model", default="tiny.en")
    p.add_argument("--requests", type=int, default=24)
    p.add_argument("--concurrency", type=int, default=4)
    args = p.parse_args()
    print(f"CPU: {cpu_model()} ({os.cpu_count()} cores); {args.kind}, model {args.model}, "
          f"{args.requests} requests, {args.concurrency} in flight")
    rows = [(w, run_one(w, args)) for w in args.workers]
    print("\n| workers | requests/s | vs first |\n|---:|---:|---:|")
    for w, rps in rows:
        print(f"| {w} | {rps:.2f} | {rps / rows[0][1]:.2f}x |")


if __name__ == "__main__":
    main()
