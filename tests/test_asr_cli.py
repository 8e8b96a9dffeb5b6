"""`tts-temp transcribe`: outputs, and every bad input as one stderr line and a non-zero exit."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from asr_fixtures import cache_dir, clip, model
from tts_temp.cli import main


@pytest.fixture(autouse=True)
def converted_cache(monkeypatch):
    model()  # converts once into the shared test cache; the CLI then finds it there
    monkeypatch.setenv("TTS_TEMP_CACHE", cache_dir())


def _run(capsys, *argv) -> tuple[int, str, str]:
    code = main(["transcribe", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def _one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def test_json_to_stdout_follows_the_schema(capsys):
    code, out, err = _run(capsys, clip("librivox_sense_0930"), "--temperature", "0.5", "--seed", "7",
                          "--best-of", "2")
    assert code == 0, err
    data = json.loads(out)
    assert set(data) == {"text", "language", "language_source", "language_probability", "seed", "torch_threads",
                         "segments", "skipped_windows"}
    assert data["seed"] == 7 and data["language"] == "en" and data["language_probability"] is None
    seg = data["segments"][0]
    assert seg["temperature"] == 0.5
    assert [a["temperature"] for a in seg["attempts"]] == [0.5]
    code2, out2, _ = _run(capsys, clip("librivox_sense_0930"), "--temperature", "0.5", "--seed", "7",
                          "--best-of", "2")
    assert out2 == out  # same seed, same bytes


def test_all_formats_to_an_output_dir(capsys, tmp_path):
    code, out, err = _run(capsys, clip("librivox_sense_0880"), "--temperature", "0", "-o", str(tmp_path))
    assert code == 0, err
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == [f"librivox_sense_0880.{ext}" for ext in ("json", "srt", "tsv", "txt", "vtt")]
    assert "-->" in (tmp_path / "librivox_sense_0880.srt").read_text()
    assert json.loads((tmp_path / "librivox_sense_0880.json").read_text())["segments"][0]["attempts"]


def test_empty_and_silent_audio_give_an_empty_transcript(capsys, tmp_path):
    empty, silent = tmp_path / "empty.wav", tmp_path / "silent.wav"
    sf.write(empty, np.zeros(0, dtype=np.float32), 16000)
    sf.write(silent, np.zeros(16000 * 3, dtype=np.float32), 16000)
    for path in (empty, silent):
        code, out, err = _run(capsys, str(path), "--temperature", "0")
        assert code == 0, err
        data = json.loads(out)
        assert data["text"].strip() == "" and all(not s["text"].strip() for s in data["segments"])


def _bad_audio(tmp_path: Path) -> dict[str, Path]:
    nan = np.zeros(16000, dtype=np.float32)
    nan[100] = np.nan
    inf = np.zeros(16000, dtype=np.float32)
    inf[5] = np.inf
    paths = {"missing": tmp_path / "missing.wav", "unreadable": tmp_path / "garbage.wav",
             "nan": tmp_path / "nan.wav", "inf": tmp_path / "inf.wav"}
    paths["unreadable"].write_bytes(b"this is not audio at all" * 10)
    sf.write(paths["nan"], nan, 16000, subtype="FLOAT")
    sf.write(paths["inf"], inf, 16000, subtype="FLOAT")
    return paths


@pytest.mark.parametrize("kind", ["missing", "unreadable", "nan", "inf"])
def test_bad_audio(capsys, tmp_path, kind):
    path = _bad_audio(tmp_path)[kind]
    out_dir = tmp_path / "out"
    code, out, err = _run(capsys, str(path), "-o", str(out_dir))
    assert code != 0
    line = _one_error_line(err.split("\ntts-temp transcribe: 1 of 1")[0])
    assert str(path.name) in line
    assert not out_dir.exists() or not any(out_dir.iterdir())  # nothing half-written


@pytest.mark.parametrize("argv, words", [
    (["--temperature", "-0.2"], "temperature"),
    (["--temperature", "nan"], "temperature"),
    (["--temperature", "0", "0.3", "-1"], "temperature"),
    (["--top-p", "0"], "top_p"),
    (["--top-p", "1.5"], "top_p"),
    (["--top-p", "nan"], "top_p"),
    (["--top-k", "0"], "top_k"),
    (["--model", "no-such-model"], "unknown model"),
    (["--best-of", "0"], "best-of"),
])
def test_bad_options(capsys, tmp_path, argv, words):
    code, out, err = _run(capsys, clip("jfk"), *argv)
    assert code == 2 and out == ""
    assert words in _one_error_line(err)


def test_corrupt_checkpoint(capsys, tmp_path):
    bad = tmp_path / "model.pt"
    bad.write_bytes(b"\x80\x02garbage")
    code, out, err = _run(capsys, clip("jfk"), "--model", str(bad))
    assert code == 2 and "not a usable openai-whisper checkpoint" in _one_error_line(err)


def test_one_bad_file_among_several(capsys, tmp_path):
    out_dir = tmp_path / "out"
    bad = _bad_audio(tmp_path)["nan"]
    code, out, err = _run(capsys, str(bad), clip("librivox_sense_0930"), "--temperature", "0",
                          "-f", "txt", "-o", str(out_dir))
    assert code != 0
    assert "nan.wav" in err and "1 of 2" in err and "Traceback" not in err
    assert sorted(p.name for p in out_dir.iterdir()) == ["librivox_sense_0930.txt"]
    assert (out_dir / "librivox_sense_0930.txt").read_text().strip()


def test_console_script_prints_no_traceback(tmp_path):
    """The real entry point, in a fresh process: one line, exit 2."""
    env = {**os.environ, "TTS_TEMP_CACHE": cache_dir(), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "tts_temp.cli", "transcribe", str(tmp_path / "nope.wav")],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "nope.wav" in proc.stderr
