"""Property-based checks of `tts-temp transcribe`'s arguments (issue 18): random strings, numbers
and paths never give a traceback; a bad value is one stderr line and exit 2, found before any
audio is read or any model is loaded."""
from __future__ import annotations

import string

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from asr_fixtures import clip, model
from tts_temp.asr import weights
from tts_temp.cli import main
from tts_temp import audio

# options that take a value, as the CLI spells them
VALUED = ["temperature", "temperature-increment-on-fallback", "best-of", "beam-size", "patience", "length-penalty",
          "top-k", "top-p", "seed", "compression-ratio-threshold", "logprob-threshold", "no-speech-threshold",
          "prompt-reset-temperature", "condition-on-previous-text", "word-timestamps", "language", "task",
          "clip-timestamps", "hallucination-silence-threshold", "carry-initial-prompt", "vad-filter",
          "vad-parameters", "on-all-failed", "output-format", "fp16", "initial-prompt", "compute-type", "device"]
NOT_NUL = st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")  # argv cannot hold these
NUMBERS = st.one_of(st.integers(min_value=-2**70, max_value=2**70).map(str),
                    st.floats(allow_nan=True, allow_infinity=True).map(repr),
                    st.sampled_from(["1e-40", "1e400", "-0", "0x10", "1_000", " 1", "inf", "-inf", "nan", "None"]))
JSONISH = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=5)),
                       lambda children: st.lists(children, max_size=3)
                       | st.dictionaries(st.sampled_from(["threshold", "neg_threshold", "min_speech_duration_ms",
                                                         "max_speech_duration_s", "min_silence_duration_ms",
                                                         "speech_pad_ms", "x"]), children, max_size=3),
                       max_leaves=6)
VALUES = st.one_of(st.text(NOT_NUL, max_size=20), NUMBERS,
                   JSONISH.map(lambda v: __import__("json").dumps(v)))
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


class Reached(Exception):
    """The run got past every option check (to the model, or to the audio)."""


def _reached(*args, **kwargs):
    raise Reached


def _outcome(capsys, argv: list[str]) -> tuple[str, str]:
    try:
        code = main(["transcribe", *argv])
    except Reached:
        return "reached", capsys.readouterr().err
    except SystemExit as exc:
        code = exc.code
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    assert code == 2, (argv, code, err)
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("tts-temp transcribe: error: "), (argv, err)
    return "refused", err


@SETTINGS
@given(options=st.lists(st.tuples(st.sampled_from(VALUED), VALUES), min_size=1, max_size=3))
def test_random_option_values(capsys, monkeypatch, options):
    """Refused in one line before the model loads, or accepted (then the model is what comes next)."""
    monkeypatch.setattr(weights, "load_model", _reached)
    monkeypatch.setattr(audio, "load", _reached)
    argv = [f"--{name}={value}" for name, value in options]
    kind, err = _outcome(capsys, [*argv, "--", clip("jfk")])
    if kind == "reached":  # accepted: nothing was printed on the way
        assert err.strip() == "" or "warning" in err, err


@SETTINGS
@given(name=st.one_of(st.text(NOT_NUL, max_size=30), st.sampled_from(["/", ".", "..", "~", "/etc/passwd", "/dev/null",
                                                                      "tiny", "base.en", "large-v3", "tiny.en/"])))
@example(name="~0")              # a home directory that does not exist (pathlib raised RuntimeError)
@example(name="~no_such_user_here/model.pt")
def test_random_model_names_and_paths(capsys, monkeypatch, name):
    monkeypatch.setattr(audio, "load", _reached)
    _outcome(capsys, [f"--model={name}", "--", clip("jfk")])


@SETTINGS
@given(folder=st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00/"), min_size=1,
                      max_size=20).filter(lambda s: s not in (".", "..")))
def test_random_output_folders(capsys, monkeypatch, tmp_path, folder):
    monkeypatch.setattr(weights, "load_model", _reached)
    _outcome(capsys, ["-o", str(tmp_path / folder), "--", clip("jfk")])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=st.one_of(st.text(NOT_NUL, min_size=1, max_size=30),
                      st.sampled_from(["/", ".", "/dev/null", "/etc/passwd", "/proc/self/status"])))
def test_random_audio_paths(capsys, monkeypatch, path):
    """A path that is not audio fails that file only, in lines that each name the command."""
    loaded = model()
    monkeypatch.setattr(weights, "load_model", lambda *a, **k: loaded)
    try:
        code = main(["transcribe", "--temperature=0", "--", path])
    except SystemExit as exc:
        code = exc.code
    err = capsys.readouterr().err
    assert "Traceback" not in err and code == 2, (path, code, err)
    assert all(line.startswith("tts-temp transcribe: ") for line in err.splitlines() if line.strip()), err
