"""Whisper ASR with a seeded, inspectable temperature-fallback sampler.

`load_model()` gives an openai-whisper model (the bundled tiny.en by default, offline);
`transcribe(model, audio, **options)` returns a `Transcript` whose segments carry every attempt.
"""
from tts_temp.asr.fallback import Attempt, FallbackPolicy
from tts_temp.asr.sampler import SamplingOptions
from tts_temp.asr.transcribe import Segment, Transcript, transcribe
from tts_temp.asr.weights import load_model

__all__ = ["load_model", "transcribe", "SamplingOptions", "FallbackPolicy", "Attempt", "Segment", "Transcript"]
