"""Every choice of one transcription, as frozen dataclasses grouped by what they decide.

`TranscribeOptions` holds the groups: whisper's per-window decoding (`DecodeOptions`), the fallback
(`FallbackPolicy`: schedule and thresholds), the sampler (`SamplingOptions`: top-k, top-p, seed),
the prompt (`PromptOptions`), word timestamps (`WordOptions`) and which audio is decoded
(`AudioOptions`: clips, VAD). Each group checks its values when made, so a bad value fails before
any audio is read. Nothing here changes during a run: the window loop derives what it needs per
window (the language found, the prompt) with `dataclasses.replace`.

`options_from_keywords` turns whisper's flat keywords (`transcribe(model, audio, beam_size=5, ...)`)
into these groups; `make_options` fixes what depends on the model (fp16, the language of an
English-only model) and draws the seed of a run that may sample.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field, fields, replace
from typing import Any, Literal, Protocol

import numpy as np
from whisper.decoding import DecodingOptions
from whisper.model import Whisper
from whisper.tokenizer import LANGUAGES, TO_LANGUAGE_CODE

from tts_temp.asr.fallback import FallbackPolicy, schedule
from tts_temp.asr.sampler import SamplingOptions
from tts_temp.asr.vad import VadOptions
from tts_temp.errors import UserError
from tts_temp.sampling.seeds import draw_seed

PREPEND_PUNCTUATIONS = "\"'“¿([{-"
APPEND_PUNCTUATIONS = "\"'.。,，!！?？:：”)]}、"
_WHISPER = DecodingOptions()  # whisper's own defaults for the fields below, not restated here


def language_code(language: str | None) -> str | None:
    """A whisper language code from a code or an English name ("fr", "French"); ValueError if unknown."""
    if language is None or language == "None":
        return None
    code = language.lower()
    code = TO_LANGUAGE_CODE.get(code, code)
    if code not in LANGUAGES:
        raise ValueError(f"unknown language {language!r}: use a code such as en, fr, es or a name such as French")
    return code


def parse_clip_timestamps(value: str | list[float] | tuple[float, ...] | None) -> tuple[float, ...]:
    """whisper's `clip_timestamps`: "start,end,start,end,..." in seconds (or a list); "0" is everything."""
    if value is None:
        return ()
    if isinstance(value, str):
        try:
            value = [float(t) for t in value.split(",")] if value.strip() else []
        except ValueError as exc:
            raise ValueError(f"clip_timestamps must be comma-separated seconds, got {value!r}") from exc
    stamps = tuple(float(t) for t in value)
    if any(not np.isfinite(t) or t < 0 for t in stamps):
        raise ValueError(f"clip_timestamps must be finite and >= 0, got {value!r}")
    return stamps


def _count(name: str, value: object) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise UserError(f"{name} must be an integer >= 1, got {value!r}")


def check_decode_numbers(decode: dict) -> None:
    """whisper's numeric decoding options, checked up front (whisper checks some only after the
    model has run, and a negative patience crashes its beam search)."""
    _count("best_of", decode.get("best_of"))
    _count("beam_size", decode.get("beam_size"))
    patience, length_penalty = decode.get("patience"), decode.get("length_penalty")
    if patience is not None and not (isinstance(patience, (int, float)) and not isinstance(patience, bool)
                                     and math.isfinite(patience) and patience > 0):
        raise UserError(f"patience must be a finite number > 0, got {patience!r}")
    if patience is not None and decode.get("beam_size") is None:
        raise UserError("patience needs a beam size (beam_size)")
    if length_penalty is not None and not (isinstance(length_penalty, (int, float))
                                           and not isinstance(length_penalty, bool) and 0 <= length_penalty <= 1):
        raise UserError(f"length_penalty must be a number in [0, 1] (whisper's alpha), got {length_penalty!r}")
    sample_len = decode.get("sample_len")
    if sample_len is not None:
        _count("sample_len", sample_len)


def _frozen_tokens(value: Any) -> Any:
    """A token list as a tuple (the options stay hashable and cannot change); text stays text."""
    return value if value is None or isinstance(value, str) else tuple(int(t) for t in value)


@dataclass(frozen=True)
class DecodeOptions:
    """whisper's `DecodingOptions` for every window, less the temperature (the fallback's schedule
    sets it per attempt). `fp16` None: the model decides (float16 unless loaded as float32; never on
    the CPU). `prompt` is the previous text, set by the window loop for each window."""

    task: Literal["transcribe", "translate"] = "transcribe"
    language: str | None = None
    best_of: int | None = _WHISPER.best_of
    beam_size: int | None = _WHISPER.beam_size
    patience: float | None = _WHISPER.patience
    length_penalty: float | None = _WHISPER.length_penalty
    sample_len: int | None = _WHISPER.sample_len
    prefix: str | tuple[int, ...] | None = _WHISPER.prefix
    suppress_tokens: str | tuple[int, ...] | None = _WHISPER.suppress_tokens
    suppress_blank: bool = _WHISPER.suppress_blank
    without_timestamps: bool = _WHISPER.without_timestamps
    max_initial_timestamp: float | None = _WHISPER.max_initial_timestamp
    fp16: bool | None = None
    prompt: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        check_decode_numbers({f.name: getattr(self, f.name) for f in fields(self)})
        if self.task not in ("transcribe", "translate"):
            raise ValueError(f"task must be 'transcribe' or 'translate', got {self.task!r}")
        object.__setattr__(self, "language", language_code(self.language))
        for name in ("prefix", "suppress_tokens", "prompt"):
            object.__setattr__(self, name, _frozen_tokens(getattr(self, name)))

    def for_attempt(self, temperature: float) -> DecodingOptions:
        """whisper's options for one attempt at `temperature`: beams at 0, best-of above."""
        beams = {"best_of": None} if temperature == 0 else {"beam_size": None, "patience": None}
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values.update(beams, temperature=temperature, fp16=bool(self.fp16))
        for name in ("prefix", "prompt", "suppress_tokens"):  # whisper wants lists (adds to them, asserts one)
            if isinstance(values[name], tuple):
                values[name] = list(values[name])
        return DecodingOptions(**values)


@dataclass(frozen=True)
class PromptOptions:
    """What each window is conditioned on (whisper's rules)."""

    condition_on_previous_text: bool = True
    initial_prompt: str | None = None
    carry_initial_prompt: bool = False


@dataclass(frozen=True)
class WordOptions:
    """Word timestamps, and whisper's skipping of silences before likely hallucinations (which needs them)."""

    word_timestamps: bool = False
    prepend_punctuations: str = PREPEND_PUNCTUATIONS
    append_punctuations: str = APPEND_PUNCTUATIONS
    hallucination_silence_threshold: float | None = None

    def __post_init__(self) -> None:
        threshold = self.hallucination_silence_threshold
        if threshold is not None and not threshold >= 0:
            raise ValueError(f"hallucination_silence_threshold must be >= 0, got {threshold}")


@dataclass(frozen=True)
class AudioOptions:
    """Which audio is decoded: whisper's clips (seconds, start,end,...; empty: everything) and
    faster-whisper's VAD filter (None: off)."""

    clip_timestamps: tuple[float, ...] = ()
    vad: VadOptions | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "clip_timestamps", parse_clip_timestamps(self.clip_timestamps))


@dataclass(frozen=True)
class TranscribeOptions:
    """Every choice of one transcription, checked once; the window loop never changes it."""

    decoding: DecodeOptions = field(default_factory=DecodeOptions)
    policy: FallbackPolicy = field(default_factory=FallbackPolicy)
    sampling: SamplingOptions = field(default_factory=SamplingOptions)
    prompt: PromptOptions = field(default_factory=PromptOptions)
    words: WordOptions = field(default_factory=WordOptions)
    audio: AudioOptions = field(default_factory=AudioOptions)
    verbose: bool | None = None   # None: quiet; False: a progress bar; True: each segment as decoded


_GROUPS = {"decoding": DecodeOptions, "prompt": PromptOptions, "words": WordOptions}
_POLICY_KEYS = ("compression_ratio_threshold", "logprob_threshold", "no_speech_threshold",
                "prompt_reset_temperature", "on_all_failed")
_SAMPLING_KEYS = ("top_k", "top_p", "seed")
_OTHER_KEYS = ("temperature", "clip_timestamps", "vad_filter", "vad_parameters", "verbose")
KEYWORDS = frozenset({f.name for g in _GROUPS.values() for f in fields(g)} - {"prompt"}
                     | set(_POLICY_KEYS) | set(_SAMPLING_KEYS) | set(_OTHER_KEYS))


def options_from_keywords(**keywords: Any) -> TranscribeOptions:
    """whisper's flat keywords (and ours: seed, top_k, top_p, on_all_failed, prompt_reset_temperature,
    faster-whisper's vad_filter / vad_parameters) as TranscribeOptions; a keyword not given keeps
    the dataclasses' default. TypeError for an unknown keyword; ValueError/UserError for a bad value."""
    unknown = set(keywords) - KEYWORDS
    if unknown:
        raise TypeError(f"unknown transcribe option(s): {', '.join(sorted(unknown))}")

    def pick(names) -> dict:
        return {n: keywords[n] for n in names if n in keywords}

    groups = {name: cls(**pick(f.name for f in fields(cls) if f.name != "prompt")) for name, cls in _GROUPS.items()}
    policy = FallbackPolicy(temperatures=schedule(keywords.get("temperature")), **pick(_POLICY_KEYS))
    sampling = SamplingOptions(top_k=keywords.get("top_k"), top_p=keywords.get("top_p"), seed=keywords.get("seed"))
    vad_filter = keywords.get("vad_filter", False)
    if vad_filter and not isinstance(vad_filter, bool):
        raise UserError(f"vad_filter must be True or False, got {vad_filter!r}")
    vad = VadOptions.from_parameters(keywords.get("vad_parameters")) if vad_filter else None
    audio = AudioOptions(clip_timestamps=keywords.get("clip_timestamps"), vad=vad)
    return TranscribeOptions(policy=policy, sampling=sampling, audio=audio, verbose=keywords.get("verbose"),
                             **groups)


def given_options(options: TranscribeOptions | None, keywords: dict[str, Any]) -> TranscribeOptions:
    """The options a caller gave: a TranscribeOptions, or flat keywords, never both."""
    if options is None:
        return options_from_keywords(**keywords)
    if keywords:
        raise TypeError("give transcribe options either as a TranscribeOptions or as keywords, not both")
    if not isinstance(options, TranscribeOptions):
        raise TypeError(f"options must be a TranscribeOptions, got {type(options).__name__}")
    return options


def make_options(model: Whisper, options: TranscribeOptions | None = None, /, **keywords: Any) -> TranscribeOptions:
    """The options of one run on `model`, from a TranscribeOptions or from whisper's flat keywords
    (`options_from_keywords`), not both. Fixes what whisper fixes (no fp16 on the CPU, English for an
    English-only model) and draws a seed when a temperature above 0 may run."""
    options = given_options(options, keywords)
    english = in_models_language(options, model)
    if english is not options:
        warnings.warn(f"an English-only model was asked for language {options.decoding.language!r}; "
                      "using English instead", stacklevel=3)
    decoding = english.decoding
    fp16_default = getattr(model, "compute_type", None) != "float32"
    fp16 = bool(fp16_default if decoding.fp16 is None else decoding.fp16) and model.device.type != "cpu"
    decoding = replace(decoding, fp16=fp16)  # whisper: no fp16 on the CPU
    sampling = options.sampling   # its seed was checked when it was made
    if sampling.seed is None and any(t > 0 for t in options.policy.temperatures):
        sampling = replace(sampling, seed=draw_seed())  # below 2**53: JSON readers parse numbers as doubles
    return replace(options, decoding=decoding, sampling=sampling)


class Languages(Protocol):
    """What `in_models_language` reads of a model: a loaded Whisper, or the server's card for one
    (the server process of `tts-temp serve` holds no weights)."""

    @property
    def is_multilingual(self) -> bool: ...


def in_models_language(options: TranscribeOptions, model: Languages) -> TranscribeOptions:
    """The options with English as the language when the model is English-only and was asked for
    another (as whisper does); the same object otherwise."""
    if model.is_multilingual or options.decoding.language in (None, "en"):
        return options
    return replace(options, decoding=replace(options.decoding, language="en"))
