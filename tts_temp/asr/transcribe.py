"""The window loop: whisper's long-form transcription, with the encoder run once per window.

Per 30 s window: encode once (features + cross-attention K/V) -> for each temperature in the
policy's schedule, decode on the cached window with whisper's `DecodingTask` (our sampler and
inference plugged in) -> judge the attempt -> keep one -> cut it into segments exactly as
whisper does. Every attempt is recorded on the segments it produced.
"""
from __future__ import annotations

import os
import secrets
import sys
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch
import tqdm
from whisper.audio import FRAMES_PER_SECOND, HOP_LENGTH, N_FRAMES, N_SAMPLES, SAMPLE_RATE
from whisper.audio import log_mel_spectrogram, pad_or_trim
from whisper.decoding import BeamSearchDecoder, DecodingOptions, DecodingTask
from whisper.model import Whisper
from whisper.timing import add_word_timestamps
from whisper.tokenizer import get_tokenizer
from whisper.utils import get_end

from tts_temp import audio as audio_io
from tts_temp.asr.fallback import Attempt, FallbackPolicy, choose_when_all_failed, judge
from tts_temp.asr.fallback import schedule, should_reset_prompt, should_skip_as_silence
from tts_temp.asr.inference import CachedInference, EncodedWindow
from tts_temp.asr.sampler import SamplingOptions, SeededSampler
from tts_temp.temperature import check_top_k, check_top_p

_DECODE_KEYS = {"task", "language", "sample_len", "best_of", "beam_size", "patience", "length_penalty",
                "prefix", "suppress_tokens", "suppress_blank", "without_timestamps",
                "max_initial_timestamp", "fp16"}
SILENCE_FLOOR = 1e-4  # peak amplitude (-80 dBFS) below which a window is digital silence
_UNSUPPORTED = {"clip_timestamps": ("0", [], None), "hallucination_silence_threshold": (None,),
                "carry_initial_prompt": (False,)}


@dataclass
class Segment:
    start: float
    end: float
    text: str
    temperature: float
    attempts: list[Attempt]
    tokens: list[int] = field(default_factory=list)
    avg_logprob: float = float("nan")
    compression_ratio: float = float("nan")
    no_speech_prob: float = float("nan")
    words: list[dict] | None = None

    def to_dict(self) -> dict:
        out = {"start": self.start, "end": self.end, "text": self.text,
               "temperature": self.temperature, "attempts": [a.to_dict() for a in self.attempts]}
        if self.words is not None:
            out["words"] = self.words
        return out


@dataclass
class Transcript:
    text: str
    segments: list[Segment]
    language: str
    seed: int | None = None

    def to_dict(self) -> dict:
        """The JSON schema of the CLI: text, language, segments with their attempts."""
        return {"text": self.text, "language": self.language,
                "segments": [s.to_dict() for s in self.segments]}

    def to_whisper_dict(self) -> dict:
        """whisper's own result shape, for its txt/srt/vtt/tsv writers."""
        segments = []
        for i, s in enumerate(self.segments):
            seg = {"id": i, "start": s.start, "end": s.end, "text": s.text, "tokens": s.tokens,
                   "temperature": s.temperature, "avg_logprob": s.avg_logprob,
                   "compression_ratio": s.compression_ratio, "no_speech_prob": s.no_speech_prob}
            if s.words is not None:
                seg["words"] = s.words
            segments.append(seg)
        return {"text": self.text, "segments": segments, "language": self.language}


class _WindowTask(DecodingTask):
    """whisper's DecodingTask on an already-encoded window, with our sampler and cache."""

    def __init__(self, model: Whisper, options: DecodingOptions, window: EncodedWindow,
                 sampling: SamplingOptions):
        super().__init__(model, options)
        self.inference = CachedInference(model, window, len(self.initial_tokens), self.sot_index)
        if options.beam_size is not None:
            self.decoder = BeamSearchDecoder(options.beam_size, self.tokenizer.eot, self.inference,
                                             options.patience)
        else:
            self.decoder = SeededSampler(sampling, self.tokenizer.eot)


class _FeaturesModel:
    """Stands in for the model in whisper's word alignment, which calls `model(mel, tokens)` and
    would run the encoder again: here the call reuses the window's features instead."""

    def __init__(self, model: Whisper, window: EncodedWindow):
        self._model, self._window = model, window

    def __call__(self, mel: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        return self._model.decoder(tokens, self._window.features)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._model, name)


def _attempt_seed(seed: int, seek: int, index: int) -> int:
    """A distinct, stable seed per (window, attempt), so an attempt is reproducible on its own."""
    return (seed * 1_000_003 + seek * 1009 + index) % (2**63 - 1)


def decode_window(model: Whisper, window: EncodedWindow, policy: FallbackPolicy,
                  decode: dict, sampling: SamplingOptions, seek: int = 0) -> tuple[Attempt, list[Attempt]]:
    """Try the policy's temperatures on one encoded window; return (kept, all attempts)."""
    attempts: list[Attempt] = []
    for index, t in enumerate(policy.temperatures):
        kwargs = dict(decode)
        if t > 0:
            kwargs.pop("beam_size", None)
            kwargs.pop("patience", None)
        else:
            kwargs.pop("best_of", None)
        options = DecodingOptions(**kwargs, temperature=t)
        seed = _attempt_seed(sampling.seed, seek, index) if t > 0 and sampling.seed is not None else None
        task = _WindowTask(model, options, window, replace(sampling, temperature=t, seed=seed))
        result = task.run(window.features)[0]
        attempt = Attempt(temperature=t, tokens=list(result.tokens), text=result.text,
                          avg_logprob=result.avg_logprob, compression_ratio=result.compression_ratio,
                          no_speech_prob=result.no_speech_prob, seed=seed)
        attempt.accepted, attempt.reason = judge(attempt, policy)
        attempts.append(attempt)
        if attempt.accepted:
            return attempt, attempts
    kept = attempts[choose_when_all_failed(attempts, policy)]
    kept.reason += f"; kept: every temperature failed (on_all_failed={policy.on_all_failed})"
    return kept, attempts


def _check_options(options: dict) -> None:
    for key, allowed in _UNSUPPORTED.items():
        if key in options and options.pop(key) not in allowed:
            raise ValueError(f"{key} is not supported by tts_temp.asr.transcribe")
    unknown = set(options) - _DECODE_KEYS
    if unknown:
        raise TypeError(f"unknown transcribe option(s): {', '.join(sorted(unknown))}")
    for key in ("best_of", "beam_size"):
        if options.get(key) is not None and options[key] < 1:
            raise ValueError(f"{key} must be >= 1, got {options[key]}")


def transcribe(
    model: Whisper,
    audio: str | os.PathLike | np.ndarray | torch.Tensor,
    *,
    verbose: bool | None = None,
    temperature: float | tuple[float, ...] | list[float] = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0),
    compression_ratio_threshold: float | None = 2.4,
    logprob_threshold: float | None = -1.0,
    no_speech_threshold: float | None = 0.6,
    condition_on_previous_text: bool = True,
    initial_prompt: str | None = None,
    word_timestamps: bool = False,
    prepend_punctuations: str = "\"'“¿([{-",
    append_punctuations: str = "\"'.。,，!！?？:：”)]}、",
    seed: int | None = None,
    top_k: int | None = None,
    top_p: float | None = None,
    on_all_failed: str = "last",
    prompt_reset_temperature: float = 0.5,
    **decode_options,
) -> Transcript:
    """Transcribe like `whisper.transcribe`, with a seeded sampler and recorded attempts.

    `audio` is a path or a float32 waveform at 16 kHz. Options mirror whisper's keyword
    arguments, plus `seed`, `top_k`, `top_p`, `on_all_failed` ("last" | "best") and
    `prompt_reset_temperature`. With no seed, one is drawn and returned on the Transcript so
    that a sampled result can still be reproduced.
    """
    _check_options(decode_options)
    policy = FallbackPolicy(temperatures=schedule(temperature), on_all_failed=on_all_failed,
                            compression_ratio_threshold=compression_ratio_threshold,
                            logprob_threshold=logprob_threshold, no_speech_threshold=no_speech_threshold,
                            prompt_reset_temperature=prompt_reset_temperature)
    check_top_k(top_k), check_top_p(top_p)
    if seed is None and any(t > 0 for t in policy.temperatures):
        seed = secrets.randbits(63)
    sampling = SamplingOptions(temperature=0.0, top_k=top_k, top_p=top_p, seed=seed)

    if isinstance(audio, (str, os.PathLike)):
        waveform = audio_io.load(audio, SAMPLE_RATE)
    else:
        waveform = audio_io.prepare(np.asarray(audio, dtype=np.float32), SAMPLE_RATE, SAMPLE_RATE)

    decode = dict(decode_options)
    decode.setdefault("fp16", getattr(model, "compute_type", "float16") == "float16")  # see quantize.py
    if decode.get("fp16", True) and model.device.type == "cpu":
        decode["fp16"] = False  # whisper does the same, with a warning
    dtype = torch.float16 if decode.get("fp16", True) else torch.float32

    with torch.no_grad():
        return _run(model, waveform, policy, sampling, decode, dtype, verbose, condition_on_previous_text,
                    initial_prompt, word_timestamps, prepend_punctuations, append_punctuations)


def _run(model, waveform, policy, sampling, decode, dtype, verbose, condition_on_previous_text,
         initial_prompt, word_timestamps, prepend_punctuations, append_punctuations) -> Transcript:
    mel = log_mel_spectrogram(torch.from_numpy(waveform), model.dims.n_mels, padding=N_SAMPLES)
    content_frames = mel.shape[-1] - N_FRAMES
    first_window: EncodedWindow | None = None

    def encode(seek: int) -> tuple[EncodedWindow, torch.Tensor, int]:
        size = min(N_FRAMES, content_frames - seek)
        segment = pad_or_trim(mel[:, seek:seek + size], N_FRAMES).to(model.device).to(dtype)
        return EncodedWindow.encode(model, segment), segment, size

    if decode.get("language") is None:
        if model.is_multilingual and content_frames > 0:
            first_window = encode(0)
            _, probs = model.detect_language(first_window[0].features)
            decode["language"] = max(probs[0], key=probs[0].get)
        else:
            decode["language"] = "en"
    language, task = decode["language"], decode.get("task", "transcribe")
    tokenizer = get_tokenizer(model.is_multilingual, num_languages=model.num_languages,
                              language=language, task=task)

    input_stride = N_FRAMES // model.dims.n_audio_ctx
    time_precision = input_stride * HOP_LENGTH / SAMPLE_RATE
    all_tokens: list[int] = []
    prompt_tokens = tokenizer.encode(" " + initial_prompt.strip()) if initial_prompt else []
    all_tokens.extend(prompt_tokens)
    prompt_reset_since = 0
    segments: list[Segment] = []
    last_speech_timestamp = 0.0
    seek = 0

    # a progress bar (verbose=False, as in whisper) only when there is more than one window
    show_bar = verbose is False and content_frames > N_FRAMES
    with tqdm.tqdm(total=content_frames, unit="frames", disable=not show_bar) as pbar:
        while seek < content_frames:
            previous_seek = seek
            time_offset = float(seek * HOP_LENGTH / SAMPLE_RATE)
            size = min(N_FRAMES, content_frames - seek)
            if _is_digital_silence(waveform, seek, size):
                # whisper hallucinates on pure silence ("You"); there is nothing to transcribe
                seek += size
                pbar.update(min(content_frames, seek) - previous_seek)
                continue
            window, mel_segment, size = first_window if (first_window and seek == 0) else encode(seek)
            decode["prompt"] = all_tokens[prompt_reset_since:]
            kept, attempts = decode_window(model, window, policy, decode, sampling, seek)

            if should_skip_as_silence(kept, policy):
                seek += size
                pbar.update(min(content_frames, seek) - previous_seek)
                continue

            current, seek = _split(kept, attempts, tokenizer, seek, size, time_offset, time_precision,
                                   input_stride)
            if word_timestamps and current:
                dicts = [{"seek": previous_seek, "start": s.start, "end": s.end, "tokens": s.tokens, "text": s.text}
                         for s in current]
                add_word_timestamps(segments=dicts, model=_FeaturesModel(model, window), tokenizer=tokenizer,
                                    mel=mel_segment, num_frames=size, prepend_punctuations=prepend_punctuations,
                                    append_punctuations=append_punctuations,
                                    last_speech_timestamp=last_speech_timestamp)
                for s, d in zip(current, dicts):
                    s.start, s.end, s.words = d["start"], d["end"], d.get("words", [])
                if not _single_timestamp_ending(kept.tokens, tokenizer):
                    last_word_end = get_end(dicts)
                    if last_word_end is not None and last_word_end > time_offset:
                        seek = round(last_word_end * FRAMES_PER_SECOND)
                last_word_end = get_end(dicts)
                if last_word_end is not None:
                    last_speech_timestamp = last_word_end

            for s in current:  # an instantaneous or empty segment carries no text
                if s.start == s.end or s.text.strip() == "":
                    s.text, s.tokens, s.words = "", [], ([] if s.words is not None else None)
            if verbose:
                for s in current:
                    print(f"[{s.start:8.2f} --> {s.end:8.2f}] (T={s.temperature:g}) {s.text}", file=sys.stderr)
            segments.extend(current)
            all_tokens.extend(t for s in current for t in s.tokens)
            if not condition_on_previous_text or should_reset_prompt(kept.temperature, policy):
                prompt_reset_since = len(all_tokens)
            pbar.update(min(content_frames, seek) - previous_seek)

    text = tokenizer.decode(all_tokens[len(prompt_tokens):])
    return Transcript(text=text, segments=segments, language=language, seed=sampling.seed)


def _is_digital_silence(waveform: np.ndarray, seek: int, size: int) -> bool:
    part = waveform[seek * HOP_LENGTH:(seek + size) * HOP_LENGTH]
    return part.size == 0 or float(np.abs(part).max()) < SILENCE_FLOOR


def _single_timestamp_ending(tokens: list[int], tokenizer) -> bool:
    flags = [t >= tokenizer.timestamp_begin for t in tokens[-2:]]
    return flags == [False, True]


def _split(kept: Attempt, attempts: list[Attempt], tokenizer, seek: int, size: int, time_offset: float,
           time_precision: float, input_stride: int) -> tuple[list[Segment], int]:
    """Cut the kept tokens into segments at consecutive timestamp pairs, and advance `seek`
    (whisper's rules: to the window end, or to the last complete timestamp)."""
    tokens = torch.tensor(kept.tokens, dtype=torch.long)
    ts = tokens.ge(tokenizer.timestamp_begin)
    single_ending = ts[-2:].tolist() == [False, True]
    consecutive = (torch.where(ts[:-1] & ts[1:])[0] + 1).tolist()

    def make(start: float, end: float, toks: torch.Tensor) -> Segment:
        toks = toks.tolist()
        text = tokenizer.decode([t for t in toks if t < tokenizer.eot])
        return Segment(start=start, end=end, text=text, temperature=kept.temperature, attempts=attempts,
                       tokens=toks, avg_logprob=kept.avg_logprob, compression_ratio=kept.compression_ratio,
                       no_speech_prob=kept.no_speech_prob)

    out: list[Segment] = []
    if consecutive:
        slices = consecutive + ([len(tokens)] if single_ending else [])
        last = 0
        for cut in slices:
            part = tokens[last:cut]
            start = (part[0].item() - tokenizer.timestamp_begin) * time_precision
            end = (part[-1].item() - tokenizer.timestamp_begin) * time_precision
            out.append(make(time_offset + start, time_offset + end, part))
            last = cut
        if single_ending:
            seek += size
        else:
            seek += (tokens[last - 1].item() - tokenizer.timestamp_begin) * input_stride
    else:
        duration = size * HOP_LENGTH / SAMPLE_RATE
        stamps = tokens[ts.nonzero().flatten()]
        if len(stamps) > 0 and stamps[-1].item() != tokenizer.timestamp_begin:
            duration = (stamps[-1].item() - tokenizer.timestamp_begin) * time_precision
        out.append(make(time_offset, time_offset + duration, tokens))
        seek += size
    return out, seek
