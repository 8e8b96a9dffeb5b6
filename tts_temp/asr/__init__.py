"""Whisper ASR with a seeded, inspectable temperature-fallback sampler.

`load_model()` gives an openai-whisper model (the bundled tiny.en by default, offline);
`transcribe(model, audio, options)` returns a `Transcript` whose segments carry every attempt; the
options are a frozen `TranscribeOptions` (its groups below) or whisper's flat keywords.
"""
from tts_temp.asr.fallback import Attempt, FallbackPolicy
from tts_temp.asr.options import AudioOptions, DecodeOptions, PromptOptions, TranscribeOptions, WordOptions
from tts_temp.asr.sampler import SamplingOptions
from tts_temp.asr.transcribe import Segment, Transcript, transcribe
from tts_temp.asr.weights import load_model

__all__ = ["load_model", "transcribe", "TranscribeOptions", "DecodeOptions", "FallbackPolicy", "SamplingOptions",
           "PromptOptions", "WordOptions", "AudioOptions", "Attempt", "Segment", "Transcript"]
