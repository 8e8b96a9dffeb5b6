"""Log-mel features: the one definition shared by corpus building, training and the vocoder.

torch.stft + librosa's Slaney mel filterbank, natural log with a floor (as HiFi-GAN and VITS do),
so a neural vocoder trained on the same settings could be dropped in later.
"""
from __future__ import annotations

import functools
from dataclasses import asdict, dataclass

import numpy as np
import torch

LOG_FLOOR = 1e-5


@dataclass(frozen=True)
class MelConfig:
    sample_rate: int = 22050
    n_fft: int = 1024
    hop_length: int = 256
    win_length: int = 1024
    n_mels: int = 80
    fmin: float = 0.0
    fmax: float = 8000.0

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def frames_per_second(self) -> float:
        return self.sample_rate / self.hop_length


@functools.lru_cache(maxsize=8)
def mel_basis(cfg: MelConfig) -> torch.Tensor:
    """(n_mels, n_fft // 2 + 1) filterbank."""
    import librosa

    fb = librosa.filters.mel(sr=cfg.sample_rate, n_fft=cfg.n_fft, n_mels=cfg.n_mels, fmin=cfg.fmin, fmax=cfg.fmax)
    return torch.from_numpy(fb.astype(np.float32))


@functools.lru_cache(maxsize=8)
def mel_basis_pinv(cfg: MelConfig) -> torch.Tensor:
    """Least-squares inverse of the filterbank, computed once per config (every synthesis uses it)."""
    return torch.linalg.pinv(mel_basis(cfg))


@functools.lru_cache(maxsize=8)
def window(cfg: MelConfig) -> torch.Tensor:
    return torch.hann_window(cfg.win_length)


def magnitude(wav: torch.Tensor, cfg: MelConfig) -> torch.Tensor:
    """|STFT| of (..., samples) -> (..., freq, frames), centred frames."""
    spec = torch.stft(wav, cfg.n_fft, cfg.hop_length, cfg.win_length, window(cfg), center=True,
                      return_complex=True)
    return spec.abs()


def log_mel(wav: np.ndarray | torch.Tensor, cfg: MelConfig) -> torch.Tensor:
    """Waveform (samples,) -> log-mel (n_mels, frames), float32."""
    wav = torch.as_tensor(np.asarray(wav, dtype=np.float32))
    mel = mel_basis(cfg) @ magnitude(wav, cfg)
    return torch.log(torch.clamp(mel, min=LOG_FLOOR))
