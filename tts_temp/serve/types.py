"""OpenAI's audio API types (requests and responses), plus this project's fields, in one module.

The extensions (seed, the attempts of every window, verified synthesis) are optional fields beside
OpenAI's, so a stock client parses every response and a client that knows them can replay a result.
"""
from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from tts_temp.sampling.seeds import SEED_LIMIT

SEED_FIELD = dict(ge=0, lt=SEED_LIMIT, description="seed for the sampled draws, an integer in [0, 2**53); "
                                                    "default: drawn, and returned in the x-tts-temp-seed header")
TranscriptionFormat = Literal["json", "text", "srt", "vtt", "verbose_json"]
SpeechFormat = Literal["wav", "flac", "pcm", "mp3", "opus", "aac"]


def finite(value: float | None) -> float | None:
    """JSON has no NaN: a statistic that was never computed is null."""
    return None if value is None or not math.isfinite(value) else float(value)


# ----------------------------------------------------------------------------- errors
class ErrorBody(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class ErrorResponse(BaseModel):
    error: ErrorBody


# ----------------------------------------------------------------------------- transcription
class Transcription(BaseModel):
    """`response_format=json`."""

    text: str


class Word(BaseModel):
    word: str
    start: float
    end: float
    probability: float | None = None


class TranscriptionAttempt(BaseModel):
    """One decode of a window at one temperature, and the fallback's verdict on it (extension)."""

    temperature: float
    text: str
    avg_logprob: float | None
    compression_ratio: float | None
    no_speech_prob: float | None
    accepted: bool
    reason: str


class TranscriptionSegment(BaseModel):
    id: int
    seek: int
    start: float
    end: float
    text: str
    tokens: list[int]
    temperature: float
    avg_logprob: float | None
    compression_ratio: float | None
    no_speech_prob: float | None
    window: int = Field(description="extension: index of the 30 s window this segment came from")
    attempts: list[TranscriptionAttempt] = Field(description="extension: every temperature tried on the window")


class TranscriptionSkippedWindow(BaseModel):
    window: int
    start: float
    end: float
    reason: str
    attempts: list[TranscriptionAttempt]


class VerboseTranscription(BaseModel):
    """`response_format=verbose_json`: OpenAI's shape, plus the seed and the fallback's record."""

    task: Literal["transcribe", "translate"]
    language: str
    duration: float
    text: str
    segments: list[TranscriptionSegment]
    words: list[Word] | None = None
    seed: int | None = Field(None, description="extension: replaying with this seed gives this result")
    model: str = Field(description="extension: the served model that answered (aliases resolved)")
    skipped_windows: list[TranscriptionSkippedWindow] = Field(default_factory=list, description="extension")
    torch_threads: int | None = Field(None, description="extension: the worker's torch threads (float32 sums, and "
                                                        "so rarely a text, may depend on them; --threads sets them)")


# ----------------------------------------------------------------------------- speech
class SpeechRequest(BaseModel):
    """POST /v1/audio/speech. `speed` is the speaking rate; the rest past `speed` are extensions."""

    model_config = ConfigDict(extra="ignore")

    model: str = Field(description="tts-1, tts-1-hd (the default voice) or a served voice's name")
    input: str = Field(min_length=1, max_length=4096)
    voice: str | None = Field(None, description="a served voice, or an OpenAI voice name (the default voice)")
    response_format: SpeechFormat = Field("mp3", description="mp3, opus and aac need ffmpeg on the server")
    speed: float = Field(1.0, ge=0.25, le=4.0)
    instructions: str | None = Field(None, description="accepted for compatibility; not used")
    temperature: float | None = Field(None, ge=0, description="extension: sampling temperature "
                                                              "(default: the voice's)")
    seed: int | None = Field(None, **SEED_FIELD)
    verify: bool = Field(False, description="extension: transcribe the output with Whisper and draw again when "
                                            "it misses; the record is in the x-tts-temp-verify header (JSON)")


# ----------------------------------------------------------------------------- models
class Model(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str
    kind: Literal["transcription", "speech"] = Field(description="extension")
    alias_of: str | None = Field(None, description="extension: the served model an alias answers with")


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[Model]


class VoiceInfo(BaseModel):
    id: str
    name: str
    sample_rate: int
    default_temperature: float
    alias_of: str | None = None


class VoiceList(BaseModel):
    object: Literal["list"] = "list"
    data: list[VoiceInfo]


class Health(BaseModel):
    status: Literal["loading", "ok", "failed"]
    detail: str | None = None
