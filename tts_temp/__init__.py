"""tts_temp: sampling temperature as a first-class, measurable control in speech models.

The public API is re-exported lazily so that `import tts_temp` stays cheap (no torch or whisper
import until a model is actually needed).
"""
from __future__ import annotations

__version__ = "0.1.0"

_EXPORTS = {
    "load_model": ("tts_temp.asr", "load_model"),
    "transcribe": ("tts_temp.asr", "transcribe"),
    "load_voice": ("tts_temp.tts", "load_voice"),
    "synthesize": ("tts_temp.tts", "synthesize"),
}


def __getattr__(name: str):
    if name in _EXPORTS:
        import importlib

        module, attr = _EXPORTS[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'tts_temp' has no attribute {name!r}")
