"""tts_temp: sampling temperature as a first-class, measurable control in speech models.

`synthesize` is the verified one (`tts_temp.verify`): tts.synthesize when verify is False (it unpacks as (wav, sr)),
checked by ASR and drawn again when verify=True. The public API is re-exported lazily so that `import tts_temp` stays cheap (no torch or whisper
import until a model is actually needed).
"""
from __future__ import annotations

__version__ = "0.1.0"

_EXPORTS = {
    "load_model": ("tts_temp.asr", "load_model"),
    "transcribe": ("tts_temp.asr", "transcribe"),
    "load_voice": ("tts_temp.tts", "load_voice"),
    "synthesize": ("tts_temp.verify", "synthesize"),   # tts.synthesize, plus verify=True
    "synthesize_batch": ("tts_temp.verify", "synthesize_batch"),
}


def __getattr__(name: str):
    if name in _EXPORTS:
        import importlib

        module, attr = _EXPORTS[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'tts_temp' has no attribute {name!r}")
