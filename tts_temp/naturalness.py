"""Naturalness proxies: DNSMOS P.835 via `speechmos`, and Distill-MOS via `distillmos`.

What it is and is not: DNSMOS is a network trained to predict listeners' P.835 ratings of *noisy
and enhanced* speech (the Deep Noise Suppression challenge), so it scores how clean and natural a
signal sounds without a reference. It is a proxy, not a listening test: it was never trained on
vocoder or TTS artefacts, and differences of ~0.1 are within its noise. It does separate
Griffin-Lim phasiness (OVRL ~1.6) from natural speech (~3.1) clearly.

`speechmos` (MIT) ships the ONNX models inside its wheel and runs them with onnxruntime, so nothing
is downloaded at run time. It is imported lazily: only callers that score audio need it.
Scores: SIG (speech signal), BAK (background), OVRL (overall), each 1-5, and P.808 overall (1-5).

Distill-MOS (Microsoft, MIT) is a small convolution + transformer network distilled from an XLS-R
speech-quality assessor; unlike DNSMOS it hears vocoder artefacts, so it separates human speech,
the voice's source recordings and a vocoder's output where DNSMOS scores them alike. The `distillmos`
wheel ships its 17 MB weights but declares and imports torchaudio, for its own command line only;
torchaudio cannot be installed beside the CPU torch, so it is installed without dependencies (with
`xls-r-sqa`, whose pure-torch layers it builds on) and imported with an empty stand-in `torchaudio`
module that is removed again right after the import. Scored at 16 kHz on the CPU, many clips per pass.
"""
from __future__ import annotations

import contextlib
import importlib.machinery
import importlib.util
import io
import math
import sys
import threading
import types
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from tts_temp.audio import prepare

DNSMOS_RATE = 16000
DISTILL_MOS_RATE = 16000
DISTILL_MOS_BATCH = 8   # 7.68 s windows per forward pass: a few hundred MB of activations on the CPU
DISTILL_MOS_INSTALL = "pip install --no-deps distillmos==0.9.1 xls-r-sqa==0.1.0"


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


_distill_lock = threading.Lock()
_distill_model = None


def distill_mos_available() -> bool:
    """Whether `distillmos` is installed (without importing it or torch)."""
    return importlib.util.find_spec("distillmos") is not None and importlib.util.find_spec("xls_r_sqa") is not None


def _import_distillmos():
    """`distillmos.sqa` imports torchaudio at the top for its command line; give it an empty module
    for the import only, unless a real torchaudio is there."""
    if not distill_mos_available():
        raise ImportError(f"Distill-MOS needs the distillmos package ({DISTILL_MOS_INSTALL}; "
                          "without its dependencies, which would pull torchaudio)")
    stand_in = "torchaudio" not in sys.modules and importlib.util.find_spec("torchaudio") is None
    if stand_in:
        module = types.ModuleType("torchaudio")
        module.__spec__ = importlib.machinery.ModuleSpec("torchaudio", None)
        sys.modules["torchaudio"] = module
    try:
        from distillmos import sqa
    finally:
        if stand_in:
            del sys.modules["torchaudio"]
    return sqa


def _distill_mos_model():
    """The model, built once per process (it holds no state between calls, so threads may share it)."""
    global _distill_model
    with _distill_lock:
        if _distill_model is None:
            sqa = _import_distillmos()
            with contextlib.redirect_stdout(io.StringIO()):  # it prints where it loaded its weights from
                model = sqa.ConvTransformerSQAModel(load_weights=True, segmenting_in_forward=False)
            _distill_model = (model.eval(), sqa.SEQ_LEN, sqa.MAX_HOP_LEN)
        return _distill_model


def _windows(x: np.ndarray, length: int, max_hop: int) -> np.ndarray:
    """The model's own cut of one clip: zero-padded to one window, or evenly spaced windows from the
    first to the last sample, at most `max_hop` apart. Cut here, so clips of any length share a batch."""
    over = x.size - length
    if over <= 0:
        return np.pad(x, (0, -over))[None]
    hops = int(np.ceil(over / max_hop)) + 1
    return np.stack([x[int(c * over):int(c * over) + length] for c in np.linspace(0, 1, hops)])


def distill_mos(wavs: Sequence[np.ndarray], sample_rate: int, batch_size: int = DISTILL_MOS_BATCH) -> list[float]:
    """Distill-MOS (1-5) of each mono waveform (resampled to 16 kHz); empty audio scores NaN.

    Every clip is cut into the model's 7.68 s windows (the score is their mean, as in `distillmos`);
    the windows of all clips run through the network `batch_size` at a time, each normalised on its
    own, so a clip scores the same alone or in any batch. Raises ImportError when distillmos is missing.
    """
    import torch

    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    model, length, max_hop = _distill_mos_model()
    clips = [prepare(w, sample_rate, DISTILL_MOS_RATE) for w in wavs]
    cuts = [_windows(x, length, max_hop) if x.size else np.zeros((0, length), np.float32)
            for x in clips]
    windows = np.concatenate(cuts) if cuts else np.zeros((0, length), np.float32)
    scores = np.empty(len(windows), dtype=np.float64)
    with torch.inference_mode():
        for start in range(0, len(windows), batch_size):
            chunk = torch.from_numpy(np.ascontiguousarray(windows[start:start + batch_size], dtype=np.float32))
            scores[start:start + len(chunk)] = model(chunk).reshape(-1).double().numpy()
    out, at = [], 0
    for cut in cuts:
        out.append(float(scores[at:at + len(cut)].mean()) if len(cut) else math.nan)
        at += len(cut)
    return out
