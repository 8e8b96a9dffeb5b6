"""Voice activity filtering as faster-whisper does it: decode only speech, then map times back.

Silero VAD (the `silero-vad` package, MIT, which ships its model file) finds speech chunks in the
16 kHz waveform; the chunks are concatenated and transcribed as one shorter audio; `TimeMap`
turns times in that audio back into times in the original. Only the model and
`get_speech_timestamps` are used: the package's audio readers need torchaudio, which cannot sit
beside the CPU torch here, and the waveform is already in memory.
"""
from __future__ import annotations

import bisect
import functools
import math
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

    @classmethod
    def from_parameters(cls, parameters: "VadOptions | dict | None") -> "VadOptions":
        if parameters is None or isinstance(parameters, VadOptions):
            return parameters or cls()
        unknown = set(parameters) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"unknown vad_parameters: {', '.join(sorted(unknown))}")
        return cls(**parameters)


@functools.lru_cache(maxsize=1)
def _model():
    """Silero's packaged TorchScript model (loaded once; its import must not change torch's threads)."""
    threads = torch.get_num_threads()
    try:
        from silero_vad import get_speech_timestamps, load_silero_vad
    except ImportError as exc:
        raise UserError("--vad-filter needs the silero-vad package: pip install 'tts_temp[vad]'") from exc
    finally:
        torch.set_num_threads(threads)  # silero_vad.model sets one thread at import
    return load_silero_vad(), get_speech_timestamps


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
    """Maps a time in the concatenated speech back to the original audio."""

    def __init__(self, chunks: list[dict], sample_rate: int = SAMPLE_RATE):
        self.sample_rate = sample_rate
        self.starts, self.offsets = [], []  # chunk start in the concatenation, and its shift
        position = 0
        for chunk in chunks:
            self.starts.append(position / sample_rate)
            self.offsets.append((chunk["start"] - position) / sample_rate)
            position += chunk["end"] - chunk["start"]

    def __call__(self, t: float, is_end: bool = False) -> float:
        """A time on a chunk boundary belongs to the earlier chunk when it ends something."""
        if not self.starts:
            return t
        index = (bisect.bisect_left if is_end else bisect.bisect_right)(self.starts, t) - 1
        return round(t + self.offsets[max(index, 0)], 3)


def collect(waveform: np.ndarray, chunks: list[dict]) -> np.ndarray:
    """The speech chunks of the waveform, concatenated."""
    if not chunks:
        return np.zeros(0, dtype=np.float32)
    return np.concatenate([waveform[c["start"]:c["end"]] for c in chunks]).astype(np.float32)
