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


# ---------------------------------------------------------------- checking one value of a config


def _is_number(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def config_int(where: object, name: str, v: object, minimum: int = 1) -> int:
    """An integer >= minimum from a config, or one UserError line naming the field."""
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not float(v).is_integer() or v < minimum:
        raise UserError(f"{where}: {name} must be an integer >= {minimum}, got {v!r}")
    return int(v)


def config_number(where: object, name: str, v: object, lo: float | None = None, hi: float | None = None,
                  open_lo: bool = False, open_hi: bool = False) -> float:
    """A finite number in the given range from a config, or one UserError line naming the field."""
    ok = _is_number(v)
    if ok and lo is not None:
        ok = v > lo if open_lo else v >= lo
    if ok and hi is not None:
        ok = v < hi if open_hi else v <= hi
    if not ok:
        rng = "" if lo is None and hi is None else " in " + (
            f"{'(' if open_lo else '['}{'-inf' if lo is None else f'{lo:g}'}, "
            f"{'inf' if hi is None else f'{hi:g}'}{')' if open_hi or hi is None else ']'}")
        raise UserError(f"{where}: {name} must be a finite number{rng}, got {v!r}")
    return float(v)


def config_bool(where: object, name: str, v: object) -> bool:
    if not isinstance(v, bool):
        raise UserError(f"{where}: {name} must be true or false, got {v!r}")
    return v


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
        def get(name):
            return a[name] if a.get(name) is not None else getattr(cls, name)

        sr = config_int(where, "audio.sample_rate", get("sample_rate"))
        hop = config_int(where, "audio.hop_length", get("hop_length"))
        win = config_int(where, "audio.win_length", get("win_length"))
        if a.get("frame_shift_ms"):
            hop = int(config_number(where, "audio.frame_shift_ms", a["frame_shift_ms"], 0, open_lo=True) / 1000.0 * sr)
        if a.get("frame_length_ms"):
            win = int(config_number(where, "audio.frame_length_ms", a["frame_length_ms"], 0, open_lo=True) / 1000.0 * sr)
        if hop < 1 or win < 1:
            raise UserError(f"{where}: audio hop and window must be at least one sample")
        fft = config_int(where, "audio.fft_size", get("fft_size"))
        if win > fft:
            raise UserError(f"{where}: audio.win_length {win} is longer than audio.fft_size {fft}")
        fmin = config_number(where, "audio.mel_fmin", get("mel_fmin"), 0, sr / 2)
        fmax = a.get("mel_fmax")
        if fmax is not None:
            fmax = config_number(where, "audio.mel_fmax", fmax, fmin, sr / 2, open_lo=True)
        return cls(sample_rate=sr, hop_length=hop, win_length=win, fft_size=fft,
                   num_mels=config_int(where, "audio.num_mels", get("num_mels")), mel_fmin=fmin, mel_fmax=fmax,
                   log_func=get("log_func"), spec_gain=config_number(where, "audio.spec_gain", get("spec_gain"), 0,
                                                                     open_lo=True),
                   signal_norm=config_bool(where, "audio.signal_norm", get("signal_norm")),
                   symmetric_norm=config_bool(where, "audio.symmetric_norm", get("symmetric_norm")),
                   max_norm=config_number(where, "audio.max_norm", get("max_norm"), 0, open_lo=True),
                   clip_norm=config_bool(where, "audio.clip_norm", get("clip_norm")),
                   min_level_db=config_number(where, "audio.min_level_db", get("min_level_db"), hi=0, open_hi=True),
                   ref_level_db=config_number(where, "audio.ref_level_db", get("ref_level_db")))

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
