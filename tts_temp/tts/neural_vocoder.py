"""A neural source-filter vocoder for WORLD frames: harmonics + noise, shaped by a learnt filter.

Why this shape: the training source (festival's slt HTS voice) is itself a pulse-plus-noise
excitation through a minimum-phase filter. So the model keeps that structure and learns only the
filters: a small convolutional network at frame rate reads the voice's WORLD frames and predicts,
per frame, a harmonic envelope and a noise envelope on a linear frequency grid. The excitation is
not learnt: each harmonic k of the frame F0 gets the harmonic envelope's magnitude at k*F0 and
its minimum phase (from the real cepstrum), and the sum runs at the sample rate from the
integrated F0 phase; the noise is complex Gaussian noise in the STFT domain times the noise
envelope, inverted by an inverse STFT. Everything learnt runs at frame rate (86 frames a second),
so it trains on two CPU cores with a multi-resolution STFT loss alone (no discriminator) and
renders far faster than real time.

The network adds its output to the frames' own envelope bands (interpolated to the grid), so it
starts as a WORLD-like source-filter model and learns the corrections that make it sound like the
recordings. F0 is median-filtered over frames before rendering: independent noise on each
frame's log-F0 (sampling at T > 0) would otherwise render as pitch jumps.

Determinism: one item is rendered from its own frames alone (batch row == item alone), and the
noise comes from an explicit torch.Generator, by default seeded with `noise_seed` per item.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from tts_temp.tts.world import WorldFrameLayout, mean_over_frames, smooth_pitch

FORMAT = "tts_temp.neural_vocoder/1"


@dataclass(frozen=True)
class NeuralVocoderConfig(WorldFrameLayout):
    sample_rate: int = 22050
    hop_length: int = 256
    n_mels: int = 80              # WORLD frame layout: bands, log-F0, voicing, aperiodicity bands
    n_aperiodicity: int = 2
    f0_floor: float = 71.0
    f0_ceil: float = 800.0
    channels: int = 128           # frame-rate network width
    dilations: tuple[int, ...] = (1, 2, 4, 8, 1, 2)
    fft_size: int = 1024          # STFT in which the filters act (window = fft_size, hop = hop_length)
    f0_median: int = 5            # frames; odd; 1 = no smoothing (log-F0 and the voicing flag)
    f0_mean: int = 1              # frames; odd; > 1: then a running mean of log-F0 (rendering only)
    noise_seed: int = 0           # per-item noise seed when no generator is passed
    voiced_noise_db: float = 0.0  # gain of the noise branch in voiced frames at rendering, dB (set at export; see envelopes)

    @property
    def n_bins(self) -> int:
        return self.fft_size // 2 + 1

    def to_dict(self) -> dict:
        d = asdict(self)
        d["dilations"] = list(self.dilations)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "NeuralVocoderConfig":
        d = dict(d)
        if "dilations" in d:
            d["dilations"] = tuple(int(x) for x in d["dilations"])
        return cls(**d)


def band_to_grid(cfg: NeuralVocoderConfig) -> torch.Tensor:
    """(n_bins, n_mels): linear interpolation of WORLD's band values (at their centres) onto the grid,
    the same interpolation WORLD synthesis uses (tts_temp.tts.world.bands_to_envelope)."""
    import librosa

    nyq = cfg.sample_rate / 2
    centres = librosa.mel_frequencies(cfg.n_mels + 2, fmin=0.0, fmax=nyq)[1:-1]
    grid = np.linspace(0, nyq, cfg.n_bins)
    eye = np.eye(cfg.n_mels)
    m = np.stack([np.interp(grid, centres, eye[i]) for i in range(cfg.n_mels)], axis=1)
    return torch.from_numpy(m.astype(np.float32))


def upsample(x: torch.Tensor, hop: int) -> torch.Tensor:
    """(..., T) frame values -> (..., T * hop) samples, linear between frame centres (frame i at
    sample i * hop, held after the last frame), as WORLD places its frames."""
    t = x.shape[-1]
    pos = torch.arange(t * hop, device=x.device, dtype=torch.float32) / hop
    i0 = pos.floor().long().clamp(max=t - 1)
    i1 = (i0 + 1).clamp(max=t - 1)
    w = (pos - i0.float()).to(x.dtype)
    return x[..., i0] * (1 - w) + x[..., i1] * w


def minimum_phase(log_mag: torch.Tensor) -> torch.Tensor:
    """(..., n_bins) natural-log magnitude on 0..Nyquist -> its minimum phase (radians), by folding
    the real cepstrum."""
    n_bins = log_mag.shape[-1]
    n = 2 * (n_bins - 1)
    cep = torch.fft.irfft(log_mag, n=n)
    fold = torch.zeros(n, device=log_mag.device, dtype=log_mag.dtype)
    fold[0] = 1.0
    fold[1: n // 2] = 2.0
    fold[n // 2] = 1.0
    return torch.fft.rfft(cep * fold, n=n).imag


class ResBlock(nn.Module):
    def __init__(self, channels: int, dilation: int):
        super().__init__()
        self.conv = nn.Conv1d(channels, channels, 3, padding=dilation, dilation=dilation)
        self.mix = nn.Conv1d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.mix(F.leaky_relu(self.conv(F.leaky_relu(x, 0.1)), 0.1))


class NeuralSourceFilter(nn.Module):
    """WORLD frames (B, dim, T), de-normalised as the voice emits them -> waveform (B, T * hop)."""

    def __init__(self, cfg: NeuralVocoderConfig, mean: torch.Tensor | None = None,
                 std: torch.Tensor | None = None):
        super().__init__()
        self.cfg = cfg
        self.register_buffer("mean", torch.zeros(cfg.dim) if mean is None else mean.reshape(-1).float().clone())
        self.register_buffer("std", torch.ones(cfg.dim) if std is None else std.reshape(-1).float().clone())
        self.register_buffer("grid_map", band_to_grid(cfg), persistent=False)
        self.pre = nn.Conv1d(cfg.dim, cfg.channels, 5, padding=2)
        self.blocks = nn.ModuleList(ResBlock(cfg.channels, d) for d in cfg.dilations)
        self.post = nn.Conv1d(cfg.channels, 2 * cfg.n_bins, 1)
        nn.init.zeros_(self.post.weight)
        nn.init.zeros_(self.post.bias)
        # per-branch level (log): set from data before training (see calibrate_levels)
        self.level = nn.Parameter(torch.zeros(2))

    @torch.no_grad()
    def init_weights(self, generator: torch.Generator) -> None:
        """Draw the convolutions' weights from `generator` (PyTorch's default uniform bounds), so a
        training run's start depends on its seed alone; the output layer stays zero (the model
        starts as the frames' own envelope)."""
        for conv in [self.pre, *(m for b in self.blocks for m in (b.conv, b.mix))]:
            bound = 1.0 / math.sqrt(conv.in_channels * conv.kernel_size[0])
            conv.weight.copy_(torch.rand(conv.weight.shape, generator=generator) * 2 * bound - bound)
            conv.bias.copy_(torch.rand(conv.bias.shape, generator=generator) * 2 * bound - bound)
        nn.init.zeros_(self.post.weight)
        nn.init.zeros_(self.post.bias)

    # --- the pieces -------------------------------------------------------------------------
    def smoothed(self, frames: torch.Tensor) -> torch.Tensor:
        """The frames with log-F0 and the voicing flag median-filtered over time (what the vocoder
        renders): sampled frames carry independent noise on both, heard as pitch jumps and voicing
        flicker."""
        out = smooth_pitch(frames, self.cfg.lf0, self.cfg.f0_median)
        if self.cfg.f0_mean > 1:  # the median leaves steps between runs of noisy frames; a short mean ramps them
            lf0 = self.cfg.lf0
            out = torch.cat([out[:, :lf0], mean_over_frames(out[:, lf0], self.cfg.f0_mean)[:, None],
                             out[:, lf0 + 1:]], dim=1)
        return out

    def envelopes(self, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(harmonic, noise) natural-log magnitudes (B, n_bins, T) on the linear grid.

        `voiced_noise_db` raises the noise branch in voiced frames at rendering (training runs at 0):
        the harmonic branch is a strictly periodic pulse train, without the jitter and breath of a
        voice, and more noise between its harmonics is what both naturalness proxies prefer on
        held-out sentences (docs/benchmarks.md); unvoiced frames keep the level trained on the
        recordings."""
        cfg = self.cfg
        x = (frames - self.mean[None, :, None]) / self.std[None, :, None]
        h = self.pre(x)
        for block in self.blocks:
            h = block(h)
        out = self.post(F.leaky_relu(h, 0.1))
        base = 0.5 * torch.einsum("gm,bmt->bgt", self.grid_map, frames[:, : cfg.n_mels])
        harm = base + out[:, : cfg.n_bins] + self.level[0]
        noise = base + out[:, cfg.n_bins:] + self.level[1]
        if cfg.voiced_noise_db:
            noise = noise + cfg.voiced(frames)[:, None, :] * (cfg.voiced_noise_db * math.log(10) / 20)
        return harm.clamp(max=10.0), noise.clamp(max=10.0)

    def excitation(self, frames: torch.Tensor) -> torch.Tensor:
        """(B, T * hop) band-limited pulse train of the frame F0 (every harmonic below 0.98 x Nyquist
        at amplitude 1, phase from the integrated F0), zero where the frames are unvoiced. Not learnt."""
        cfg = self.cfg
        hop = cfg.hop_length
        f0 = torch.exp(frames[:, cfg.lf0].double()).clamp(cfg.f0_floor, cfg.f0_ceil)
        voiced = cfg.voiced(frames).double()
        f0_s = upsample(f0, hop)
        phi = torch.remainder(torch.cumsum(2 * math.pi * f0_s / cfg.sample_rate, dim=-1), 2 * math.pi)
        k = torch.floor(0.98 * cfg.sample_rate / 2 / f0_s)
        half = torch.sin(phi / 2)
        near = half.abs() < 1e-6
        pulse = torch.where(near, k, torch.sin((k + 0.5) * phi) / (2 * torch.where(near, torch.ones_like(half), half))
                            - 0.5)
        return (pulse * upsample(voiced, hop)).float()

    def render(self, frames: torch.Tensor, harm: torch.Tensor, noise_env: torch.Tensor,
               generator: torch.Generator | None) -> torch.Tensor:
        """Pulse train x harmonic filter (magnitude, minimum phase) + Gaussian noise x noise
        magnitude, in the STFT domain (frame t at sample t * hop), back by one inverse STFT."""
        cfg = self.cfg
        b, _, t = harm.shape
        n_fft = cfg.fft_size
        dev = harm.device
        win = torch.hann_window(n_fft, device=dev)
        with torch.no_grad():
            exc = torch.stft(self.excitation(frames), n_fft, cfg.hop_length, n_fft, win, center=True,
                             return_complex=True)[..., : t + 1]                            # (B, F, T + 1)
        harm = torch.cat([harm, harm[:, :, -1:]], dim=2)
        noise_env = torch.cat([noise_env, noise_env[:, :, -1:]], dim=2)
        phase = minimum_phase(harm.transpose(1, 2)).transpose(1, 2)
        filt = torch.exp(torch.complex(harm, phase))   # = polar(exp(harm), phase); polar's backward turns NaN where exp(harm) underflows
        re = torch.randn(b, cfg.n_bins, t + 1, generator=generator, device=dev)
        im = torch.randn(b, cfg.n_bins, t + 1, generator=generator, device=dev)
        spec = exc * filt + torch.complex(re, im) * torch.exp(noise_env)
        return torch.istft(spec, n_fft, cfg.hop_length, n_fft, win, center=True, length=t * cfg.hop_length)

    def forward(self, frames: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """(B, dim, T) -> (B, T * hop). Training path: the batch shares one generator."""
        frames = self.smoothed(frames)
        harm, noise_env = self.envelopes(frames)
        return self.render(frames, harm, noise_env, generator)

@dataclass
class NeuralVocoder:
    """The `Vocoder` interface over a trained NeuralSourceFilter.

    Each item is rendered from its own frames alone (`lengths` cuts off a batch's padding), with
    noise from `generator` or, when none is given, a generator seeded with `noise_seed` for each
    item: the same frames always give the same samples, in a batch or alone."""

    model: "NeuralSourceFilter"
    takes_lengths = True

    @property
    def sample_rate(self) -> int:
        return self.model.cfg.sample_rate

    @property
    def hop_length(self) -> int:
        return self.model.cfg.hop_length

    @torch.no_grad()
    def __call__(self, frames: torch.Tensor, lengths: torch.Tensor | None = None,
                 generator: torch.Generator | None = None) -> torch.Tensor:
        """(dim, T) -> (T * hop,), or (B, dim, T) -> (B, T * hop)."""
        model = self.model
        hop = model.cfg.hop_length
        single = frames.dim() == 2
        batch = frames[None] if single else frames
        dev = next(model.parameters()).device
        out = torch.zeros(batch.shape[0], batch.shape[-1] * hop)
        for i in range(batch.shape[0]):
            n = batch.shape[-1] if lengths is None else int(lengths[i])
            if n <= 0:
                continue
            g = generator
            if g is None:
                g = torch.Generator(device=dev)
                g.manual_seed(model.cfg.noise_seed)
            wav = model(batch[i: i + 1, :, :n].to(dev, torch.float32), g)
            out[i, : n * hop] = wav[0].cpu()
        return out[0] if single else out


# --- files ------------------------------------------------------------------------------------
def to_dict(model: "NeuralSourceFilter") -> dict:
    """The shippable form: plain tensors, numbers and strings (loads with weights_only=True)."""
    return {"format": FORMAT, "config": model.cfg.to_dict(),
            "state_dict": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}}


def from_dict(d: dict, device: str | torch.device = "cpu") -> NeuralVocoder:
    if d.get("format") != FORMAT:
        raise ValueError("not a tts_temp neural vocoder")
    model = NeuralSourceFilter(NeuralVocoderConfig.from_dict(d["config"]))
    model.load_state_dict(d["state_dict"])
    return NeuralVocoder(model.to(device).eval())


# --- training loss ------------------------------------------------------------------------------
RESOLUTIONS = ((2048, 512), (1024, 256), (512, 128), (256, 64))


def stft_loss(pred: torch.Tensor, target: torch.Tensor,
              resolutions: tuple[tuple[int, int], ...] = RESOLUTIONS) -> torch.Tensor:
    """Multi-resolution STFT loss: spectral convergence + L1 of log magnitudes, averaged."""
    total = pred.new_zeros(())
    for n_fft, hop in resolutions:
        win = torch.hann_window(n_fft, device=pred.device)
        p = torch.stft(pred, n_fft, hop, n_fft, win, return_complex=True).abs().clamp(min=1e-5)
        t = torch.stft(target, n_fft, hop, n_fft, win, return_complex=True).abs().clamp(min=1e-5)
        sc = torch.linalg.norm(t - p) / torch.linalg.norm(t).clamp(min=1e-5)
        mag = (p.log() - t.log()).abs().mean()
        total = total + sc + mag
    return total / len(resolutions)
