"""OpenAI's model and voice names, mapped onto what this server loads: one table, read by the registry.

Stock clients send `whisper-1`, `tts-1` and voice names such as `alloy`; they work unchanged and
reach the default model or voice. Our own names are always accepted as well.
"""
from __future__ import annotations

ASR_ALIASES: tuple[str, ...] = ("whisper-1",)                  # -> the default (first) Whisper model
TTS_ALIASES: tuple[str, ...] = ("tts-1", "tts-1-hd", "gpt-4o-mini-tts")  # -> the default voice
OPENAI_VOICES: tuple[str, ...] = ("alloy", "ash", "ballad", "coral", "echo", "fable", "onyx", "nova",
                                  "sage", "shimmer", "verse", "marin", "cedar")  # -> the default voice
