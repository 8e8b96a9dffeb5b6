"""Voice activity filtering as faster-whisper does it: decode only speech, then map times back.

Silero VAD (the `silero-vad` package, MIT, which ships its model file) finds speech chunks in the
16 kHz waveform; the chunks are concatenated and transcribed as one shorter audio; `TimeMap`
turns times in that audio back into times in the original. Only the model and
`get_speech_timestamps` are used: the package's audio readers need torchaudio, which cannot sit
beside the CPU torch here, and the waveform is already in memory.
"""
from __future__ import annotations

import bisect
import math
import threading
from dataclasses import dataclass, fields

import numpy as np
import torch

from tts_temp.errors import UserError

SAMPLE_RATE = 16000


@dataclass(frozen=True)
class VadOptions:
    """Silero's `get_speech_timestamps` parameters, with faster-whisper's defaults."""

    threshold: float = 0.5
    neg_threshold: float | None = None
    min_speech_duration_ms: int = 0
    max_speech_duration_s: float = math.inf
    min_silence_duration_ms: int = 2000
    speech_pad_ms: int = 400

    def __post_init__(self) -> None:
        """Each value checked here, so a bad one is one clear line before any audio is read (and
        never a traceback inside Silero, nor a silently empty transcript from a negative pad)."""
        _number("threshold", self.threshold, 0.0, 1.0)
        if self.neg_threshold is not None:
            _number("neg_threshold", self.neg_threshold, 0.0, 1.0)
        _number("min_speech_duration_ms", self.min_speech_duration_ms, 0.0, math.inf)
        _number("min_silence_duration_ms", self.min_silence_duration_ms, 0.0, math.inf)
        _number("speech_pad_ms", self.speech_pad_ms, 0.0, math.inf)
        _number("max_speech_duration_s", self.max_speech_duration_s, 0.0, math.inf, allow_inf=True)
        if self.max_speech_duration_s == 0:
            raise UserError("vad_parameters: max_speech_duration_s must be > 0, got 0")

    @classmethod
    def from_parameters(cls, parameters: "VadOptions | dict | None") -> "VadOptions":
        if parameters is None or isinstance(parameters, VadOptions):
            return parameters or cls()
        if not isinstance(parameters, dict):
            raise UserError('vad_parameters must be a JSON object such as {"min_silence_duration_ms": 500}, '
                            f"got {type(parameters).__name__} {parameters!r}"[:300])
        unknown = set(parameters) - {f.name for f in fields(cls)}
        if unknown:
            raise UserError(f"unknown vad_parameters: {', '.join(sorted(map(str, unknown)))}")
        return cls(**parameters)


def _number(name: str, value: object, low: float, high: float, allow_inf: bool = False) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    finite = ok and (math.isfinite(value) or (allow_inf and value == math.inf))
    if not (finite and low <= value <= high):
        bounds = f"in [{low:g}, {high:g}]" if math.isfinite(high) else f">= {low:g}"
        raise UserError(f"vad_parameters: {name} must be a number {bounds}, got {value!r}"[:300])


# Silero's model keeps state between calls (reset per audio): one model per thread, made on first use
_local = threading.local()
_IMPORT_LOCK = threading.Lock()


def _model():
    """This thread's Silero TorchScript model (its import must not change torch's threads)."""
    model = getattr(_local, "model", None)
    if model is None:
        with _IMPORT_LOCK:
            threads = torch.get_num_threads()
            try:
                from silero_vad import get_speech_timestamps, load_silero_vad
            except ImportError as exc:
                raise UserError("--vad-filter needs the silero-vad package: pip install 'tts_temp[vad]'") from exc
            finally:
                torch.set_num_threads(threads)  # silero_vad.model sets one thread at import
            model = _local.model = (load_silero_vad(), get_speech_timestamps)
    return model


def speech_chunks(waveform: np.ndarray, options: VadOptions | None = None) -> list[dict]:
    """Speech as [{"start": sample, "end": sample}, ...] in the 16 kHz waveform."""
    options = options or VadOptions()
    model, get_speech_timestamps = _model()
    model.reset_states()
    with torch.no_grad():
        return get_speech_timestamps(
            torch.from_numpy(np.ascontiguousarray(waveform, dtype=np.float32)), model,
            threshold=options.threshold, neg_threshold=options.neg_threshold, sampling_rate=SAMPLE_RATE,
            min_speech_duration_ms=options.min_speech_duration_ms,
            max_speech_duration_s=options.max_speech_duration_s,
            min_silence_duration_ms=options.min_silence_duration_ms, speech_pad_ms=options.speech_pad_ms)


class TimeMap:
    """Maps a time in the concatenated speech back to the original audio, and back again."""

    def __init__(self, chunks: list[dict], sample_rate: int = SAMPLE_RATE):
        self.sample_rate = sample_rate
        self.starts, self.offsets = [], []  # chunk start in the concatenation, and its shift
        self.chunks = [(c["start"] / sample_rate, c["end"] / sample_rate) for c in chunks]  # original times
        position = 0
        for chunk in chunks:
            self.starts.append(position / sample_rate)
            self.offsets.append((chunk["start"] - position) / sample_rate)
            position += chunk["end"] - chunk["start"]

    def chunk_index(self, t: float, is_end: bool = False) -> int:
        """The chunk a time of the concatenation lies in; on a boundary, the earlier one when it ends something."""
        index = (bisect.bisect_left if is_end else bisect.bisect_right)(self.starts, t) - 1
        return min(max(index, 0), len(self.starts) - 1)

    def __call__(self, t: float, is_end: bool = False, chunk: int | None = None) -> float:
        """`t` in the original audio, shifted as the chunk `chunk` is (default: the chunk `t` lies in)."""
        if not self.starts:
            return t
        index = self.chunk_index(t, is_end) if chunk is None else chunk
        return round(t + self.offsets[index], 3)

    def word(self, start: float, end: float) -> tuple[float, float]:
        """A word's times: both ends through the chunk that holds its middle (as faster-whisper),
        so a word never spans the silence that was cut out."""
        if not self.starts:
            return start, end
        chunk = self.chunk_index((start + end) / 2)
        return self(start, chunk=chunk), self(end, chunk=chunk)

    def to_speech(self, t: float) -> float:
        """The inverse direction: a time of the original audio in the concatenation (a time in
        removed silence goes to the join where the silence was)."""
        return sum(min(max(t - start, 0.0), end - start) for start, end in self.chunks)


def collect(waveform: np.ndarray, chunks: list[dict]) -> np.ndarray:
    """The speech chunks of the waveform, concatenated."""
    if not chunks:
        return np.zeros(0, dtype=np.float32)
    return np.concatenate([waveform[c["start"]:c["end"]] for c in chunks]).astype(np.float32)
