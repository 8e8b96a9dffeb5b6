"""OverFlow = text encoder + neural HMM over latent frames + flow from latent to frames.

Training maximises log p(mel | text) = log p_HMM(flow(mel)) + log|det d flow / d mel| exactly.
The flow can be switched off (`flow_active = False`): the HMM then models the mel frames
directly, which is how training starts (see tts_temp.tts.train for why).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields

import torch
from torch import nn

from tts_temp.tts.encoder import Encoder
from tts_temp.tts.flow import FlowDecoder
from tts_temp.tts.hmm import NeuralHMM, SampleOptions


@dataclass
class ModelConfig:
    n_symbols: int
    frame_dim: int = 80        # channels of a frame: 80 log-mels, or 84 WORLD rows (set from the features)
    encoder_dim: int = 256
    encoder_convs: int = 3
    states_per_phone: int = 2
    prenet_dim: int = 128
    lstm_dim: int = 256
    prenet_dropout: float = 0.5
    std_floor: float = 0.01
    flow_blocks: int = 4
    flow_hidden: int = 64
    flow_layers: int = 2
    flow_kernel: int = 5
    squeeze: int = 2

    @classmethod
    def from_dict(cls, d: dict) -> "ModelConfig":
        """A stored config; files written before the rename call frame_dim `n_mels`."""
        d = {("frame_dim" if k == "n_mels" else k): v for k, v in d.items()}
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

    def to_dict(self) -> dict:
        return asdict(self)


def length_mask(lengths: torch.Tensor, max_len: int) -> torch.Tensor:
    return torch.arange(max_len, device=lengths.device)[None] < lengths[:, None]


class AcousticModel(nn.Module):
    """What synthesis asks of a voice's model, and the one way it samples: tts_temp's OverFlow and the
    Coqui port are both one. A subclass has `encoder`, `hmm` and `flow_active`, and turns one item's
    latent frames into frames with `latent_to_frames`."""

    encoder: nn.Module
    hmm: nn.Module

    @property
    def flow_active(self) -> bool:
        raise NotImplementedError

    def latent_to_frames(self, z: torch.Tensor) -> torch.Tensor:
        """One item's latent frames (1, C, n) -> its frames (1, C, m), m <= n."""
        raise NotImplementedError

    @torch.no_grad()
    def sample(self, ids: torch.Tensor, opts: SampleOptions, temperatures: Sequence[float],
               generators: Sequence[torch.Generator | None]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One text, many (temperature, generator) pairs -> normalised frames (B, C, T), lengths (B,)
        and which items ran into opts.max_frames (B,), judged on the sampler's own lengths (a flow
        that cuts to its squeeze factor would hide an odd max_frames).

        The text is encoded once and shared by every item (the encoder is deterministic at
        inference). The flow runs on each item's own frames, so an item's frames do not depend on
        what else is in the batch: a batch's zero tail would otherwise reach into its last frames
        through the convolutions."""
        bsz = len(temperatures)
        ids = ids.reshape(1, -1)
        states, n_states = self.encoder(ids, torch.full((1,), ids.shape[1], dtype=torch.long))
        states, n_states = states.expand(bsz, -1, -1), n_states.expand(bsz)
        z, lengths = self.hmm.sample(states, n_states, opts, torch.tensor(list(temperatures)), generators)
        z = z.transpose(1, 2)
        hit = lengths >= opts.max_frames
        if self.flow_active:
            out, cut = torch.zeros_like(z), lengths.clone()
            for i in range(bsz):
                frames = self.latent_to_frames(z[i:i + 1, :, : int(lengths[i])])
                out[i, :, : frames.shape[2]] = frames[0]
                cut[i] = frames.shape[2]
            z, lengths = out, cut
        return z, lengths, hit


class OverFlow(AcousticModel):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.encoder = Encoder(cfg.n_symbols, cfg.encoder_dim, cfg.encoder_convs, states_per_phone=cfg.states_per_phone)
        self.hmm = NeuralHMM(cfg.encoder_dim, cfg.frame_dim, cfg.prenet_dim, cfg.lstm_dim, cfg.prenet_dropout,
                             cfg.std_floor)
        self.flow = FlowDecoder(cfg.frame_dim, cfg.flow_blocks, cfg.flow_hidden, cfg.flow_layers, cfg.flow_kernel,
                                cfg.squeeze, identity=True)
        self.register_buffer("flow_on", torch.tensor(False))

    @property
    def flow_active(self) -> bool:
        return bool(self.flow_on)

    @flow_active.setter
    def flow_active(self, value: bool) -> None:
        self.flow_on.fill_(bool(value))

    def log_likelihood(self, ids, id_lengths, frames, frame_lengths) -> torch.Tensor:
        """Exact log p(frames | ids) per item, (B,). frames: (B, frame_dim, T), T a multiple of squeeze."""
        states, n_states = self.encoder(ids, id_lengths)
        z, logdet = frames, torch.zeros(frames.shape[0], device=frames.device)
        if self.flow_active:
            mask = length_mask(frame_lengths, frames.shape[2]).unsqueeze(1).to(frames.dtype)
            z, logdet = self.flow(frames, mask)
        ll = self.hmm.log_likelihood(states, n_states, z.transpose(1, 2), frame_lengths)
        return ll + logdet

    def loss(self, ids, id_lengths, frames, frame_lengths) -> torch.Tensor:
        """Negative log-likelihood per frame (the number training logs)."""
        return -self.log_likelihood(ids, id_lengths, frames, frame_lengths).sum() / frame_lengths.sum()

    def latent_to_frames(self, z: torch.Tensor) -> torch.Tensor:
        """One item's latent frames (1, C, n) -> its frames (1, C, n) through the reverse flow: padded to
        the squeeze factor by repeating the last frame, and cut back."""
        n = z.shape[2]
        pad = (-n) % self.cfg.squeeze
        if pad:
            z = torch.cat([z, z[:, :, -1:].expand(-1, -1, pad)], dim=2)
        mask = torch.ones(1, 1, z.shape[2], dtype=z.dtype)
        return self.flow(z, mask, reverse=True)[0][:, :, :n]
