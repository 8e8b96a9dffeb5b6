"""Glow-style flow between acoustic frames and the HMM's latent frames: the one set of flow layers
that tts_temp's own voices and the Coqui OverFlow port both run.

Every layer is `forward(x, mask, reverse=False) -> (y, logdet)` with x of shape (B, C, T) and
logdet of shape (B,); the reverse direction returns the log-determinant of the inverse map (minus
the forward one), so each layer can be inverted and checked on its own. `identity=True` builds
the exact identity map (actnorm 0/0, 1x1 convolutions = I, couplings ending in zeros): adding the
flow to a trained plain neural HMM then starts from the model that was already speaking.

Coqui's Glow decoder is the same stack with other options: 1x1 convolutions on groups of
`num_splits` channels, no swapping of the coupling halves, dilated WaveNets and an optional
sigmoid scale. Its parameter names are mapped onto these layers at load (`coqui_flow_key`).
"""
from __future__ import annotations

import re

import torch
from torch import nn


def _frames(mask: torch.Tensor) -> torch.Tensor:
    return mask.sum(dim=(1, 2))


class ActNorm(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.log_scale = nn.Parameter(torch.zeros(1, channels, 1))
        self.bias = nn.Parameter(torch.zeros(1, channels, 1))

    def forward(self, x, mask, reverse: bool = False):
        logdet = self.log_scale.sum() * _frames(mask)
        if reverse:
            return (x - self.bias) * torch.exp(-self.log_scale) * mask, -logdet
        return (x * torch.exp(self.log_scale) + self.bias) * mask, logdet


class InvConv1x1(nn.Module):
    """Channel mixing by an invertible matrix; identity or a random rotation at start.

    With `num_splits` below the channel count the matrix mixes groups of `num_splits` channels,
    half of each group from either half of the channels (Glow-TTS's InvConvNear), and the same
    matrix serves every group.
    """

    def __init__(self, channels: int, num_splits: int | None = None, identity: bool = True,
                 generator: torch.Generator | None = None):
        super().__init__()
        ns = channels if num_splits is None else num_splits
        if channels % ns or (ns < channels and ns % 2):
            raise ValueError(f"num_splits {ns} must divide the {channels} channels (and be even when smaller)")
        self.splits = ns
        if identity:
            w = torch.eye(ns)
        else:
            w, _ = torch.linalg.qr(torch.randn(ns, ns, generator=generator))
        self.weight = nn.Parameter(w)

    def forward(self, x, mask, reverse: bool = False):
        b, c, t = x.shape
        ns = self.splits
        w = torch.linalg.inv(self.weight) if reverse else self.weight
        if ns == c:  # one group: the regrouping below would leave every channel where it is
            y = torch.einsum("ij,bjt->bit", w, x) * mask
        else:
            groups = x.view(b, 2, c // ns, ns // 2, t).permute(0, 1, 3, 2, 4).contiguous().view(b, ns, c // ns, t)
            y = torch.einsum("ij,bjgt->bigt", w, groups)
            y = y.view(b, 2, ns // 2, c // ns, t).permute(0, 1, 3, 2, 4).contiguous().view(b, c, t) * mask
        logdet = torch.linalg.slogdet(self.weight)[1] * (c / ns) * _frames(mask)
        return y, (-logdet if reverse else logdet)


class WaveNet(nn.Module):
    """Non-causal gated dilated convolutions, as in WaveGlow / Glow-TTS couplings."""

    def __init__(self, in_ch: int, out_ch: int, hidden: int, n_layers: int, kernel: int = 5,
                 dilation_rate: int = 1):
        super().__init__()
        self.hidden = hidden
        self.inp = nn.Conv1d(in_ch, hidden, 1)
        self.layers = nn.ModuleList()
        self.res_skip = nn.ModuleList()
        for i in range(n_layers):
            dil = dilation_rate ** i
            self.layers.append(nn.Conv1d(hidden, 2 * hidden, kernel, dilation=dil, padding=dil * (kernel - 1) // 2))
            self.res_skip.append(nn.Conv1d(hidden, 2 * hidden if i < n_layers - 1 else hidden, 1))
        self.out = nn.Conv1d(hidden, out_ch, 1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x, mask):
        x = self.inp(x) * mask
        skip = torch.zeros_like(x)
        for i, (layer, rs) in enumerate(zip(self.layers, self.res_skip)):
            a, b = layer(x).chunk(2, dim=1)
            y = rs(torch.tanh(a) * torch.sigmoid(b))
            if i < len(self.layers) - 1:
                x = (x + y[:, :self.hidden]) * mask
                skip = skip + y[:, self.hidden:]
            else:
                skip = skip + y
        return self.out(skip * mask) * mask


class AffineCoupling(nn.Module):
    """Half the channels pass through and set a scale and shift for the other half.

    `flip` swaps the roles of the halves, so alternating blocks transform both of them while
    the whole decoder can still start as the exact identity. `sigmoid_scale` bounds the scale
    as log(1e-6 + sigmoid(s + 2)) (a Glow-TTS option Coqui configs can switch on).
    """

    def __init__(self, channels: int, hidden: int, n_layers: int, kernel: int = 5, flip: bool = False,
                 dilation_rate: int = 1, sigmoid_scale: bool = False):
        super().__init__()
        self.half = channels // 2
        self.flip = flip
        self.sigmoid_scale = sigmoid_scale
        self.net = WaveNet(self.half, 2 * self.half, hidden, n_layers, kernel, dilation_rate)

    def forward(self, x, mask, reverse: bool = False):
        xa, xb = x[:, :self.half], x[:, self.half:]
        if self.flip:
            xa, xb = xb, xa
        shift, log_scale = self.net(xa, mask).chunk(2, dim=1)
        if self.sigmoid_scale:
            log_scale = torch.log(1e-6 + torch.sigmoid(log_scale + 2))
        logdet = (log_scale * mask).sum(dim=(1, 2))
        if reverse:
            yb = (xb - shift) * torch.exp(-log_scale) * mask
            logdet = -logdet
        else:
            yb = (xb * torch.exp(log_scale) + shift) * mask
        return torch.cat([yb, xa] if self.flip else [xa, yb], dim=1), logdet


def squeeze(x: torch.Tensor, mask: torch.Tensor, factor: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, C, T) -> (B, C * factor, T // factor): neighbouring frames become channels."""
    b, c, t = x.shape
    x = x.reshape(b, c, t // factor, factor).permute(0, 3, 1, 2).reshape(b, c * factor, t // factor)
    return x, mask[:, :, factor - 1::factor]


def unsqueeze(x: torch.Tensor, mask: torch.Tensor, factor: int) -> tuple[torch.Tensor, torch.Tensor]:
    b, c, t = x.shape
    x = x.reshape(b, factor, c // factor, t).permute(0, 2, 3, 1).reshape(b, c // factor, t * factor)
    return x, mask.repeat_interleave(factor, dim=2)


class FlowDecoder(nn.Module):
    """frames -> latent (forward, for training) and latent -> frames (reverse, for synthesis).

    Blocks of ActNorm, InvConv1x1 and AffineCoupling on frames squeezed by `squeeze_factor`.
    Time lengths must be multiples of `squeeze_factor`; callers pad or cut. `alternate` swaps the
    coupling halves every other block (tts_temp's voices); Coqui's decoder never swaps them and
    mixes groups of `num_splits` channels instead.
    """

    def __init__(self, channels: int = 80, n_blocks: int = 4, hidden: int = 64, n_layers: int = 2,
                 kernel: int = 5, squeeze_factor: int = 2, identity: bool = True, num_splits: int | None = None,
                 dilation_rate: int = 1, sigmoid_scale: bool = False, alternate: bool = True):
        super().__init__()
        self.factor = squeeze_factor
        ch = channels * squeeze_factor
        self.layers = nn.ModuleList()
        for i in range(n_blocks):
            self.layers.append(ActNorm(ch))
            self.layers.append(InvConv1x1(ch, num_splits, identity=identity))
            self.layers.append(AffineCoupling(ch, hidden, n_layers, kernel, flip=alternate and i % 2 == 1,
                                              dilation_rate=dilation_rate, sigmoid_scale=sigmoid_scale))

    def forward(self, x, mask, reverse: bool = False):
        x, sq_mask = squeeze(x, mask, self.factor)
        x = x * sq_mask
        total = torch.zeros(x.shape[0], device=x.device)
        for layer in (reversed(self.layers) if reverse else self.layers):
            x, logdet = layer(x, sq_mask, reverse=reverse)
            total = total + logdet
        x, _ = unsqueeze(x, sq_mask, self.factor)
        return x * mask, total


# Coqui's Glow decoder keys (after weight norm is folded) -> FlowDecoder's, within one block's layer.
_COQUI_FLOW_NAMES = [(r"\.logs$", ".log_scale"), (r"\.start\.", ".net.inp."), (r"\.end\.", ".net.out."),
                     (r"\.wn\.in_layers\.", ".net.layers."), (r"\.wn\.res_skip_layers\.", ".net.res_skip.")]


def coqui_flow_key(key: str, prefix: str = "decoder.glow_decoder.flows.", to: str = "decoder.layers.") -> str:
    """One key of a Coqui OverFlow state dict -> the key of the same tensor in a FlowDecoder named
    `to` (keys outside the decoder come back unchanged)."""
    if not key.startswith(prefix):
        return key
    key = to + key[len(prefix):]
    for pattern, repl in _COQUI_FLOW_NAMES:
        key = re.sub(pattern, repl, key)
    return key
