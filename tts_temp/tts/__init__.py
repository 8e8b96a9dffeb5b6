"""OverFlow-style TTS with a sampling temperature: `load_voice()` then `synthesize(voice, text, ...)`."""
from tts_temp.tts.synthesize import Synthesis, SynthesisOptions, synthesize, synthesize_batch
from tts_temp.tts.voice import Voice, load_voice, shipped_voice_path

__all__ = ["Synthesis", "SynthesisOptions", "Voice", "load_voice", "shipped_voice_path", "synthesize",
           "synthesize_batch"]
