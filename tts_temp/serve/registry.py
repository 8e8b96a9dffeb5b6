"""What the server loads once at start, and how a request's names find it.

A request names a model or a voice; it never names a file. Every name is looked up here among
what was loaded from the command line, and an unknown name is a 400 that lists what is served.
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


def load_registry(config: Any, log=print) -> "Registry":
    """What `tts-temp serve`'s options name, loaded: by the server, and by each worker process."""
    return Registry.load(config.models, config.voices, config.vocoder, config.device, config.compute_type, log=log)


def voice_name(spec: str) -> str:
    """A served voice's name: a shipped voice's own name, else the file's stem or the folder's name."""
    path = Path(spec)
    if path.name == "config.json":
        path = path.parent
    return path.stem if path.suffix == ".pt" else path.name


@dataclass
class Registry:
    """Loaded Whisper models and voices by name; the first of each is the default."""

    models: dict[str, Any] = field(default_factory=dict)
    voices: dict[str, Any] = field(default_factory=dict)
    vocoders: dict[str, Any] = field(default_factory=dict)   # voice name -> --vocoder, where it fits
    recogniser: Any = None                                   # tiny.en for verified synthesis

    @classmethod
    def load(cls, models: list[str], voices: list[str], vocoder: str | None = None, device: str | None = None,
             compute_type: str | None = None, log=print) -> "Registry":
        """Load everything named; a name that does not load is a UserError (the server does not start)."""
        from tts_temp.asr import load_model
        from tts_temp.asr.packaged import BUNDLED
        from tts_temp.verify import WhisperRecogniser
        from tts_temp.tts import load_vocoder
        from tts_temp.tts.voice import load_voice, shipped_voice_names

        reg = cls()
        for name in models:
            reg.models[name] = load_model(name, device=device, compute_type=compute_type)
            log(f"model {name}: {'multilingual' if reg.models[name].is_multilingual else 'English-only'}, "
                f"{getattr(reg.models[name], 'compute_type', 'float32')}")
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
            log(f"vocoder {vocoder}: used by {', '.join(reg.vocoders) or 'no served voice (rates differ)'}")
        listener = reg.models.get(BUNDLED) or load_model(BUNDLED, device=device)
        reg.recogniser = WhisperRecogniser(listener)
        log(f"voices: {', '.join(reg.voices)} (default {first})")
        return reg

    # ------------------------------------------------------------------ lookups
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

    def asr_model(self, name: str | None, param: str = "model") -> tuple[str, Any]:
        if name in (None, "", *ASR_ALIASES):
            return self.default_model, self.models[self.default_model]
        if name in self.models:
            return name, self.models[name]
        raise ApiError(400, f"model {name!r} is not served; served: {', '.join(self.model_names())}",
                       param=param, code="model_not_found")

    def voice(self, model: str | None, voice: str | None) -> tuple[str, Any]:
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
