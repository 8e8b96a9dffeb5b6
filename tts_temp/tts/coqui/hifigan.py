"""Coqui-TTS's HiFi-GAN generator as a tts_temp vocoder (natural-log mel in, waveform out).

Only the generator of Coqui's GAN checkpoint is read (`model_g.*`; the discriminator is skipped),
with weight norm folded into plain weights at load, as Coqui's `remove_weight_norm` does for
inference. Coqui pads the mel by `inference_padding` frames (replicating the edges) before
generating; `generate` returns exactly that output, and calling the vocoder trims the padding off
again so that frame i of the mel is sample i * hop of the waveform, as with Griffin-Lim.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from tts_temp.errors import UserError
from tts_temp.tts.coqui.config import CoquiAudio, locate, read_config, read_state_dict
from tts_temp.tts.coqui.model import fold_weight_norm

LRELU_SLOPE = 0.1


def _pad(kernel: int, dilation: int = 1) -> int:
    return (kernel * dilation - dilation) // 2


class ResBlock1(nn.Module):
    def __init__(self, ch: int, kernel: int, dilations: list[int]):
        super().__init__()
        self.convs1 = nn.ModuleList(nn.Conv1d(ch, ch, kernel, dilation=d, padding=_pad(kernel, d)) for d in dilations)
        self.convs2 = nn.ModuleList(nn.Conv1d(ch, ch, kernel, padding=_pad(kernel)) for _ in dilations)

    def forward(self, x):
        for c1, c2 in zip(self.convs1, self.convs2):
            x = x + c2(F.leaky_relu(c1(F.leaky_relu(x, LRELU_SLOPE)), LRELU_SLOPE))
        return x


class ResBlock2(nn.Module):
    def __init__(self, ch: int, kernel: int, dilations: list[int]):
        super().__init__()
        self.convs = nn.ModuleList(nn.Conv1d(ch, ch, kernel, dilation=d, padding=_pad(kernel, d)) for d in dilations)

    def forward(self, x):
        for c in self.convs:
            x = x + c(F.leaky_relu(x, LRELU_SLOPE))
        return x


@dataclass
class GeneratorSettings:
    in_channels: int
    upsample_factors: list[int]
    upsample_kernel_sizes: list[int]
    upsample_initial_channel: int
    resblock_kernel_sizes: list[int]
    resblock_dilation_sizes: list[list[int]]
    resblock_type: str = "1"
    inference_padding: int = 5
    conv_post_bias: bool = True


class HifiganGenerator(nn.Module):
    def __init__(self, s: GeneratorSettings):
        super().__init__()
        self.settings = s
        self.conv_pre = nn.Conv1d(s.in_channels, s.upsample_initial_channel, 7, padding=3)
        self.ups = nn.ModuleList()
        self.resblocks = nn.ModuleList()
        block = ResBlock1 if str(s.resblock_type) == "1" else ResBlock2
        ch = s.upsample_initial_channel
        for i, (u, k) in enumerate(zip(s.upsample_factors, s.upsample_kernel_sizes)):
            ch = s.upsample_initial_channel // 2 ** (i + 1)
            self.ups.append(nn.ConvTranspose1d(ch * 2, ch, k, u, padding=(k - u) // 2))
            for k2, d in zip(s.resblock_kernel_sizes, s.resblock_dilation_sizes):
                self.resblocks.append(block(ch, k2, d))
        self.conv_post = nn.Conv1d(ch, 1, 7, padding=3, bias=s.conv_post_bias)

    def forward(self, x):
        o = self.conv_pre(x)
        n = len(self.settings.resblock_kernel_sizes)
        for i, up in enumerate(self.ups):
            o = up(F.leaky_relu(o, LRELU_SLOPE))
            z = self.resblocks[i * n](o)
            for j in range(1, n):
                z = z + self.resblocks[i * n + j](o)
            o = z / n
        return torch.tanh(self.conv_post(F.leaky_relu(o)))


@dataclass
class CoquiHifigan:
    """A loaded Coqui HiFi-GAN: `vocoder(log_mel)` with log_mel (…, n_mels, frames) in natural log."""

    generator: HifiganGenerator
    audio: CoquiAudio
    path: Path
    feature_kind = "mel"

    @property
    def mel_config(self):
        return self.audio.mel

    @property
    def sample_rate(self) -> int:
        return self.audio.sample_rate

    @property
    def hop_length(self) -> int:
        return int(torch.tensor(self.generator.settings.upsample_factors).prod())

    @torch.no_grad()
    def generate(self, mel: torch.Tensor) -> torch.Tensor:
        """Coqui's `inference`: mel (B, n_mels, T) in the vocoder's own scale -> (B, 1, (T + 2 pad) * hop)."""
        p = self.generator.settings.inference_padding
        return self.generator(F.pad(mel, (p, p), "replicate"))

    def __call__(self, log_mel: torch.Tensor) -> torch.Tensor:
        squeeze = log_mel.dim() == 2
        mel = self.audio.from_natural_log(log_mel if not squeeze else log_mel[None])
        wav = self.generate(mel)[:, 0]
        start = self.generator.settings.inference_padding * self.hop_length
        wav = wav[:, start:start + mel.shape[-1] * self.hop_length]
        return wav[0] if squeeze else wav


def load_vocoder(path: str | os.PathLike) -> CoquiHifigan:
    """A Coqui `hifigan` vocoder folder (config.json + model file) -> its generator."""
    config_path, weights_path = locate(path)
    cfg = read_config(config_path)
    generator = cfg.get("generator_model", "hifigan_generator")
    if str(cfg.get("model", "")).lower() != "hifigan" or generator != "hifigan_generator":
        raise UserError(f"{config_path}: model {cfg.get('model')!r} is not a Coqui HiFi-GAN vocoder")
    audio = CoquiAudio.from_config(cfg, config_path)
    params = dict(cfg.get("generator_model_params") or {})
    params.setdefault("in_channels", audio.num_mels)
    for unsupported in ("cond_channels", "cond_in_each_up_layer", "pre_linear"):
        if params.get(unsupported):
            raise UserError(f"{config_path}: generator option {unsupported} is not supported")
    known = set(GeneratorSettings.__dataclass_fields__)
    try:
        settings = GeneratorSettings(**{k: v for k, v in params.items() if k in known})
    except TypeError as exc:
        raise UserError(f"{config_path}: incomplete generator_model_params ({exc})") from None
    state = read_state_dict(weights_path)
    if any(k.startswith("model_g.") for k in state):
        state = {k[len("model_g."):]: v for k, v in state.items() if k.startswith("model_g.")}
    gen = HifiganGenerator(settings)
    try:
        gen.load_state_dict(fold_weight_norm(state), strict=True)
    except RuntimeError as exc:
        lines = [l.strip() for l in str(exc).splitlines() if l.strip()]
        raise UserError(f"{weights_path}: weights do not match config.json: {' '.join(lines[1:3])[:300]}") from None
    gen.eval()
    return CoquiHifigan(gen, audio, weights_path)
