"""Where tts_temp keeps what it computes once per machine: converted checkpoints, kernel choices."""
from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """$TTS_TEMP_CACHE, else $XDG_CACHE_HOME/tts_temp (~/.cache/tts_temp)."""
    if env := os.environ.get("TTS_TEMP_CACHE"):
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "tts_temp"
