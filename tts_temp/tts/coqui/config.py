"""Reading a Coqui-TTS model folder: config.json, the weights file, the audio settings.

Coqui saves `config.json` next to a torch file whose `"model"` entry is the state dict (its model
manager names it `model_file.pth`; training runs write `best_model.pth` and `checkpoint_<step>.pth`).
Coqui-TTS 0.28 loads OverFlow and HiFi-GAN files with `torch.load(weights_only=True)` and no extra
allowed types, so nothing here allows any: opening a checkpoint can never run code.
"""
from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

import torch

from tts_temp.errors import UserError
from tts_temp.tts.mel import MelConfig

CONFIG_NAME = "config.json"
WEIGHT_NAMES = ("model_file.pth", "model_file.pth.tar", "model.pth", "best_model.pth", "checkpoint.pth")
_CHECKPOINT_RE = re.compile(r"checkpoint_(\d+)\.pth$")


def is_coqui_folder(path: str | os.PathLike) -> bool:
    """A Coqui model is given as its folder, its config.json or a weights file beside a config.json
    (Coqui names them .pth / .pth.tar); a tts_temp voice is one self-contained .pt file."""
    p = Path(path)
    return (p.is_dir() or p.name == CONFIG_NAME
            or (p.suffix in (".pth", ".tar") and (p.parent / CONFIG_NAME).is_file()))


def locate(path: str | os.PathLike) -> tuple[Path, Path]:
    """(config.json, weights file) for a folder, a config.json or a weights file beside its config."""
    p = Path(path)
    if p.is_dir():
        folder, weights = p, None
    elif p.is_file():
        folder, weights = p.parent, (None if p.name == CONFIG_NAME else p)
    else:
        raise UserError(f"{p}: no such file or folder")
    config = folder / CONFIG_NAME
    if not config.is_file():
        raise UserError(f"{folder}: no {CONFIG_NAME} (not a Coqui model folder)")
    if weights is None:
        found = [folder / n for n in WEIGHT_NAMES if (folder / n).is_file()]
        steps = sorted((int(m.group(1)), f) for f in folder.glob("checkpoint_*.pth")
                       if (m := _CHECKPOINT_RE.search(f.name)))
        if found:
            weights = found[0]
        elif steps:
            weights = steps[-1][1]
        else:
            raise UserError(f"{folder}: no model file ({', '.join(WEIGHT_NAMES)} or checkpoint_<step>.pth)")
    return config, weights


def read_config(path: Path) -> dict:
    try:
        cfg = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"{path}: cannot read Coqui config ({type(exc).__name__})") from None
    if not isinstance(cfg, dict):
        raise UserError(f"{path}: not a Coqui config")
    return cfg


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """The `"model"` state dict of a Coqui checkpoint, loaded with weights_only=True."""
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a damaged or code-carrying file
        lines = [l.strip() for l in str(exc).splitlines() if l.strip()] or [type(exc).__name__]
        why = next((l for l in lines if "Unsupported global" in l), lines[0])  # names a refused type
        raise UserError(f"{path}: cannot read Coqui checkpoint ({why[:200]})") from None
    state = ckpt.get("model") if isinstance(ckpt, dict) else None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise UserError(f"{path}: no state dict under 'model' (not a Coqui checkpoint)")
    return state


@dataclass(frozen=True)
class CoquiAudio:
    """Coqui's `audio` section: the STFT/mel settings and how its mels are scaled.

    A Coqui mel is spec_gain * log_base(max(mel, 1e-8)) (natural log or log10), then, with
    signal_norm, mapped from [min_level_db, 0] dB (after subtracting ref_level_db) to
    [0, max_norm] or [-max_norm, max_norm]. tts_temp's vocoders take natural-log mels, so both
    directions are written out here.
    """

    sample_rate: int = 22050
    fft_size: int = 1024
    win_length: int = 1024
    hop_length: int = 256
    num_mels: int = 80
    mel_fmin: float = 0.0
    mel_fmax: float | None = None
    log_func: str = "np.log10"
    spec_gain: float = 20.0
    signal_norm: bool = True
    symmetric_norm: bool = True
    max_norm: float = 4.0
    clip_norm: bool = True
    min_level_db: float = -100.0
    ref_level_db: float = 20.0

    @classmethod
    def from_config(cls, cfg: dict, where: Path) -> "CoquiAudio":
        a = cfg.get("audio")
        if not isinstance(a, dict):
            raise UserError(f"{where}: no 'audio' section")
        if a.get("stats_path") and a.get("signal_norm", True):
            raise UserError(f"{where}: mean-variance mel statistics (audio.stats_path) are not supported")
        if not a.get("do_amp_to_db_mel", True):
            raise UserError(f"{where}: linear-amplitude mels (audio.do_amp_to_db_mel = false) are not supported")
        if a.get("log_func", "np.log10") not in ("np.log", "np.log10"):
            raise UserError(f"{where}: unknown audio.log_func {a.get('log_func')!r}")
        sr = int(a.get("sample_rate", cls.sample_rate))
        hop, win = a.get("hop_length", cls.hop_length), a.get("win_length", cls.win_length)
        if a.get("frame_shift_ms"):
            hop = int(a["frame_shift_ms"] / 1000.0 * sr)
        if a.get("frame_length_ms"):
            win = int(a["frame_length_ms"] / 1000.0 * sr)
        pick = {k: a[k] for k in ("fft_size", "num_mels", "mel_fmin", "mel_fmax", "log_func", "spec_gain",
                                  "signal_norm", "symmetric_norm", "max_norm", "clip_norm", "min_level_db",
                                  "ref_level_db") if k in a and (a[k] is not None or k == "mel_fmax")}
        return cls(sample_rate=sr, hop_length=int(hop), win_length=int(win), **pick)

    @property
    def mel(self) -> MelConfig:
        fmax = self.mel_fmax if self.mel_fmax is not None else self.sample_rate / 2
        return MelConfig(sample_rate=self.sample_rate, n_fft=int(self.fft_size), hop_length=self.hop_length,
                         win_length=self.win_length, n_mels=int(self.num_mels), fmin=float(self.mel_fmin),
                         fmax=float(fmax))

    @property
    def _ln_base(self) -> float:
        return math.log(10.0) if self.log_func == "np.log10" else 1.0

    def is_natural_log(self) -> bool:
        return not self.signal_norm and self.log_func == "np.log" and self.spec_gain == 1

    def denormalize(self, x: torch.Tensor) -> torch.Tensor:
        """Coqui's AudioProcessor.denormalize: normalised mel -> dB-domain mel."""
        if not self.signal_norm:
            return x
        m, lo = self.max_norm, self.min_level_db
        if self.symmetric_norm:
            if self.clip_norm:
                x = x.clamp(-m, m)
            return (x + m) * -lo / (2 * m) + lo + self.ref_level_db
        if self.clip_norm:
            x = x.clamp(0, m)
        return x * -lo / m + lo + self.ref_level_db

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """Coqui's AudioProcessor.normalize: dB-domain mel -> normalised mel."""
        if not self.signal_norm:
            return x
        m, lo = self.max_norm, self.min_level_db
        s = (x - self.ref_level_db - lo) / -lo
        if self.symmetric_norm:
            s = 2 * m * s - m
            return s.clamp(-m, m) if self.clip_norm else s
        s = m * s
        return s.clamp(0, m) if self.clip_norm else s

    def to_natural_log(self, x: torch.Tensor) -> torch.Tensor:
        """This config's mel -> ln(mel amplitude)."""
        if self.is_natural_log():
            return x
        return self.denormalize(x) / self.spec_gain * self._ln_base

    def from_natural_log(self, ln_mel: torch.Tensor) -> torch.Tensor:
        """ln(mel amplitude) -> this config's mel (what a Coqui vocoder trained on it expects)."""
        if self.is_natural_log():
            return ln_mel
        return self.normalize(self.spec_gain * ln_mel / self._ln_base)
