"""A user's install: a wheel (not editable) in a fresh virtual environment, run from another folder.

The repository's own folders are invisible there, so anything the package reads at run time must
ship inside it. The fresh environment reuses this one's already-installed dependencies through a
path entry (its .pth files, the editable install of tts_temp among them, are not processed), so
the only tts_temp it can import is the one from the wheel.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel_env(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"  # build from a copy, so the build leaves nothing in the checkout
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(".venv", ".git", "build", "*.egg-info", "runs",
                                                            "corpus", "tts-temp-demo", "__pycache__", ".pytest_cache"))
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                            "-w", str(tmp / "dist"), str(src)], capture_output=True, text=True)
    assert built.returncode == 0, built.stderr[-2000:]
    wheel = next((tmp / "dist").glob("tts_temp-*.whl"))
    env = tmp / "venv"
    venv.EnvBuilder(with_pip=False).create(env)
    purelib = Path(subprocess.check_output([str(env / "bin" / "python"), "-c",
                                            "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                           text=True).strip())
    (purelib / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    installed = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target",
                                str(purelib), str(wheel)], capture_output=True, text=True)
    assert installed.returncode == 0, installed.stderr[-2000:]
    return env


def _run(env: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return subprocess.run([str(env / "bin" / "python"), *args], cwd=cwd, env=environ, capture_output=True,
                          text=True, timeout=900)


def test_the_wheel_is_what_gets_imported(wheel_env, tmp_path):
    out = _run(wheel_env, tmp_path, "-c", "import tts_temp; print(tts_temp.__file__)")
    assert out.returncode == 0, out.stderr
    assert str(wheel_env) in out.stdout and str(ROOT) not in out.stdout


def test_demo_runs_from_a_wheel_install_in_another_folder(wheel_env, tmp_path):
    out = _run(wheel_env, tmp_path, "-m", "tts_temp.cli", "demo", "--out", "demo")
    assert out.returncode == 0, out.stderr[-3000:]
    assert "3/3  report:" in out.stdout
    for page in ("demo/report.html", "demo/asr/report.html", "demo/tts/report.html"):
        assert (tmp_path / page).is_file(), page
