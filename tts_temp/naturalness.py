"""Naturalness proxy: DNSMOS P.835 (Microsoft's non-intrusive speech-quality predictor), via `speechmos`.

What it is and is not: DNSMOS is a network trained to predict listeners' P.835 ratings of *noisy
and enhanced* speech (the Deep Noise Suppression challenge), so it scores how clean and natural a
signal sounds without a reference. It is a proxy, not a listening test: it was never trained on
vocoder or TTS artefacts, and differences of ~0.1 are within its noise. It does separate
Griffin-Lim phasiness (OVRL ~1.6) from natural speech (~3.1) clearly.

`speechmos` (MIT) ships the ONNX models inside its wheel and runs them with onnxruntime, so nothing
is downloaded at run time. It is imported lazily: only callers that score audio need it.
Scores: SIG (speech signal), BAK (background), OVRL (overall), each 1-5, and P.808 overall (1-5).
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from tts_temp.audio import prepare

DNSMOS_RATE = 16000


@dataclass(frozen=True)
class Dnsmos:
    ovrl: float
    sig: float
    bak: float
    p808: float

    def to_dict(self) -> dict:
        return asdict(self)


def _run():
    try:
        from speechmos import dnsmos
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("DNSMOS needs the speechmos and onnxruntime packages "
                          "(pip install speechmos onnxruntime)") from exc
    return dnsmos.run


def dnsmos(wav: np.ndarray, sample_rate: int) -> Dnsmos:
    """DNSMOS P.835 of one mono waveform at any rate (resampled to 16 kHz, clipped to [-1, 1]).

    Clips shorter than the model's 9.01 s window are repeated to fill it (speechmos's rule);
    longer ones are scored in 1 s hops and averaged. Empty audio scores NaN.
    """
    x = prepare(wav, sample_rate, DNSMOS_RATE)
    if x.size == 0:
        return Dnsmos(math.nan, math.nan, math.nan, math.nan)
    x = np.clip(x, -1.0, 1.0).astype(np.float32)
    r = _run()(x, DNSMOS_RATE)
    return Dnsmos(float(r["ovrl_mos"]), float(r["sig_mos"]), float(r["bak_mos"]), float(r["p808_mos"]))


def mean_dnsmos(scores: Sequence[Dnsmos]) -> Dnsmos:
    """Field-wise mean over clips (NaN entries ignored)."""
    def m(name: str) -> float:
        vals = [getattr(s, name) for s in scores if math.isfinite(getattr(s, name))]
        return float(np.mean(vals)) if vals else math.nan

    return Dnsmos(m("ovrl"), m("sig"), m("bak"), m("p808"))
