"""What the server loads once at start, and how a request's names find it.

A request names a model or a voice; it never names a file. Every name is looked up here among
what was loaded from the command line, and an unknown name is a 400 that lists what is served.

Two halves: the `Registry` holds the loaded models and voices and is what jobs run on (in the one
process with thread workers, in each worker process otherwise); its `Catalogue` is the light
description the routers look names up in (names, defaults, what each model can do, each voice's
rate and default temperature). Worker processes send their catalogue back over the pipe once
loaded, so the server process itself holds no weights.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tts_temp.serve.aliases import ASR_ALIASES, OPENAI_VOICES, TTS_ALIASES
from tts_temp.tts.defaults import DEFAULT_VOICE
from tts_temp.serve.errors import ApiError


def default_models() -> list[str]:
    """Without --model: the multilingual `base` when its packages are installed (closest to OpenAI's
    whisper-1, and it translates), and the bundled `tiny.en`."""
    from tts_temp.asr import packaged
    from tts_temp.asr.packaged import BUNDLED

    return (["base"] if packaged.locate("base") is not None else []) + [BUNDLED]


def load_registry(config: Any) -> "Registry":
    """What `tts-temp serve`'s options name, loaded where the jobs run: by the server process with
    thread workers, by each worker process otherwise."""
    return Registry.load(config.models, config.voices, config.vocoder, config.device, config.compute_type)


def voice_name(spec: str) -> str:
    """A served voice's name: a shipped voice's own name, else the file's stem or the folder's name."""
    path = Path(spec)
    if path.name == "config.json":
        path = path.parent
    return path.stem if path.suffix == ".pt" else path.name


@dataclass(frozen=True)
class ModelCard:
    """What a request may ask of a served Whisper model, read without its weights."""

    is_multilingual: bool   # whisper's own name, so `in_models_language` takes a card as it takes a model
    compute_type: str


@dataclass(frozen=True)
class VoiceCard:
    """What the routers read of a served voice."""

    sample_rate: int
    default_temperature: float


@dataclass
class Catalogue:
    """Served models and voices by name, without weights; the first of each is the default.

    The routers look every name up here, whichever kind of worker runs the jobs."""

    models: dict[str, ModelCard]
    voices: dict[str, VoiceCard]
    vocoder: str | None = None         # --vocoder
    vocoded: tuple[str, ...] = ()      # the voices it fits

    def summary(self) -> list[str]:
        """What was loaded, for the server's log."""
        lines = [f"model {n}: {'multilingual' if m.is_multilingual else 'English-only'}, {m.compute_type}"
                 for n, m in self.models.items()]
        if self.vocoder is not None:
            lines.append(f"vocoder {self.vocoder}: used by "
                         f"{', '.join(self.vocoded) or 'no served voice (rates differ)'}")
        lines.append(f"voices: {', '.join(self.voices)} (default {self.default_voice})")
        return lines

    @property
    def default_model(self) -> str:
        return next(iter(self.models))

    @property
    def default_voice(self) -> str:
        return next(iter(self.voices))

    def model_names(self) -> list[str]:
        return [*self.models, *ASR_ALIASES]

    def speech_model_names(self) -> list[str]:
        return [*TTS_ALIASES, *self.voices]

    def multilingual(self) -> list[str]:
        return [n for n, m in self.models.items() if m.is_multilingual]

    def asr_model(self, name: str | None, param: str = "model") -> tuple[str, ModelCard]:
        if name in (None, "", *ASR_ALIASES):
            return self.default_model, self.models[self.default_model]
        if name in self.models:
            return name, self.models[name]
        raise ApiError(400, f"model {name!r} is not served; served: {', '.join(self.model_names())}",
                       param=param, code="model_not_found")

    def voice(self, model: str | None, voice: str | None) -> tuple[str, VoiceCard]:
        """`voice` names a served voice, or an OpenAI voice name (then `model` may name the voice)."""
        if model not in (None, "", *TTS_ALIASES) and model not in self.voices:
            raise ApiError(400, f"model {model!r} is not served; served: {', '.join(self.speech_model_names())}",
                           param="model", code="model_not_found")
        if voice in self.voices:
            return voice, self.voices[voice]
        if voice in (None, "", *OPENAI_VOICES):
            name = model if model in self.voices else self.default_voice
            return name, self.voices[name]
        raise ApiError(400, f"voice {voice!r} is not served; voices: {', '.join([*self.voices, *OPENAI_VOICES])}",
                       param="voice", code="voice_not_found")


@dataclass
class Registry:
    """Loaded Whisper models and voices by name, in the order of the catalogue (the first is the default)."""

    models: dict[str, Any] = field(default_factory=dict)
    voices: dict[str, Any] = field(default_factory=dict)
    vocoders: dict[str, Any] = field(default_factory=dict)   # voice name -> --vocoder, where it fits
    recogniser: Any = None                                   # tiny.en for verified synthesis
    vocoder: str | None = None                               # --vocoder, as given

    @classmethod
    def load(cls, models: list[str], voices: list[str], vocoder: str | None = None, device: str | None = None,
             compute_type: str | None = None) -> "Registry":
        """Load everything named; a name that does not load is a UserError (the server does not start)."""
        from tts_temp.asr import load_model
        from tts_temp.asr.packaged import BUNDLED
        from tts_temp.verify import WhisperRecogniser
        from tts_temp.tts import load_vocoder
        from tts_temp.tts.voice import load_voice, shipped_voice_names

        reg = cls(vocoder=vocoder)
        for name in models:
            reg.models[name] = load_model(name, device=device, compute_type=compute_type)
        default_voice = voices[0] if voices else DEFAULT_VOICE
        for spec in [*voices, *shipped_voice_names()]:
            name = spec if spec in shipped_voice_names() and not os.path.exists(spec) else voice_name(spec)
            if name not in reg.voices:
                reg.voices[name] = load_voice(spec)
        first = voice_name(default_voice) if default_voice not in reg.voices else default_voice
        reg.voices = {first: reg.voices[first], **{k: v for k, v in reg.voices.items() if k != first}}
        if vocoder is not None:
            voc = load_vocoder(vocoder)
            for name, voice in reg.voices.items():
                if voc.sample_rate == voice.timing.sample_rate and getattr(voc, "hop_length", None) in (
                        None, voice.timing.hop_length):
                    reg.vocoders[name] = voc
        listener = reg.models.get(BUNDLED) or load_model(BUNDLED, device=device)
        reg.recogniser = WhisperRecogniser(listener)
        return reg

    def describe(self) -> Catalogue:
        """The catalogue of what is loaded: a few hundred bytes, sent from a worker process to the server."""
        return Catalogue(
            models={n: ModelCard(bool(m.is_multilingual), getattr(m, "compute_type", "float32"))
                    for n, m in self.models.items()},
            voices={n: VoiceCard(int(v.timing.sample_rate), float(v.default_temperature))
                    for n, v in self.voices.items()},
            vocoder=self.vocoder, vocoded=tuple(self.vocoders))
