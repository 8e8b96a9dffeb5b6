"""A real `tts-temp serve` for the serve tests: a free port, a subprocess, stopped by its own pid.

The server is started exactly as a user starts it (`python -m tts_temp.cli serve ...`), from this
tree, and waited for until /health says ok; its log is attached to any failure.
"""
from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
JFK = DATA / "jfk.wav"


def base_installed() -> bool:
    from tts_temp.asr import packaged

    return packaged.locate("base") is not None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def env(**extra: str) -> dict[str, str]:
    """This tree first on the path, so the subprocess runs the code under test."""
    out = dict(os.environ)
    out["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])
    out.update(extra)
    return out


@dataclass
class Server:
    url: str
    proc: subprocess.Popen
    log_path: Path

    @property
    def api(self) -> str:
        return self.url + "/v1"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]


def health(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url + "/health", timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


@contextlib.contextmanager
def serve(*args: str, timeout: float = 240, threads: str | None = None) -> Iterator[Server]:
    """Start `tts-temp serve --port P ARGS...`, wait for /health 200, stop it by its pid afterwards."""
    port = free_port()
    log_file = tempfile.NamedTemporaryFile(prefix="tts-temp-serve-", suffix=".log", delete=False)
    extra = {"OMP_NUM_THREADS": threads} if threads else {}
    proc = subprocess.Popen([sys.executable, "-m", "tts_temp.cli", "serve", "--port", str(port), *args],
                            stdout=log_file, stderr=subprocess.STDOUT, env=env(**extra), cwd=ROOT)
    server = Server(f"http://127.0.0.1:{port}", proc, Path(log_file.name))
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise AssertionError(f"tts-temp serve exited with {proc.returncode}:\n{server.log()}")
            try:
                code, _ = health(server.url)
                if code == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"tts-temp serve did not become ready in {timeout} s:\n{server.log()}")
            time.sleep(0.3)
        try:
            yield server
        except BaseException as exc:   # what the server logged belongs with any failure inside the test
            exc.add_note(f"server log (last 4,000 characters):\n{server.log()}")
            raise
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(10)
        log_file.close()
        os.unlink(log_file.name)


def cli(*args: str, threads: str | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    """`tts-temp ARGS...` from this tree, as a user runs it."""
    extra = {"OMP_NUM_THREADS": threads} if threads else {}
    return subprocess.run([sys.executable, "-m", "tts_temp.cli", *args], capture_output=True, text=True,
                          env=env(**extra), cwd=ROOT, timeout=timeout)
