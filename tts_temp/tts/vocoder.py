"""Mel -> waveform. Griffin-Lim with momentum behind a one-method interface.

The fast Griffin-Lim of Perraudin, Balazs and Sondergaard (2013) adds a momentum term to the phase
update, which reaches in ~32 iterations what plain Griffin-Lim needs ~100 for. Anything with
`__call__(frames) -> waveform` (a neural vocoder, WORLD) can replace it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import torch

from tts_temp.tts.mel import LOG_FLOOR, MelConfig, mel_basis_pinv, window


class Vocoder(Protocol):
    sample_rate: int

    def __call__(self, log_mel: torch.Tensor) -> torch.Tensor:
        """(channels, frames) or (batch, channels, frames) of the voice's features -> (…, samples).

        Griffin-Lim takes natural-log mels; `tts.world.WorldVocoder` takes WORLD frames. A voice
        file says which one it needs (see tts_temp.tts.frames)."""


@dataclass
class GriffinLim:
    cfg: MelConfig
    n_iter: int = 32
    momentum: float = 0.99
    power: float = 1.2  # sharpen the magnitude a little; softens Griffin-Lim's phasiness

    feature_kind = "mel"   # what frames it takes (see tts_temp.tts.frames)

    @property
    def sample_rate(self) -> int:
        return self.cfg.sample_rate

    @property
    def hop_length(self) -> int:
        return self.cfg.hop_length

    @property
    def mel_config(self) -> MelConfig:
        return self.cfg

    def linear_magnitude(self, log_mel: torch.Tensor) -> torch.Tensor:
        """Invert the mel filterbank by least squares (clamped at zero)."""
        mel = torch.exp(log_mel)
        return torch.clamp(mel_basis_pinv(self.cfg) @ mel, min=0.0) ** self.power

    def __call__(self, log_mel: torch.Tensor) -> torch.Tensor:
        cfg = self.cfg
        frames = log_mel.shape[-1]
        # the STFT's reflect padding needs a signal longer than half a window: a very short piece (a
        # letter, "-h") is padded with silence frames, rendered, and cut back to its own length
        short = max(0, cfg.n_fft // (2 * cfg.hop_length) + 2 - frames)
        if short:
            floor = torch.full(log_mel.shape[:-1] + (short,), math.log(LOG_FLOOR), dtype=log_mel.dtype)
            return self(torch.cat([log_mel, floor], dim=-1))[..., : max(frames - 1, 0) * cfg.hop_length]
        mag = self.linear_magnitude(log_mel)
        length = (mag.shape[-1] - 1) * cfg.hop_length
        # Deterministic start (zero phase) so T=0 synthesis is bit-identical run to run.
        angles = torch.ones_like(mag, dtype=torch.complex64)
        prev = torch.zeros_like(angles)
        win = window(cfg)
        wav = torch.zeros(mag.shape[:-2] + (length,))
        for _ in range(self.n_iter):
            wav = torch.istft(mag * angles, cfg.n_fft, cfg.hop_length, cfg.win_length, win, center=True,
                              length=length)
            spec = torch.stft(wav, cfg.n_fft, cfg.hop_length, cfg.win_length, win, center=True,
                              return_complex=True)
            rebuilt = spec - (self.momentum / (1 + self.momentum)) * prev
            prev = spec
            angles = rebuilt / torch.clamp(rebuilt.abs(), min=1e-8)
        wav = torch.istft(mag * angles, cfg.n_fft, cfg.hop_length, cfg.win_length, win, center=True, length=length)
        return wav
