"""OverFlow-style TTS with a sampling temperature: `load_voice()` then `synthesize(voice, text, ...)`.

`load_voice(folder)` also opens a Coqui-TTS OverFlow / NeuralHMM-TTS model, and `load_vocoder(folder)`
a Coqui HiFi-GAN; both run natively here (see tts_temp.tts.coqui).
"""
from __future__ import annotations

import os

from tts_temp.tts.synthesize import Synthesis, SynthesisOptions, acoustic, synthesize, synthesize_batch
from tts_temp.tts.voice import Voice, load_voice, shipped_voice_path


def load_vocoder(path: str | os.PathLike):
    """A Coqui-TTS `hifigan` vocoder folder (config.json + model file) -> a vocoder for `synthesize`."""
    from tts_temp.tts.coqui.hifigan import load_vocoder as load

    return load(path)


__all__ = ["Synthesis", "SynthesisOptions", "Voice", "acoustic", "load_vocoder", "load_voice", "shipped_voice_path",
           "synthesize", "synthesize_batch"]
