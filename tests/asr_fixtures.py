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

DATA = Path(__file__).parent / "data"
CLIPS = ["jfk", "librivox_sense_0870", "librivox_sense_0880", "librivox_sense_0890",
         "librivox_sense_0920", "librivox_sense_0930"]


@functools.lru_cache(maxsize=None)
def cache_dir() -> str:
    path = tempfile.mkdtemp(prefix="tts_temp_asr_cache_")
    atexit.register(shutil.rmtree, path, True)
    return path


@functools.lru_cache(maxsize=None)
def model():
    from tts_temp.asr import weights

    old = os.environ.get("TTS_TEMP_CACHE")
    os.environ["TTS_TEMP_CACHE"] = cache_dir()
    try:
        return weights.load_model("tiny.en")
    finally:
        if old is None:
            os.environ.pop("TTS_TEMP_CACHE")
        else:
            os.environ["TTS_TEMP_CACHE"] = old


def clip(name: str) -> str:
    return str(DATA / f"{name}.wav")


def waveform(name: str) -> np.ndarray:
    from tts_temp.audio import load

    return load(clip(name), 16000)
