"""WORLD vocoder features: analysis (waveform -> frames) and synthesis (frames -> waveform).

Why WORLD: the training source (festival's slt HTS voice) is itself a source-filter vocoder, so a
source-filter representation fits it almost losslessly (DNSMOS OVRL 3.10 after the round trip
against 3.12 for the source), where an STFT mel inverted by Griffin-Lim loses ~1.4 points.
It also makes F0 an explicit stream the model predicts.

One frame (hop 256 at 22.05 kHz, the same timing as the mel voices) holds, in this order:
  - `n_mels` log-mel bands of WORLD's spectral envelope (CheapTrick), each band the log of the
    envelope's triangle-weighted mean power;
  - log-F0, continuous: interpolated linearly through unvoiced frames (held at the ends), so the
    model never has to jump to a "no pitch" value;
  - a voicing flag (1 voiced, 0 unvoiced);
  - WORLD's coded aperiodicity in dB (`pyworld.code_aperiodicity`: 2 bands at 22.05 kHz).
Synthesis interpolates the bands back to the envelope's FFT bins (in log power, on the band
centres), voices the frames whose flag is above 0.5, decodes the aperiodicity and calls
`pyworld.synthesize`. pyworld is imported lazily: mel voices never need it.
"""
from __future__ import annotations

import functools
import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F

ENVELOPE_FLOOR = 1e-12   # power floor of the envelope before the log (silence sits here)
UNVOICED_LOG_F0 = math.log(100.0)  # log-F0 of an utterance with no voiced frame at all


def _pyworld():
    try:
        import pyworld
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("WORLD features need pyworld: pip install pyworld-prebuilt (a dependency of "
                          "tts_temp; the wheel of the same module)") from exc
    return pyworld


class WorldFrameLayout:
    """The rows of a WORLD frame, defined once: n_mels envelope bands, log-F0, the voicing flag, then
    the coded aperiodicity bands. Mixed into every config that describes such frames (the analysis
    settings here, the neural vocoder's config), which supply `n_mels` and `n_aperiodicity`."""

    n_mels: int
    n_aperiodicity: int

    @property
    def dim(self) -> int:
        return self.n_mels + 2 + self.n_aperiodicity

    @property
    def lf0(self) -> int:
        """Row of the continuous log-F0."""
        return self.n_mels

    @property
    def vuv(self) -> int:
        """Row of the voicing flag."""
        return self.n_mels + 1

    def voiced(self, frames):
        """(..., dim, T) frames, numpy or torch -> (..., T) booleans: where the voicing flag says voiced
        (analysed frames carry 0 or 1, sampled ones anything near them; above one half is voiced)."""
        return frames[..., self.vuv, :] > 0.5


@dataclass(frozen=True)
class WorldConfig(WorldFrameLayout):
    sample_rate: int = 22050
    hop_length: int = 256
    n_mels: int = 80
    f0_floor: float = 71.0
    f0_ceil: float = 800.0
    f0_method: str = "harvest"   # "harvest" (robust, slow) or "dio" (+ StoneMask, much faster)

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def frame_period_ms(self) -> float:
        return 1000.0 * self.hop_length / self.sample_rate

    @property
    def frames_per_second(self) -> float:
        return self.sample_rate / self.hop_length

    @property
    def fft_size(self) -> int:
        return int(_pyworld().get_cheaptrick_fft_size(self.sample_rate, self.f0_floor))

    @property
    def n_aperiodicity(self) -> int:
        return int(_pyworld().get_num_aperiodicities(self.sample_rate))



@functools.lru_cache(maxsize=8)
def band_weights(cfg: WorldConfig) -> tuple[np.ndarray, np.ndarray]:
    """(n_mels, fft_size // 2 + 1) triangle weights, each row summing to 1, and the band centres in Hz.

    Rows sum to 1 so a band value is a weighted mean of the envelope's power (its log is then on
    the envelope's own scale, which the inverse interpolates). A band too narrow to cover any FFT
    bin (the lowest ones) takes the bin nearest its centre.
    """
    import librosa

    n_bins = cfg.fft_size // 2 + 1
    fmax = cfg.sample_rate / 2
    w = librosa.filters.mel(sr=cfg.sample_rate, n_fft=cfg.fft_size, n_mels=cfg.n_mels, fmin=0.0, fmax=fmax,
                            norm=None).astype(np.float64)
    centres = librosa.mel_frequencies(cfg.n_mels + 2, fmin=0.0, fmax=fmax)[1:-1]
    bins = np.linspace(0, fmax, n_bins)
    for i in range(cfg.n_mels):
        if w[i].sum() <= 0:
            w[i] = 0.0
            w[i, int(np.argmin(np.abs(bins - centres[i])))] = 1.0
    return w / w.sum(axis=1, keepdims=True), centres


def envelope_to_bands(sp: np.ndarray, cfg: WorldConfig) -> np.ndarray:
    """CheapTrick envelope (frames, bins) -> log band powers (frames, n_mels)."""
    w, _ = band_weights(cfg)
    return np.log(np.maximum(sp @ w.T, ENVELOPE_FLOOR))


def bands_to_envelope(bands: np.ndarray, cfg: WorldConfig) -> np.ndarray:
    """Log band powers (frames, n_mels) -> envelope (frames, bins), linear in log power between centres."""
    _, centres = band_weights(cfg)
    bins = np.linspace(0, cfg.sample_rate / 2, cfg.fft_size // 2 + 1)
    log_sp = np.stack([np.interp(bins, centres, row) for row in bands])
    return np.exp(log_sp)


def continuous_log_f0(f0: np.ndarray) -> np.ndarray:
    """log F0 with unvoiced frames (f0 == 0) filled by linear interpolation, held at the ends."""
    voiced = np.flatnonzero(f0 > 0)
    if voiced.size == 0:
        return np.full(f0.shape, UNVOICED_LOG_F0)
    return np.interp(np.arange(len(f0)), voiced, np.log(f0[voiced]))


def analyse(wav: np.ndarray, cfg: WorldConfig) -> torch.Tensor:
    """Waveform (samples,) at cfg.sample_rate -> WORLD frames (cfg.dim, 1 + samples // hop), float32."""
    pw = _pyworld()
    x = np.ascontiguousarray(wav, dtype=np.float64)
    fp = cfg.frame_period_ms
    if cfg.f0_method == "harvest":
        f0, t = pw.harvest(x, cfg.sample_rate, f0_floor=cfg.f0_floor, f0_ceil=cfg.f0_ceil, frame_period=fp)
    elif cfg.f0_method == "dio":
        f0, t = pw.dio(x, cfg.sample_rate, f0_floor=cfg.f0_floor, f0_ceil=cfg.f0_ceil, frame_period=fp)
        f0 = pw.stonemask(x, f0, t, cfg.sample_rate)
    else:
        raise ValueError(f"unknown f0_method {cfg.f0_method!r} (harvest or dio)")
    sp = pw.cheaptrick(x, f0, t, cfg.sample_rate, f0_floor=cfg.f0_floor, fft_size=cfg.fft_size)
    ap = pw.d4c(x, f0, t, cfg.sample_rate, fft_size=cfg.fft_size)
    coded = pw.code_aperiodicity(ap, cfg.sample_rate)
    frames = np.concatenate([envelope_to_bands(sp, cfg), continuous_log_f0(f0)[:, None],
                             (f0 > 0).astype(np.float64)[:, None], coded], axis=1)
    return torch.from_numpy(frames.T.astype(np.float32))


def synthesise(frames: torch.Tensor | np.ndarray, cfg: WorldConfig) -> np.ndarray:
    """WORLD frames (cfg.dim, T) -> waveform float32 of T * hop samples."""
    pw = _pyworld()
    x = np.asarray(frames.detach().cpu() if torch.is_tensor(frames) else frames, dtype=np.float64).T
    n = x.shape[0]
    sp = bands_to_envelope(x[:, : cfg.n_mels], cfg)
    voiced = cfg.voiced(x.T)
    f0 = np.where(voiced, np.exp(np.clip(x[:, cfg.lf0], math.log(cfg.f0_floor), math.log(cfg.f0_ceil))), 0.0)
    coded = np.ascontiguousarray(np.minimum(x[:, cfg.vuv + 1:], 0.0))  # aperiodicity is at most 1 (0 dB)
    ap = pw.decode_aperiodicity(coded, cfg.sample_rate, cfg.fft_size)
    wav = pw.synthesize(np.ascontiguousarray(f0), np.ascontiguousarray(sp), np.ascontiguousarray(ap),
                        cfg.sample_rate, cfg.frame_period_ms)
    out = np.zeros(n * cfg.hop_length, dtype=np.float32)
    m = min(len(out), len(wav))
    out[:m] = wav[:m]
    return out


def f0_hz(frames: torch.Tensor | np.ndarray, cfg: WorldConfig) -> np.ndarray:
    """The F0 the frames ask WORLD for, in Hz per frame; NaN where the voicing flag says unvoiced.

    This is the model's own pitch (what synthesis voices), not an estimate from the waveform."""
    f = frames.detach().cpu().numpy() if torch.is_tensor(frames) else np.asarray(frames)
    hz = np.exp(f[cfg.lf0].astype(np.float64))
    return np.where(cfg.voiced(f), hz, np.nan)


def median_over_frames(x: torch.Tensor, width: int) -> torch.Tensor:
    """(B, T) -> running median over `width` frames (edges replicated); width 1 returns x."""
    if width <= 1 or x.shape[-1] < 2:
        return x
    pad = width // 2
    xp = F.pad(x[:, None, :], (pad, pad), mode="replicate")[:, 0]
    return xp.unfold(-1, width, 1).median(dim=-1).values


def mean_over_frames(x: torch.Tensor, width: int) -> torch.Tensor:
    """(B, T) -> running mean over `width` frames (edges replicated); width 1 returns x."""
    if width <= 1 or x.shape[-1] < 2:
        return x
    pad = width // 2
    xp = F.pad(x[:, None, :], (pad, pad), mode="replicate")[:, 0]
    return xp.unfold(-1, width, 1).mean(dim=-1)


def smooth_pitch(frames: torch.Tensor, lf0: int, width: int) -> torch.Tensor:
    """(B, channels, T) frames with the log-F0 row `lf0` and the voicing flag after it
    median-filtered over `width` frames. Why: sampled frames (T > 0) carry independent noise on
    each frame's log-F0 and voicing, which a vocoder renders as pitch jumps and voicing flicker;
    a running median removes one- and two-frame outliers and keeps glides and steps."""
    if width <= 1:
        return frames
    smooth = [median_over_frames(frames[:, r], width)[:, None] for r in (lf0, lf0 + 1)]
    return torch.cat([frames[:, :lf0], *smooth, frames[:, lf0 + 2:]], dim=1)


def silence(cfg: WorldConfig) -> torch.Tensor:
    """The frame that synthesises (near) silence: floored envelope, unvoiced, fully aperiodic."""
    frame = torch.zeros(cfg.dim)
    frame[: cfg.n_mels] = math.log(ENVELOPE_FLOOR)
    frame[cfg.lf0] = UNVOICED_LOG_F0
    frame[cfg.vuv] = 0.0
    return frame


@dataclass
class WorldVocoder:
    """WORLD frames -> waveform behind the `Vocoder` interface (one item at a time: WORLD is C code)."""

    cfg: WorldConfig
    feature_kind = "world"
    f0_median: int = 1   # frames; > 1 median-filters log-F0 and voicing first (smooth_pitch)

    @property
    def sample_rate(self) -> int:
        return self.cfg.sample_rate

    @property
    def hop_length(self) -> int:
        return self.cfg.hop_length

    def __call__(self, frames: torch.Tensor) -> torch.Tensor:
        if self.f0_median > 1:
            # per item and along time only: a batch row still equals the item alone
            batch = frames[None] if frames.dim() == 2 else frames
            smoothed = smooth_pitch(batch, self.cfg.lf0, self.f0_median)
            frames = smoothed[0] if frames.dim() == 2 else smoothed
        if frames.dim() == 2:
            return torch.from_numpy(synthesise(frames, self.cfg))
        # pyworld's C++ synthesis releases the GIL: the items of a batch render side by side on as
        # many threads as torch may use (each item's samples are the same either way)
        workers = min(len(frames), torch.get_num_threads())
        if workers <= 1:
            return torch.stack([torch.from_numpy(synthesise(f, self.cfg)) for f in frames])
        with ThreadPoolExecutor(workers) as pool:
            return torch.stack([torch.from_numpy(w) for w in pool.map(lambda f: synthesise(f, self.cfg), frames)])
