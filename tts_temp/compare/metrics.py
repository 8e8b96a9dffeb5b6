"""The numbers a sweep reports, each defined here once so results can be recomputed from files.

- WER / CER: Levenshtein distance (RapidFuzz) over words / characters divided by the reference length, after
  Whisper's English text normaliser on both sides (so "Mr." vs "mister" or a comma is not an error).
- Diversity between seeds: the mean WER over all ordered pairs of the seeds' texts (WER is not
  symmetric; averaging both directions makes the measure symmetric).
- Seed distance (TTS): DTW-aligned mean mel distance. Both wavs are analysed to log-mel in dB, the
  frames aligned by DTW on the per-frame RMS dB difference, and the cost averaged along the path.
  Unit: dB. 0 means the two outputs are the same sound; it does not depend on length differences.
- F0: librosa's pYIN contour; mean and std over voiced frames only.
"""
from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

F0_MIN, F0_MAX = 65.0, 600.0       # Hz; covers the shipped female voice and most adult speech
F0_FRAME, F0_HOP = 1024, 256       # samples at 22.05 kHz: the voice's own hop
F0_RESOLUTION = 0.25               # pitch bins of 25 cents: faster than librosa's 10, same means
MEL_FFT, MEL_HOP, MEL_BANDS, MEL_FMAX = 1024, 256, 80, 8000.0


# WER / CER are defined once, below compare and verify alike (tts_temp/score.py).
from tts_temp.score import cer, edit_distance, error_rate, wer, whisper_normalise  # noqa: E402,F401


def pairwise_wer(texts: Sequence[str]) -> float:
    """Diversity: mean WER over all ordered pairs (a, b), a != b. 0 for fewer than two texts."""
    pairs = list(itertools.permutations(range(len(texts)), 2))
    if not pairs:
        return 0.0
    return sum(wer(texts[a], texts[b]) for a, b in pairs) / len(pairs)


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and population std of the finite values; NaN for an empty list."""
    v = np.asarray([x for x in values if x is not None and math.isfinite(x)], dtype=np.float64)
    if v.size == 0:
        return math.nan, math.nan
    return float(v.mean()), float(v.std())


@dataclass
class F0Track:
    hz: list[float | None]   # per frame; None where unvoiced
    hop_seconds: float

    @property
    def voiced(self) -> np.ndarray:
        return np.asarray([x for x in self.hz if x is not None], dtype=np.float64)

    def stats(self) -> tuple[float, float]:
        """Mean and std of F0 over voiced frames (NaN when nothing is voiced)."""
        v = self.voiced
        return (float(v.mean()), float(v.std())) if v.size else (math.nan, math.nan)


def f0_track(wav: np.ndarray, sample_rate: int) -> F0Track:
    """pYIN F0 contour, rounded to 0.1 Hz so the stored track reproduces the stored stats."""
    import librosa

    wav = np.asarray(wav, dtype=np.float32)
    if wav.size < F0_FRAME:
        return F0Track([], F0_HOP / sample_rate)
    f0, voiced, _ = librosa.pyin(wav, fmin=F0_MIN, fmax=F0_MAX, sr=sample_rate, frame_length=F0_FRAME,
                                 hop_length=F0_HOP, resolution=F0_RESOLUTION)
    hz = [round(float(f), 1) if v and np.isfinite(f) else None for f, v in zip(f0, voiced)]
    return F0Track(hz, F0_HOP / sample_rate)


def log_mel_db(wav: np.ndarray, sample_rate: int) -> np.ndarray:
    """(bands, frames) log-mel in dB of a waveform: the view of the sound the distance uses."""
    import librosa

    wav = np.asarray(wav, dtype=np.float32)
    mel = librosa.feature.melspectrogram(y=wav, sr=sample_rate, n_fft=MEL_FFT, hop_length=MEL_HOP,
                                         n_mels=MEL_BANDS, fmax=min(MEL_FMAX, sample_rate / 2))
    return librosa.power_to_db(mel, ref=1.0, amin=1e-10, top_db=None)


def dtw_distance(a: np.ndarray, b: np.ndarray) -> float:
    """DTW-aligned mean distance (dB) between two (bands, frames) log-mel spectrograms.

    Frame cost = RMS difference over bands; DTW (steps (1,1), (1,0), (0,1)) finds the cheapest
    monotone alignment; the result is the accumulated cost divided by the path length.
    """
    import librosa

    if a.shape[1] == 0 or b.shape[1] == 0:
        return math.nan
    diff = a.T[:, None, :] - b.T[None, :, :]
    cost = np.sqrt(np.mean(diff * diff, axis=-1))
    acc, path = librosa.sequence.dtw(C=cost, backtrack=True)
    return float(acc[-1, -1] / len(path))
