"""What an acoustic frame is: the one place that knows each feature kind and the vocoder it needs.

A voice (and a features file) records a feature spec, a dict with "kind" plus that kind's config:
  - {"kind": "mel", ...MelConfig}: STFT log-mel; vocoder Griffin-Lim (the voices trained before
    WORLD; files without a spec are this kind);
  - {"kind": "world", ...WorldConfig}: WORLD frames (see tts_temp.tts.world); vocoder WORLD, or
    the neural source-filter vocoder trained on them ({"kind": "neural-sf", config, state_dict}:
    tts_temp.tts.neural_vocoder; its weights live inside the voice file).
Everything else (corpus features, training, synthesis) goes through these functions, so adding a
kind is adding a branch here.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from tts_temp.tts.mel import LOG_FLOOR, MelConfig, log_mel

KINDS = ("mel", "world")
VOCODERS = {"mel": "griffin-lim", "world": "world"}


def mel_spec(cfg: MelConfig | None = None) -> dict:
    return {"kind": "mel", **(cfg or MelConfig()).to_dict()}


def world_spec(cfg=None) -> dict:
    from tts_temp.tts.world import WorldConfig

    return {"kind": "world", **(cfg or WorldConfig()).to_dict()}


def spec_from_name(name: str) -> dict:
    """"mel" or "world" -> the default spec of that kind."""
    if name == "mel":
        return mel_spec()
    if name == "world":
        return world_spec()
    raise ValueError(f"unknown feature kind {name!r} (one of {', '.join(KINDS)})")


def config(spec: dict):
    """The spec's config object (MelConfig or WorldConfig)."""
    body = {k: v for k, v in spec.items() if k != "kind"}
    if spec["kind"] == "mel":
        return MelConfig(**body)
    if spec["kind"] == "world":
        from tts_temp.tts.world import WorldConfig

        return WorldConfig(**body)
    raise ValueError(f"unknown feature kind {spec['kind']!r}")


def timing(spec: dict) -> MelConfig:
    """A MelConfig with the spec's sample rate and hop: for timing and for analysis plots of any kind."""
    cfg = config(spec)
    return cfg if isinstance(cfg, MelConfig) else MelConfig(sample_rate=cfg.sample_rate, hop_length=cfg.hop_length)


def analyse(wav: np.ndarray, spec: dict) -> torch.Tensor:
    """Waveform -> frames (channels, T) of this kind."""
    cfg = config(spec)
    if spec["kind"] == "mel":
        return log_mel(wav, cfg)
    from tts_temp.tts.world import analyse as world_analyse

    return world_analyse(wav, cfg)


def model_f0(frames: torch.Tensor, spec: dict) -> tuple[np.ndarray, float] | None:
    """(F0 in Hz per frame, NaN unvoiced; seconds per frame) from the model's own frames, for kinds
    that carry pitch (WORLD); None for STFT mels, where only the waveform can tell."""
    if spec["kind"] != "world":
        return None
    from tts_temp.tts.world import f0_hz

    cfg = config(spec)
    return f0_hz(frames, cfg), cfg.hop_length / cfg.sample_rate


def silence(spec: dict) -> torch.Tensor:
    """(channels,) the frame that the vocoder turns into silence: what pads a short item in a batch."""
    cfg = config(spec)
    if spec["kind"] == "mel":
        return torch.full((cfg.n_mels,), math.log(LOG_FLOOR))
    from tts_temp.tts.world import silence as world_silence

    return world_silence(cfg)


def statistics(frames: torch.Tensor, spec: dict) -> tuple[float | list[float], float | list[float]]:
    """Normalisation statistics over all training frames (channels, N).

    Mel: one scalar mean and std (as OverFlow does: keeps the spectral shape). WORLD: the envelope
    bands share one scalar (same reason); log-F0, the voicing flag and each aperiodicity band are
    on their own scales, so each gets its own mean and std. Returned as lists per channel then.
    """
    if spec["kind"] == "mel":
        return float(frames.mean()), float(frames.std())
    n = config(spec).n_mels
    mean = frames.double().mean(dim=1)
    std = frames.double().std(dim=1).clamp(min=1e-3)
    mean[:n] = frames[:n].double().mean()
    std[:n] = frames[:n].double().std()
    return mean.tolist(), std.tolist()


def as_stat(value) -> float | torch.Tensor:
    """A stored statistic (a float, or a list per channel) -> float or (channels, 1) tensor."""
    if isinstance(value, (list, tuple)) or torch.is_tensor(value):
        return torch.as_tensor(value, dtype=torch.float32).reshape(-1, 1)
    return float(value)


def stat_to_plain(value) -> float | list[float]:
    return value.reshape(-1).tolist() if torch.is_tensor(value) else float(value)


def make_vocoder(vocoder: dict, spec: dict, griffin_lim_iters: int = 32):
    """The vocoder a voice asks for, built for its features."""
    kind = vocoder.get("kind")
    if kind == "griffin-lim":
        from tts_temp.tts.vocoder import GriffinLim

        if spec["kind"] != "mel":
            raise ValueError("Griffin-Lim needs STFT mel features")
        return GriffinLim(config(spec), n_iter=griffin_lim_iters)
    if kind == "world":
        from tts_temp.tts.world import WorldVocoder

        if spec["kind"] != "world":
            raise ValueError("the WORLD vocoder needs WORLD features")
        return WorldVocoder(config(spec), f0_median=int(vocoder.get("f0_median", 1)))
    if kind == "neural-sf":
        from tts_temp.tts.neural_vocoder import from_dict

        if spec["kind"] != "world":
            raise ValueError("the neural source-filter vocoder needs WORLD features")
        voc = from_dict(vocoder)
        cfg, vc = config(spec), voc.model.cfg
        if (vc.sample_rate, vc.hop_length, vc.dim) != (cfg.sample_rate, cfg.hop_length, cfg.dim):
            raise ValueError("the neural vocoder was trained for other WORLD frames")
        return voc
    raise ValueError(f"unknown vocoder {kind!r}")
