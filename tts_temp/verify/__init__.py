"""Verified synthesis: TTS output transcribed back by Whisper, drawn again when it misses.

Whisper's remedy for a bad sample is to decode again at another temperature. The same idea fits
synthesis: each output is transcribed with the bundled tiny.en at T=0 (through `tts_temp.asr`),
scored by CER against the text (`tts_temp.score`, Whisper's normaliser, as compare does), and its
length checked against the text; when either misses, the next attempt of a schedule of
(temperature, seed) pairs is synthesised. The first attempt that passes is kept, or, when none
does, the one with the lowest CER (the record says which).

One ladder climbs for both: `sampling.ladder` tries the candidates step by step (here each step of
every item of a `synthesize_batch` call is one synthesis batch) and records every attempt; this
package adds the judge and its thresholds (`policy`), the listener (`recogniser`), the batching
(`synthesis`) and the `synthesize` command (`cli`). It sits one floor above `asr` and `tts`, which
never import each other.
"""
from tts_temp.verify.policy import (
    DEFAULT_MAX_CER, Candidate, Schedule, SynthesisAttempt, Verification, VerifyPolicy,
    choose_when_none_passed, default_retries, heard_cer, judge, parse_schedule, plausible_seconds,
)
from tts_temp.verify.recogniser import Recogniser, WhisperRecogniser, load_recogniser
from tts_temp.verify.synthesis import Speech, VerifiedSynthesis, seed_for, synthesize, synthesize_batch

__all__ = [
    "DEFAULT_MAX_CER", "Candidate", "Schedule", "SynthesisAttempt", "Verification", "VerifyPolicy",
    "choose_when_none_passed",
    "default_retries", "heard_cer", "judge", "parse_schedule", "plausible_seconds",
    "Recogniser", "WhisperRecogniser", "load_recogniser",
    "Speech", "VerifiedSynthesis", "seed_for", "synthesize", "synthesize_batch",
]
