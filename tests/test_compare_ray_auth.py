"""`--ray-address` against a head started the README's way (`ray start --head`) while a Ray token exists.

Ray then starts the head with token authentication but does not turn it on in a driver that names an
explicit address; the sweep must join anyway, and a refused or unreachable cluster must be one line
that names the cause. The head runs under a temporary HOME (its own ~/.ray/auth_token) and its own
temp dir, and is stopped by its own process ids: other Ray processes on the machine are left alone.
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest

from tts_temp.cli import main

psutil = pytest.importorskip("psutil")
pytest.importorskip("ray", reason="Ray (the tts_temp[ray] extra) is not installed")

DATA = Path(__file__).parent / "data"
CLIP = DATA / "jfk.wav"
AUTH_VARIABLES = ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH", "RAY_ADDRESS")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in AUTH_VARIABLES}
    env.update(HOME=str(home), RAY_USAGE_STATS_ENABLED="0", OMP_NUM_THREADS="1", **extra)
    return env


def _stop(proc: subprocess.Popen) -> None:
    """The head and everything it started, by pid (`ray stop` would stop every Ray on the machine)."""
    try:
        root = psutil.Process(proc.pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return
    for p in procs:
        try:
            p.terminate()
        except psutil.NoSuchProcess:
            pass
    _, alive = psutil.wait_procs(procs, timeout=15)
    for p in alive:
        try:
            p.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(alive, timeout=15)


@pytest.fixture(scope="module")
def head():
    home = Path(tempfile.mkdtemp(prefix="home", dir="/tmp"))
    temp_dir = Path(tempfile.mkdtemp(prefix="ray", dir="/tmp"))  # short: Ray's socket paths have a length limit
    (home / ".ray").mkdir()
    (home / ".ray" / "auth_token").write_text(uuid.uuid4().hex, encoding="utf-8")
    port = _free_port()
    log = open(temp_dir / "head.log", "w+", encoding="utf-8")
    ray_cli = Path(sys.executable).with_name("ray")
    proc = subprocess.Popen(
        [str(ray_cli), "start", "--head", "--block", "--node-ip-address", "127.0.0.1", "--port", str(port),
         "--num-cpus", "1", "--include-dashboard=false", "--temp-dir", str(temp_dir),
         "--ray-client-server-port", str(_free_port()), "--dashboard-port", str(_free_port()),
         "--dashboard-agent-listen-port", str(_free_port()), "--metrics-export-port", str(_free_port())],
        stdout=log, stderr=subprocess.STDOUT, env=_env(home), cwd=temp_dir)
    try:
        deadline = time.time() + 180
        while "Ray runtime started" not in (temp_dir / "head.log").read_text(encoding="utf-8"):
            assert proc.poll() is None and time.time() < deadline, (temp_dir / "head.log").read_text()[-3000:]
            time.sleep(0.5)
        yield {"home": home, "address": f"127.0.0.1:{port}", "tmp": temp_dir}
    finally:
        _stop(proc)
        log.close()
        shutil.rmtree(home, ignore_errors=True)
        shutil.rmtree(temp_dir, ignore_errors=True)


def _sweep(out: Path, address: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    # The clip named relative to the driver's folder: the head's workers run in another one.
    args = ["compare-asr", CLIP.name, "--temperatures", "0", "--seeds", "1", "--no-fallback-row", "--out", str(out),
            "--ray-address", address]
    return subprocess.run([sys.executable, "-m", "tts_temp.cli", *args], capture_output=True, text=True, env=env,
                          cwd=CLIP.parent, timeout=300)


def _rows(folder: Path) -> dict[str, dict]:
    rows = [json.loads(l) for l in (folder / "results.jsonl").read_text(encoding="utf-8").splitlines() if l]
    return {r["key"]: r for r in rows}


def _error_line(stderr: str) -> str:
    lines = [l for l in stderr.splitlines() if l.startswith("tts-temp compare-asr: error:")]
    assert len(lines) == 1 and "Traceback" not in stderr, stderr[-3000:]
    return lines[0]


def test_a_sweep_joins_a_token_authenticated_head(head, tmp_path):
    assert main(["compare-asr", str(CLIP), "--temperatures", "0", "--seeds", "1", "--no-fallback-row",
                 "--out", str(tmp_path / "serial")]) == 0
    joined = _sweep(tmp_path / "run", head["address"], _env(head["home"]))
    assert joined.returncode == 0, joined.stderr[-3000:]
    assert _rows(tmp_path / "run") == _rows(tmp_path / "serial")


def test_a_refused_token_is_one_line_that_says_so(head, tmp_path):
    # The user opted out of token mode: the cluster refuses the driver, and the line says why.
    refused = _sweep(tmp_path / "run", head["address"],
                     _env(head["home"], RAY_AUTH_MODE="disabled", RAY_NUM_REDIS_GET_RETRIES="2"))
    assert refused.returncode == 2
    line = _error_line(refused.stderr)
    assert "token authentication" in line and "RAY_AUTH_MODE=disabled" in line, line


def test_nothing_listening_is_one_line_at_once(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    address = f"127.0.0.1:{_free_port()}"
    start = time.time()
    gone = _sweep(tmp_path / "run", address, _env(home, RAY_NUM_REDIS_GET_RETRIES="2"))
    assert gone.returncode == 2 and time.time() - start < 60
    line = _error_line(gone.stderr)
    assert f"cannot reach the Ray cluster at {address}" in line and "refused" in line.lower(), line
