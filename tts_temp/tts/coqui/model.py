"""Coqui-TTS OverFlow and NeuralHMM-TTS, inference and exact log-likelihood, written natively.

The encoder and the Glow decoder are tts_temp's own layers (tts.encoder.Encoder, tts.flow.FlowDecoder)
with Coqui's options; Coqui's state dict keys (`encoder.emb`, `decoder.glow_decoder.flows.{i}` ...)
are mapped onto their names at load (`coqui_key`), after weight norm is folded into plain weights,
and loaded with a strict `load_state_dict`: any missing, extra or misshapen tensor is an error.
Sampling goes through the entry and the loop every tts_temp voice shares
(`tts.model.AcousticModel.sample`, `tts.hmm.sample_frames`): the whole batch at once, one generator
per item, where Coqui loops over the batch and draws from the global generator.
"""
from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from tts_temp.errors import UserError
from tts_temp.tts.coqui.config import config_bool, config_int, config_number
from tts_temp.tts.defaults import COQUI_DURATION_THRESHOLD, COQUI_TEMPERATURE
from tts_temp.tts.encoder import Encoder, coqui_encoder_key
from tts_temp.tts.flow import FlowDecoder, coqui_flow_key
from tts_temp.tts.hmm import Prenet, SampleOptions, dropout_items, forward_algorithm, sample_frames
from tts_temp.tts.model import AcousticModel

MODEL_TYPES = {"overflow": True, "neuralhmm_tts": False}  # Coqui's `model` (lower case) -> has a flow


@dataclass
class OverflowSettings:
    """The fields of Coqui's OverflowConfig / NeuralhmmTTSConfig that shape inference."""

    flow: bool = True
    state_per_phone: int = 2
    encoder_in_out_features: int = 512
    out_channels: int = 80
    ar_order: int = 1
    sampling_temp: float = COQUI_TEMPERATURE
    deterministic_transition: bool = True
    duration_threshold: float = COQUI_DURATION_THRESHOLD
    max_sampling_time: int = 1000
    prenet_type: str = "original"
    prenet_dim: int = 256
    prenet_n_layers: int = 2
    prenet_dropout: float = 0.5
    prenet_dropout_at_inference: bool = False
    memory_rnn_dim: int = 1024
    outputnet_size: list[int] = field(default_factory=lambda: [1024])
    std_floor: float = 0.01
    hidden_channels_dec: int = 150
    kernel_size_dec: int = 5
    dilation_rate: int = 1
    num_flow_blocks_dec: int = 12
    num_block_layers: int = 4
    num_splits: int = 4
    num_squeeze: int = 2
    sigmoid_scale: bool = False
    c_in_channels: int = 0

    @classmethod
    def from_config(cls, cfg: dict, where: object = "config") -> "OverflowSettings":
        """The config's values, each checked (one UserError line per bad value); a missing field takes
        the default of the config class of its model type, as Coqui's own loader does."""
        kind = str(cfg.get("model", "")).lower()
        if kind not in MODEL_TYPES:
            raise UserError(f"{where}: model {cfg.get('model')!r} is not OverFlow or NeuralHMM-TTS")
        given = {k: v for k, v in cfg.items() if k in _FIELD_CHECKS and v is not None}
        values = {**MODEL_DEFAULTS[kind], **given}
        checked = {k: _FIELD_CHECKS[k](where, k, values[k]) for k in _FIELD_CHECKS if k in values}
        s = cls(flow=MODEL_TYPES[kind], **checked)
        if s.prenet_type != "original":
            raise UserError(f"{where}: prenet_type {s.prenet_type!r} is not supported (only 'original')")
        if s.flow and s.c_in_channels:
            raise UserError(f"{where}: a conditioned flow (c_in_channels > 0) is not supported")
        if s.flow and (s.out_channels * s.num_squeeze) % s.num_splits:
            raise UserError(f"{where}: num_splits {s.num_splits} does not divide out_channels x num_squeeze "
                            f"({s.out_channels * s.num_squeeze})")
        return s


def _int(minimum: int):
    return lambda where, name, v: config_int(where, name, v, minimum)


def _int_list(where, name, v) -> list[int]:
    if not isinstance(v, list) or not v:
        raise UserError(f"{where}: {name} must be a non-empty list of integers, got {v!r}")
    return [config_int(where, f"{name}[{i}]", x) for i, x in enumerate(v)]


def _str(where, name, v) -> str:
    if not isinstance(v, str):
        raise UserError(f"{where}: {name} must be a string, got {v!r}")
    return v


# One check per field of OverflowSettings (what a value may be, as the Coqui model can use it).
_FIELD_CHECKS = {
    "state_per_phone": _int(1), "encoder_in_out_features": _int(2), "out_channels": _int(1), "ar_order": _int(1),
    "sampling_temp": lambda w, n, v: config_number(w, n, v, 0),
    "deterministic_transition": config_bool,
    "duration_threshold": lambda w, n, v: config_number(w, n, v, 0, 1, open_lo=True, open_hi=True),
    "max_sampling_time": _int(1), "prenet_type": _str, "prenet_dim": _int(1), "prenet_n_layers": _int(0),
    "prenet_dropout": lambda w, n, v: config_number(w, n, v, 0, 1, open_hi=True),
    "prenet_dropout_at_inference": config_bool, "memory_rnn_dim": _int(1), "outputnet_size": _int_list,
    "std_floor": lambda w, n, v: config_number(w, n, v, 0),
    "hidden_channels_dec": _int(1), "kernel_size_dec": _int(1), "dilation_rate": _int(1),
    "num_flow_blocks_dec": _int(1), "num_block_layers": _int(1), "num_splits": _int(1), "num_squeeze": _int(1),
    "sigmoid_scale": config_bool, "c_in_channels": _int(0),
}

# The defaults of Coqui's config classes (coqui-tts 0.28: TTS/tts/configs/overflow_config.py and
# neuralhmm_tts_config.py) where they differ between the two model types; a config.json written by
# Coqui holds every field, but a hand-written or trimmed one takes these.
_OVERFLOW_DEFAULTS = {"sampling_temp": COQUI_TEMPERATURE, "duration_threshold": COQUI_DURATION_THRESHOLD,
                      "prenet_dropout_at_inference": False, "std_floor": 0.01}
MODEL_DEFAULTS = {
    "overflow": _OVERFLOW_DEFAULTS,
    "neuralhmm_tts": {"sampling_temp": 0.0, "duration_threshold": 0.43, "prenet_dropout_at_inference": True,
                      "std_floor": 0.001},
}


def fold_weight_norm(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Replace weight-norm pairs (g, v) by the weight they define, w = g * v / |v| (norm over all
    but dim 0), in both spellings Coqui files use: `parametrizations.weight.original0/1` (current
    torch) and `weight_g/weight_v` (files written before torch 2.1)."""
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        for g_suffix, v_suffix in ((".parametrizations.weight.original0", ".parametrizations.weight.original1"),
                                   (".weight_g", ".weight_v")):
            if key.endswith(g_suffix) or key.endswith(v_suffix):
                base = key[: -len(g_suffix)] if key.endswith(g_suffix) else key[: -len(v_suffix)]
                if base + g_suffix in state and base + v_suffix in state:
                    out[base + ".weight"] = torch._weight_norm(state[base + v_suffix], state[base + g_suffix], 0)
                    break
        else:
            out[key] = value
    return out


# ------------------------------------------------------------------------- neural HMM


class _ParameterModel(nn.Module):
    def __init__(self, sizes: list[int], n_in: int, n_out: int):
        super().__init__()
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip([n_in] + sizes[:-1], sizes))
        self.last_layer = nn.Linear(sizes[-1], n_out)

    def forward(self, x):
        for layer in self.layers:
            x = F.relu(layer(x))
        return self.last_layer(x)


class _OutputNet(nn.Module):
    def __init__(self, s: OverflowSettings):
        super().__init__()
        self.channels, self.std_floor = s.out_channels, s.std_floor
        self.parametermodel = _ParameterModel(list(s.outputnet_size), s.memory_rnn_dim + s.encoder_in_out_features,
                                              2 * s.out_channels + 1)

    def forward(self, memory: torch.Tensor, states: torch.Tensor):
        """memory (..., M), states (..., E) -> mean (..., C), std (..., C) (softplus, floored), logit (...)."""
        out = self.parametermodel(torch.cat([memory, states], dim=-1))
        c = self.channels
        std = F.softplus(out[..., c:2 * c]).clamp(min=self.std_floor)
        return out[..., :c], std, out[..., 2 * c]


class CoquiNeuralHMM(nn.Module):
    """Coqui's neural HMM: an output net over [LSTM memory; state] for every (frame, state) pair,
    where tts_temp's own (tts.hmm.NeuralHMM) factorises the emission. It shares the prenet and the
    sampling loop with it."""

    def __init__(self, s: OverflowSettings):
        super().__init__()
        self.ar_order, self.channels = s.ar_order, s.out_channels
        self.dropout = 0.5 if s.prenet_dropout else 0.0  # Coqui's prenet drops with p = 0.5 whenever on
        self.prenet = Prenet(s.out_channels * s.ar_order, s.prenet_dim, s.prenet_n_layers, bias=False)
        self.memory_rnn = nn.LSTMCell(s.prenet_dim, s.memory_rnn_dim)
        self.output_net = _OutputNet(s)
        self.register_buffer("go_tokens", torch.zeros(s.ar_order, 1))

    def _go(self, bsz: int) -> torch.Tensor:
        return self.go_tokens.unsqueeze(0).expand(bsz, self.ar_order, self.channels)

    def neutral_emissions(self, states: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Each state's emission mean, std and transition logit with the frame context neutral: the
        output net at an empty (zero) memory, as the text alone sets them."""
        memory = states.new_zeros(states.shape[:-1] + (self.memory_rnn.hidden_size,))
        return self.output_net(memory, states)

    def memory(self, frames: torch.Tensor) -> torch.Tensor:
        """Teacher-forced LSTM memory for frames (B, T, C): memory[t] has seen frames before t."""
        bsz, n_t, _ = frames.shape
        ar = torch.cat([self._go(bsz), frames], dim=1)
        h = c = frames.new_zeros(bsz, self.memory_rnn.hidden_size)
        out = []
        for t in range(n_t):
            h, c = self.memory_rnn(self.prenet(ar[:, t:t + self.ar_order].flatten(1)), (h, c))
            out.append(h)
        return torch.stack(out, dim=1)

    def log_likelihood(self, states, n_states, frames, n_frames, chunk: int = 64) -> torch.Tensor:
        """Exact log p(frames | states) by the forward algorithm shared with tts_temp's own HMM.

        The output net sees every (frame, state) pair; frames go through it `chunk` at a time so
        the (B, frames, states, hidden) activations stay small.
        """
        mem = self.memory(frames)                                            # (B, T, M)
        n_n = states.shape[1]
        log_emit, logits = [], []
        for t0 in range(0, frames.shape[1], chunk):
            m = mem[:, t0:t0 + chunk]
            mean, std, logit = self.output_net(m[:, :, None].expand(-1, -1, n_n, -1),
                                               states[:, None].expand(-1, m.shape[1], -1, -1))  # (B, t, N, C)
            x = frames[:, t0:t0 + chunk, None]
            log_emit.append((-((x - mean) ** 2) / (2 * std ** 2) - std.log() - 0.5 * math.log(2 * math.pi)).sum(-1))
            logits.append(logit)
        return forward_algorithm(torch.cat(log_emit, 1), torch.cat(logits, 1), n_frames, n_states)

    def sample(self, states, n_states, opts: SampleOptions, temperatures: torch.Tensor,
               generators: Sequence[torch.Generator | None]) -> tuple[torch.Tensor, torch.Tensor]:
        bsz = states.shape[0]
        idx = torch.arange(bsz, device=states.device)
        drop = dropout_items(temperatures, opts)

        def step(prev, hidden, cur):
            if hidden is None:
                window = self._go(bsz)
                zeros = states.new_zeros(bsz, self.memory_rnn.hidden_size)
                h, c = zeros, zeros
            else:
                window, (h, c) = hidden
                window = torch.cat([window, prev[:, None]], dim=1)[:, 1:]
            masks = self.prenet.synthesis_masks(self.dropout, drop, generators, states.device)
            h, c = self.memory_rnn(self.prenet(window.flatten(1), masks=masks), (h, c))
            mean, std, logit = self.output_net(h, states[idx, cur])
            return mean, std, logit, (window, (h, c))

        return sample_frames(step, n_states, opts, temperatures, generators)


def coqui_key(key: str) -> str:
    """One key of Coqui's OverFlow state dict (weight norm folded) -> the key of the same tensor here:
    the encoder and the Glow decoder are tts_temp's own layers under their own names; the HMM keeps
    Coqui's, less the `linear_layer` wrappers around its linear layers."""
    key = coqui_flow_key(coqui_encoder_key(key))
    return key.replace(".linear_layers.", ".").replace(".linear_layer.", ".")


# ------------------------------------------------------------------------- the model


class CoquiOverflow(AcousticModel):
    """OverFlow (encoder + neural HMM + Glow decoder) or NeuralHMM-TTS (no decoder), Coqui's model on
    tts_temp's layers: the encoder and the flow are tts.encoder's and tts.flow's, the sampling entry
    is tts.model.AcousticModel's."""

    def __init__(self, s: OverflowSettings, n_symbols: int, n_convs: int = 3):
        super().__init__()
        self.settings = s
        self.register_buffer("mean", torch.tensor(0.0))
        self.register_buffer("std", torch.tensor(1.0))
        self.encoder = Encoder(n_symbols, s.encoder_in_out_features, n_convs, kernel=5,
                               states_per_phone=s.state_per_phone, dropout=0.0, split_lstm=True, mask_padding=False)
        self.neural_hmm = CoquiNeuralHMM(s)
        self.decoder = FlowDecoder(s.out_channels, s.num_flow_blocks_dec, s.hidden_channels_dec, s.num_block_layers,
                                   s.kernel_size_dec, s.num_squeeze, num_splits=s.num_splits,
                                   dilation_rate=s.dilation_rate, sigmoid_scale=s.sigmoid_scale,
                                   alternate=False) if s.flow else None

    @classmethod
    def from_state_dict(cls, s: OverflowSettings, state: dict[str, torch.Tensor]) -> "CoquiOverflow":
        state = {coqui_key(k): v for k, v in fold_weight_norm(state).items()}
        if "encoder.embedding.weight" not in state:
            raise UserError("weights: no encoder.emb.weight (not an OverFlow checkpoint)")
        n_convs = len([k for k in state if re.fullmatch(r"encoder\.convs\.\d+\.0\.weight", k)])
        model = cls(s, state["encoder.embedding.weight"].shape[0], n_convs)
        try:
            model.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            lines = [l.strip() for l in str(exc).splitlines() if l.strip()]
            raise UserError(f"weights do not match config.json: {' '.join(lines[1:3])[:300]}") from None
        model.eval()
        return model

    @property
    def n_symbols(self) -> int:
        return self.encoder.n_symbols

    @property
    def flow_active(self) -> bool:
        return self.decoder is not None

    @property
    def hmm(self) -> CoquiNeuralHMM:
        """tts_temp's own model calls its HMM `hmm` (Coqui's state dict `neural_hmm`)."""
        return self.neural_hmm

    @property
    def squeeze(self) -> int:
        return self.decoder.factor if self.decoder is not None else 1

    def normalise(self, mels: torch.Tensor) -> torch.Tensor:
        return (mels - self.mean) / self.std

    def denormalise(self, mels: torch.Tensor) -> torch.Tensor:
        return mels * self.std + self.mean

    def _decode(self, x: torch.Tensor, lengths: torch.Tensor, reverse: bool = False):
        """Coqui's decoder call: lengths cut down to a multiple of the squeeze factor, frames past
        them dropped -> (frames, cut lengths, log-determinant)."""
        f = self.squeeze
        lengths = torch.div(lengths, f, rounding_mode="floor") * f
        x = x[:, :, : (x.shape[2] // f) * f]
        mask = (torch.arange(x.shape[2], device=x.device)[None] < lengths[:, None]).unsqueeze(1).to(x.dtype)
        y, logdet = self.decoder(x, mask, reverse=reverse)
        return y, lengths, logdet

    def latent_to_frames(self, z: torch.Tensor) -> torch.Tensor:
        """One item's latent frames (1, C, n) -> frames (1, C, m), m = n cut to the squeeze factor (Coqui
        decodes one item at a time too)."""
        n = (z.shape[2] // self.squeeze) * self.squeeze
        if not n:
            return z[:, :, :0]
        return self._decode(z[:, :, :n], torch.tensor([n]), reverse=True)[0]

    @torch.no_grad()
    def log_likelihood(self, ids: torch.Tensor, id_lengths: torch.Tensor, mels: torch.Tensor,
                       mel_lengths: torch.Tensor) -> torch.Tensor:
        """log p(mels | ids) per item (B,), as Coqui's training loss sums it: mels (B, C, T) in the
        model's de-normalised scale; frames past the last multiple of the squeeze factor are dropped."""
        states, n_states = self.encoder(ids, id_lengths)
        x = self.normalise(mels)
        logdet = x.new_zeros(x.shape[0])
        if self.decoder is not None:
            x, mel_lengths, logdet = self._decode(x, mel_lengths)
        return self.neural_hmm.log_likelihood(states, n_states, x.transpose(1, 2), mel_lengths) + logdet
