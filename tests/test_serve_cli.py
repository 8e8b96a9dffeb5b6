"""`tts-temp serve`'s command line: bad options and a missing extra are one line and exit 2, and the
other commands keep working where the serve extra is not installed."""
from __future__ import annotations

import subprocess
import sys

from serve_server import ROOT, cli, env

WITHOUT_SERVE_EXTRA = """
import builtins, sys
real = builtins.__import__
def guard(name, *a, **k):
    if name.split(".")[0] in ("fastapi", "starlette", "uvicorn", "multipart"):
        raise ModuleNotFoundError(f"No module named {name!r}", name=name)
    return real(name, *a, **k)
builtins.__import__ = guard
from tts_temp.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _without_extra(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", WITHOUT_SERVE_EXTRA, *args], capture_output=True, text=True,
                          env=env(), cwd=ROOT, timeout=300)


def test_other_commands_work_without_the_serve_extra():
    proc = _without_extra("--help")
    assert proc.returncode == 0 and "serve" in proc.stdout and "transcribe" in proc.stdout
    proc = _without_extra("serve")
    assert proc.returncode == 2
    assert proc.stderr.strip() == ("tts-temp serve: error: serve needs the extra: pip install 'tts_temp[serve]' "
                                   "(fastapi is missing)")


def test_bad_options_are_one_line_and_exit_2():
    for args, message in ((["--workers", "0"], "--workers must be >= 1, got 0"),
                          (["--queue", "-1"], "--queue must be >= 0, got -1"),
                          (["--threads", "0"], "--threads must be >= 1, got 0"),
                          (["--max-upload-mb", "0"], "--max-upload-mb must be > 0, got 0.0"),
                          (["--port", "70000"], "--port must be in [0, 65535], got 70000")):
        proc = cli("serve", *args)
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.strip() == f"tts-temp serve: error: {message}"


def test_a_model_that_does_not_load_stops_the_server_with_its_message():
    proc = cli("serve", "--port", "0", "--model", "no-such-model", timeout=300)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].startswith("tts-temp serve: error: unknown model 'no-such-model'")
