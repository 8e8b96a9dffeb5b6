"""A Coqui OverFlow / NeuralHMM-TTS folder as a tts_temp voice: same interface as `tts.voice.Voice`."""
from __future__ import annotations

import os
from dataclasses import dataclass, field

import torch

from tts_temp.errors import UserError
from tts_temp.tts.coqui.config import CoquiAudio, locate, read_config, read_state_dict
from tts_temp.tts.coqui.model import CoquiOverflow, OverflowSettings
from tts_temp.tts.coqui.text import CoquiTokenizer
from tts_temp.tts import frames
from tts_temp.tts.mel import MelConfig


@dataclass
class CoquiVoice:
    """Model, tokenizer and audio settings; the config's inference defaults become the voice's."""

    model: CoquiOverflow
    audio: CoquiAudio
    frontend: CoquiTokenizer
    meta: dict = field(default_factory=dict)

    @property
    def mel(self) -> MelConfig:
        return self.audio.mel

    @property
    def timing(self) -> MelConfig:
        """Sample rate, hop and mel settings (`Voice.timing`; here the model's frames are mels)."""
        return self.audio.mel

    @property
    def duration_threshold(self) -> float:
        return float(self.model.settings.duration_threshold)

    @property
    def default_temperature(self) -> float:
        return float(self.model.settings.sampling_temp)

    @property
    def default_duration(self) -> str:
        return "threshold" if self.model.settings.deterministic_transition else "sample"

    @property
    def prenet_dropout_at_inference(self) -> bool:
        return bool(self.model.settings.prenet_dropout_at_inference)

    @property
    def prenet_dropout(self) -> bool:
        """Deprecated: prenet_dropout_at_inference (a config's `prenet_dropout` is a probability)."""
        return self.prenet_dropout_at_inference

    def denormalise(self, mels: torch.Tensor) -> torch.Tensor:
        """Undo the data mean/std: the mel in the model's own (Coqui audio config) scale."""
        return self.model.denormalise(mels)

    def to_vocoder_input(self, mels: torch.Tensor) -> torch.Tensor:
        """De-normalised mels -> natural-log mel amplitude, what tts_temp's vocoders take."""
        return self.audio.to_natural_log(mels)

    def silence(self) -> torch.Tensor:
        """(n_mels,) natural-log mel frame of silence, in the vocoder's input space (to_vocoder_input's)."""
        return frames.silence(frames.mel_spec(self.mel))

    def make_vocoder(self, griffin_lim_iters: int = 32):
        """Without a HiFi-GAN folder: Griffin-Lim on the model's mel settings."""
        return frames.make_vocoder({"kind": "griffin-lim"}, frames.mel_spec(self.mel), griffin_lim_iters)


def load_coqui_voice(path: str | os.PathLike) -> CoquiVoice:
    config_path, weights_path = locate(path)
    cfg = read_config(config_path)
    settings = OverflowSettings.from_config(cfg, config_path)
    audio = CoquiAudio.from_config(cfg, config_path)
    if audio.num_mels != settings.out_channels:
        raise UserError(f"{config_path}: audio.num_mels {audio.num_mels} != out_channels {settings.out_channels}")
    frontend = CoquiTokenizer.from_config(cfg)
    model = CoquiOverflow.from_state_dict(settings, read_state_dict(weights_path))
    if len(frontend.vocab.symbols) > model.n_symbols:
        raise UserError(f"{weights_path}: the embedding has {model.n_symbols} rows, the config's symbol table "
                        f"{len(frontend.vocab.symbols)}: weights do not match config.json")
    return CoquiVoice(model, audio, frontend, {"source": "coqui", "config": str(config_path),
                                               "weights": str(weights_path), "model": cfg.get("model")})
