"""A voice = trained OverFlow weights + everything needed to use them (features, front end, timing).

Saved as one torch file of plain tensors, numbers and strings, so it loads with
`torch.load(weights_only=True)`: opening a voice can never run code.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from tts_temp.audio import atomic_write
from tts_temp.errors import UserError
from tts_temp.tts import frames
from tts_temp.tts.defaults import COQUI_DURATION_THRESHOLD, DEFAULT_TEMPERATURE, DEFAULT_VOICE
from tts_temp.tts.mel import MelConfig
from tts_temp.tts.model import ModelConfig, OverFlow
from tts_temp.tts.text import SYMBOLS, FrontEnd, check_espeak_voice

if TYPE_CHECKING:
    from tts_temp.tts.coqui.voice import CoquiVoice

SHIPPED = f"{DEFAULT_VOICE}.pt"  # the default voice; every file in voices/ can be named by its stem (slt-small)


@dataclass
class Voice:
    """`timing` is the voice's sample rate and hop (and, for a mel voice, its mel settings; for a
    WORLD voice the STFT settings analysis plots use); `features` says what the model's frames are
    and `vocoder` what turns them into sound (see tts_temp.tts.frames). A voice file without them is
    a mel voice with Griffin-Lim."""

    model: OverFlow
    timing: MelConfig
    mean: float | torch.Tensor   # a scalar, or (channels, 1) per channel
    std: float | torch.Tensor
    frontend: FrontEnd
    duration_threshold: float = COQUI_DURATION_THRESHOLD
    meta: dict = field(default_factory=dict)
    # Inference defaults; a Coqui voice (tts.coqui.voice.CoquiVoice) takes them from its config.
    default_temperature: float = DEFAULT_TEMPERATURE
    default_duration: str = "threshold"
    prenet_dropout_at_inference: bool = False
    features: dict = field(default_factory=frames.mel_spec)
    vocoder: dict = field(default_factory=lambda: {"kind": "griffin-lim"})

    def denormalise(self, frames: torch.Tensor) -> torch.Tensor:
        return frames * self.std + self.mean

    def to_vocoder_input(self, frames: torch.Tensor) -> torch.Tensor:
        """De-normalised frames -> what the vocoder takes (already so for tts_temp voices)."""
        return frames

    def silence(self) -> torch.Tensor:
        """(channels,) de-normalised frame of silence."""
        return frames.silence(self.features)

    def make_vocoder(self, griffin_lim_iters: int = 32):
        return frames.make_vocoder(self.vocoder, self.features, griffin_lim_iters)

    def to_dict(self) -> dict:
        return {
            "format": "tts_temp.voice/1",
            "model_config": self.model.cfg.to_dict(),
            "state_dict": {k: v.detach().cpu().clone() for k, v in self.model.state_dict().items()},
            "mel": self.timing.to_dict(), "mean": frames.stat_to_plain(self.mean),
            "std": frames.stat_to_plain(self.std), "features": dict(self.features), "vocoder": dict(self.vocoder),
            "frontend": {"phonemes": self.frontend.phonemes, "voice": self.frontend.voice},
            "symbols": list(SYMBOLS), "duration_threshold": self.duration_threshold, "meta": dict(self.meta),
        }

    def save(self, path: str | os.PathLike) -> Path:
        with atomic_write(path) as tmp:
            torch.save(self.to_dict(), tmp)
        return Path(path)


def shipped_voice_path(name: str | None = None) -> Path:
    """The default shipped voice, or the shipped voice called `name` (a file stem in voices/)."""
    return Path(str(resources.files("tts_temp.tts") / "voices" / (SHIPPED if name is None else f"{name}.pt")))


def shipped_voice_names() -> list[str]:
    return sorted(p.name[:-3] for p in resources.files("tts_temp.tts").joinpath("voices").iterdir()
                  if p.name.endswith(".pt"))


def voice_from_dict(d: dict) -> Voice:
    if d.get("format") != "tts_temp.voice/1":
        raise UserError("not a tts_temp voice checkpoint")
    if list(d["symbols"]) != list(SYMBOLS)[: len(d["symbols"])]:
        raise UserError("voice was trained with a different symbol table")
    model = OverFlow(ModelConfig.from_dict(d["model_config"]))
    model.load_state_dict(d["state_dict"])
    model.eval()
    timing = MelConfig(**d["mel"])  # the file's key predates WORLD voices
    spec = dict(d.get("features", frames.mel_spec(timing)))
    vocoder = dict(d.get("vocoder", {"kind": frames.VOCODERS[spec["kind"]]}))
    frames.make_vocoder(vocoder, spec)  # refuse a voice whose vocoder cannot render its features
    return Voice(model, timing, frames.as_stat(d["mean"]), frames.as_stat(d["std"]), FrontEnd(**d["frontend"]),
                 float(d["duration_threshold"]), dict(d.get("meta", {})), features=spec, vocoder=vocoder)


def load_voice(path: str | os.PathLike | None = None) -> "Voice | CoquiVoice":
    """Load a voice: None = the shipped default, the name of a shipped voice (slt-world-nsf, slt-world, slt-small),
    a .pt file = a tts_temp voice, a folder (or its config.json) = a Coqui-TTS OverFlow /
    NeuralHMM-TTS model."""
    from tts_temp.tts.coqui.config import is_coqui_folder

    if path is not None and is_coqui_folder(path):
        from tts_temp.tts.coqui.voice import load_coqui_voice

        return load_coqui_voice(path)
    if path is not None and str(path) in shipped_voice_names() and not Path(path).exists():
        path = shipped_voice_path(str(path))
    path = Path(path) if path is not None else shipped_voice_path()
    if not path.is_file():
        raise UserError(f"{path}: no such voice checkpoint (shipped voices: {', '.join(shipped_voice_names())})")
    try:
        d = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a damaged file
        raise UserError(f"{path}: cannot read voice checkpoint ({type(exc).__name__})") from None
    if not isinstance(d, dict):
        raise UserError(f"{path}: not a tts_temp voice checkpoint")
    try:
        voice = voice_from_dict(d)
    except UserError as exc:
        raise UserError(f"{path}: {exc}") from None
    except (KeyError, RuntimeError, TypeError, ValueError, AttributeError) as exc:
        raise UserError(f"{path}: damaged voice checkpoint ({_inner(exc)})") from None
    if voice.frontend.phonemes:
        try:
            check_espeak_voice(voice.frontend.voice)
        except UserError as exc:
            raise UserError(f"{path}: {exc}") from None
    return voice


def _inner(exc: BaseException) -> str:
    """The inner error in one short line: its type and the first lines of its message."""
    lines = [l.strip() for l in str(exc).splitlines() if l.strip()]
    text = " ".join(lines[:2])
    if isinstance(exc, KeyError):
        text = f"missing entry {text}"
    return f"{type(exc).__name__}: {text}"[:300] if text else type(exc).__name__
