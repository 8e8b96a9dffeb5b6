"""The window loop: whisper's long-form transcription, with the encoder run once per window.

Per 30 s window: encode once (features + cross-attention K/V) -> for each temperature in the
policy's schedule, decode on the cached window with whisper's `DecodingTask` (our sampler and
inference plugged in) -> judge the attempt -> keep one -> cut it into segments exactly as
whisper does. Every attempt is recorded on the segments it produced, and a window skipped as
silence is recorded with its attempts and the reason.

`transcribe()` checks its keywords once into a frozen `TranscribeOptions`; `_Transcription`
then runs named steps (detect the language, build the prompt, decode a window, cut segments,
add word timestamps, skip hallucinations, emit), in the spirit of whisper's `decoding.py`.
"""
from __future__ import annotations

import math
import os
import sys
import threading
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch
import tqdm
from whisper.audio import FRAMES_PER_SECOND, HOP_LENGTH, N_FRAMES, N_SAMPLES, SAMPLE_RATE
from whisper.audio import log_mel_spectrogram, pad_or_trim
from whisper.decoding import DecodingOptions, DecodingTask
from whisper.model import Whisper
from whisper.timing import add_word_timestamps
from whisper.tokenizer import LANGUAGES, get_tokenizer
from whisper.utils import get_end

from tts_temp import audio as audio_io
from tts_temp.asr import attention
from tts_temp.asr.fallback import Attempt, FallbackPolicy, climb_schedule, should_reset_prompt, should_skip_as_silence
from tts_temp.asr.beam import BatchedBeamSearchDecoder
from tts_temp.asr.filters import BatchedTimestampRules, fast_equivalents
from tts_temp.asr.decoder_plan import DecoderPlan
from tts_temp.asr.inference import CachedInference, EncodedWindow
from tts_temp.asr.options import APPEND_PUNCTUATIONS, PREPEND_PUNCTUATIONS, DecodeOptions, TranscribeOptions
from tts_temp.asr.options import make_options
from tts_temp.asr.sampler import SamplingOptions, SeededSampler
from tts_temp.asr.vad import TimeMap, collect, speech_chunks
from tts_temp.sampling.seeds import derive_seed

# Digital silence: no sample beyond one step of 16-bit audio (2**-15, -90.3 dBFS), i.e. zeros or
# dither. Quiet real speech (-81 dBFS and below) is still decoded: whisper's log-mel normalises level.
SILENCE_FLOOR = 2.0**-15
_PUNCTUATION = PREPEND_PUNCTUATIONS + APPEND_PUNCTUATIONS
# whisper's language detection and word alignment run the decoder's own modules: alignment hooks
# them and flips whisper's process-wide SDPA flag, so the two never run in two threads at once
_DECODER_MODULES = threading.Lock()


def json_safe(value: Any) -> Any:
    """`value` with every NaN or infinite float replaced by None: JSON has no such numbers (a
    -Infinity avg_logprob, a NaN ratio), so the output stays JSON that any reader parses."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


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
    window: int = 0  # index of the 30 s window (decoded or skipped, in order) this segment came from

    def to_dict(self) -> dict:
        out = {"start": self.start, "end": self.end, "text": self.text, "window": self.window,
               "temperature": self.temperature, "attempts": [a.to_dict() for a in self.attempts]}
        if self.words is not None:
            out["words"] = self.words
        return out


@dataclass
class SkippedWindow:
    """A window that produced no segments, and why: digital silence, or whisper's no-speech rule."""

    window: int
    start: float
    end: float
    reason: str
    attempts: list[Attempt] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"window": self.window, "start": self.start, "end": self.end, "reason": self.reason,
                "attempts": [a.to_dict() for a in self.attempts]}


@dataclass
class Transcript:
    text: str
    segments: list[Segment]
    # None only for a multilingual model with no language given and nothing to detect it from
    # (empty audio, or no speech under the VAD)
    language: str | None
    seed: int | None = None  # replaying with this seed gives the same result
    # how the language was found: "detected" (with its probability), "given", "model" (an
    # English-only model), or "none" (nothing to detect it from)
    language_source: str = "given"
    language_probability: float | None = None  # set only when the language was detected
    skipped: list[SkippedWindow] = field(default_factory=list)
    torch_threads: int | None = None  # float32 sums (and so, rarely, a text) may depend on it

    def to_dict(self) -> dict:
        """The JSON schema of the CLI: text, language, seed, segments with their attempts, skipped
        windows. Non-finite numbers are null (`json_safe`)."""
        return json_safe({"text": self.text, "language": self.language, "language_source": self.language_source,
                          "language_probability": self.language_probability, "seed": self.seed,
                          "torch_threads": self.torch_threads, "segments": [s.to_dict() for s in self.segments],
                          "skipped_windows": [w.to_dict() for w in self.skipped]})

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
                 sampling: SamplingOptions, plan: DecoderPlan | None = None):
        super().__init__(model, options)
        self.inference = CachedInference(model, window, len(self.initial_tokens), self.sot_index, plan)
        self.logit_filters = fast_equivalents(self.logit_filters)
        if options.beam_size is not None:
            # the timestamp rules' log-probabilities, when nothing runs after them (filters.py)
            last = self.logit_filters[-1] if self.logit_filters else None
            shared = {"log_softmax": last.log_softmax} if isinstance(last, BatchedTimestampRules) else {}
            self.decoder = BatchedBeamSearchDecoder(options.beam_size, self.tokenizer.eot, self.inference,
                                                    options.patience, **shared)
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


def attempt_seed(run_seed: int, seek: int, index: int) -> int:
    """The seed of the index-th attempt on the window starting at mel frame `seek`: derived from
    the run's seed, so each attempt replays on its own from (its seed, its window)."""
    return derive_seed(run_seed, seek, index)


def attempt_options(decode: DecodeOptions, t: float) -> DecodingOptions:
    """whisper's decoding options for one attempt at temperature t: beams at 0, best-of above."""
    return decode.for_attempt(t)


def attempt_sampling(sampling: SamplingOptions, t: float, seek: int, index: int) -> SamplingOptions:
    """The sampler of the index-th attempt on the window at `seek` (the seed rule lives here only)."""
    seed = attempt_seed(sampling.seed, seek, index) if t > 0 and sampling.seed is not None else None
    return replace(sampling, temperature=t, seed=seed)


def recorded_attempt(result, t: float, seed: int | None, seek: int, frames: int | None = None) -> Attempt:
    """One decoding result as a recorded Attempt (of mel frames [seek, seek + frames)), not yet judged."""
    return Attempt(temperature=t, tokens=list(result.tokens), text=result.text, avg_logprob=result.avg_logprob,
                   compression_ratio=result.compression_ratio, no_speech_prob=result.no_speech_prob, seed=seed,
                   seek=seek, frames=frames)


def decode_window(model: Whisper, window: EncodedWindow, policy: FallbackPolicy,
                  decode: DecodeOptions, sampling: SamplingOptions, seek: int = 0,
                  plan: DecoderPlan | None = None, frames: int | None = None) -> tuple[Attempt, list[Attempt]]:
    """The policy's fallback on one encoded window (mel frames [seek, seek + frames) of the audio);
    return (kept, all attempts)."""
    def run(index: int, t: float) -> Attempt:
        attempt_sampler = attempt_sampling(sampling, t, seek, index)
        task = _WindowTask(model, attempt_options(decode, t), window, attempt_sampler, plan)
        return recorded_attempt(task.run(window.features)[0], t, attempt_sampler.seed, seek, frames)

    return climb_schedule(policy, run)


def transcribe(model: Whisper, audio: str | os.PathLike | np.ndarray | torch.Tensor,
               options: TranscribeOptions | None = None, **keywords) -> Transcript:
    """Transcribe like `whisper.transcribe`, with a seeded sampler and recorded attempts.

    `audio` is a path or a float32 waveform at 16 kHz. The options are a `TranscribeOptions`, or
    whisper's keyword arguments (see `asr.options.options_from_keywords`), plus `seed`, `top_k`,
    `top_p`, `on_all_failed` ("last" | "best"), `prompt_reset_temperature`, and faster-whisper's
    `vad_filter` / `vad_parameters`. With no seed, one is drawn and returned on the Transcript so
    that a sampled result can be replayed.
    """
    opts = make_options(model, options, **keywords)
    waveform, time_map, opts = prepare_audio(model, audio, opts)
    # inference mode, not just no_grad: no version counters or autograd metadata on the ~200 small
    # tensors of every decoding step (the plan's tensors made here stay usable under no_grad)
    with torch.inference_mode():
        return _Transcription(model, waveform, opts, time_map).run()


def prepare_audio(model: Whisper, audio: str | os.PathLike | np.ndarray | torch.Tensor,
                  opts: TranscribeOptions) -> tuple[np.ndarray, TimeMap | None, TranscribeOptions]:
    """The waveform the window loop reads (after the VAD, if asked), its time map, and the options
    as they apply to it; shared by `transcribe` and the sweep's grid (asr.grid)."""
    attention.adopt(model)  # the encoder's attention must not follow whisper's process-wide flag
    if isinstance(audio, (str, os.PathLike)):
        waveform = audio_io.load(audio, SAMPLE_RATE)
    else:
        audio = audio.cpu().numpy() if isinstance(audio, torch.Tensor) else audio
        waveform = audio_io.prepare(np.asarray(audio, dtype=np.float32), SAMPLE_RATE, SAMPLE_RATE)
    time_map = None
    if opts.audio.vad is not None:
        chunks = speech_chunks(waveform, opts.audio.vad)
        waveform, time_map = collect(waveform, chunks), TimeMap(chunks)
        if opts.audio.clip_timestamps:  # the clips name times of the original audio: move them into the speech
            clips = _clips_in_speech(opts.audio.clip_timestamps, time_map)
            opts = replace(opts, audio=replace(opts.audio, clip_timestamps=clips))
    return waveform, time_map, opts


# --------------------------------------------------------------------------- the window loop
@dataclass
class _Window:
    """Where one decode looks: mel frames [seek, seek + size) of the audio, the index-th window."""

    index: int
    seek: int
    size: int

    @property
    def time_offset(self) -> float:
        return float(self.seek * HOP_LENGTH / SAMPLE_RATE)

    @property
    def end_time(self) -> float:  # whisper's window_end_time: a full 30 s after the start
        return float((self.seek + N_FRAMES) * HOP_LENGTH / SAMPLE_RATE)

    @property
    def duration(self) -> float:
        return self.size * HOP_LENGTH / SAMPLE_RATE


class _Transcription:
    """One audio through the window loop; the state whisper keeps in closures lives here."""

    def __init__(self, model: Whisper, waveform: np.ndarray, options: TranscribeOptions,
                 time_map: TimeMap | None = None):
        self.model, self.waveform, self.options, self.time_map = model, waveform, options, time_map
        # the options as they stand for the next window: the language once found, the prompt per window
        self.decode = options.decoding
        self.dtype = torch.float16 if self.decode.fp16 else torch.float32
        self.mel = log_mel_spectrogram(torch.from_numpy(waveform), model.dims.n_mels, padding=N_SAMPLES)
        self.content_frames = self.mel.shape[-1] - N_FRAMES
        self.input_stride = N_FRAMES // model.dims.n_audio_ctx
        self.time_precision = self.input_stride * HOP_LENGTH / SAMPLE_RATE
        self.first: tuple[int, int, EncodedWindow] | None = None  # a window encoded for language detection
        self.language, self.language_probability, self.language_source = self._detect_language()
        # the decoder's plan, resolved (and its weights hashed) once for every attempt of this audio
        self.plan = DecoderPlan.of(model, self.dtype)
        self.tokenizer = get_tokenizer(model.is_multilingual, num_languages=model.num_languages,
                                       language=self.language, task=self.decode.task)
        prompt = options.prompt.initial_prompt
        self.initial_prompt_tokens = self.tokenizer.encode(" " + prompt.strip()) if prompt else []
        self.all_tokens: list[int] = list(self.initial_prompt_tokens)
        self.prompt_reset_since = 0
        self.segments: list[Segment] = []
        self.skipped: list[SkippedWindow] = []
        self.last_speech_timestamp = 0.0

    # ---- steps
    def _encode(self, seek: int, size: int) -> tuple[EncodedWindow, torch.Tensor]:
        mel = pad_or_trim(self.mel[:, seek:seek + size], N_FRAMES).to(self.model.device).to(self.dtype)
        if self.first is not None and self.first[:2] == (seek, size):
            return self.first[2], mel
        return EncodedWindow.encode(self.model, mel), mel

    def _detect_language(self) -> tuple[str | None, float | None, str]:
        """As whisper: on the first 30 s of the padded mel (so the same input, the same answer).
        Returns (language, probability, source); with no audio there is nothing to detect from
        (whisper would "detect" a language in padding), so a multilingual model reports none."""
        if self.decode.language is not None:
            return self.decode.language, None, "given"
        if not self.model.is_multilingual:
            self.decode = replace(self.decode, language="en")
            return "en", None, "model"
        if self.content_frames <= 0:
            return None, None, "none"
        mel = pad_or_trim(self.mel, N_FRAMES).to(self.model.device).to(self.dtype)
        window = EncodedWindow.encode(self.model, mel)
        if self.content_frames >= N_FRAMES:  # the first full window is the same input: encode it once
            self.first = (0, N_FRAMES, window)
        with _DECODER_MODULES:
            _, probs = self.model.detect_language(window.features)
        language = max(probs[0], key=probs[0].get)
        self.decode = replace(self.decode, language=language)
        if self.options.verbose is not None:
            print(f"Detected language: {LANGUAGES[language].title()} ({probs[0][language]:.2f})", file=sys.stderr)
        return language, float(probs[0][language]), "detected"

    def _prompt(self) -> list[int]:
        """The previous text as context (whisper's rules, including carry_initial_prompt)."""
        if not self.options.prompt.carry_initial_prompt:
            return self.all_tokens[self.prompt_reset_since:]
        remaining = self.model.dims.n_text_ctx // 2 - 1 - len(self.initial_prompt_tokens)
        ignored = max(len(self.initial_prompt_tokens), self.prompt_reset_since)
        return self.initial_prompt_tokens + self.all_tokens[ignored:][-remaining:]

    def _cut(self, kept: Attempt, attempts: list[Attempt], w: _Window) -> tuple[list[Segment], int, bool]:
        """Cut the kept tokens into segments at consecutive timestamp pairs and find the next seek
        (whisper's rules: the window end, or the last complete timestamp)."""
        tokenizer, begin = self.tokenizer, self.tokenizer.timestamp_begin
        tokens = torch.tensor(kept.tokens, dtype=torch.long)
        ts = tokens.ge(begin)
        single_ending = ts[-2:].tolist() == [False, True]
        consecutive = (torch.where(ts[:-1] & ts[1:])[0] + 1).tolist()

        def make(start: float, end: float, toks: torch.Tensor) -> Segment:
            toks = toks.tolist()
            return Segment(start=start, end=end, text=tokenizer.decode([t for t in toks if t < tokenizer.eot]),
                           temperature=kept.temperature, attempts=attempts, tokens=toks,
                           avg_logprob=kept.avg_logprob, compression_ratio=kept.compression_ratio,
                           no_speech_prob=kept.no_speech_prob, window=w.index)

        out: list[Segment] = []
        if consecutive:
            last = 0
            for cut in consecutive + ([len(tokens)] if single_ending else []):
                part = tokens[last:cut]
                start = (part[0].item() - begin) * self.time_precision
                end = (part[-1].item() - begin) * self.time_precision
                out.append(make(w.time_offset + start, w.time_offset + end, part))
                last = cut
            seek = w.seek + (w.size if single_ending else (tokens[last - 1].item() - begin) * self.input_stride)
        else:
            duration = w.duration
            stamps = tokens[ts.nonzero().flatten()]
            if len(stamps) > 0 and stamps[-1].item() != begin:
                duration = (stamps[-1].item() - begin) * self.time_precision
            out.append(make(w.time_offset, w.time_offset + duration, tokens))
            seek = w.seek + w.size
        return out, seek, single_ending

    def _add_words(self, current: list[Segment], window: EncodedWindow, mel: torch.Tensor, w: _Window) -> None:
        dicts = [{"seek": w.seek, "start": s.start, "end": s.end, "tokens": s.tokens, "text": s.text}
                 for s in current]
        threads = torch.get_num_threads()
        with _DECODER_MODULES:
            add_word_timestamps(segments=dicts, model=_FeaturesModel(self.model, window), tokenizer=self.tokenizer,
                                mel=mel, num_frames=w.size,
                                prepend_punctuations=self.options.words.prepend_punctuations,
                                append_punctuations=self.options.words.append_punctuations,
                                last_speech_timestamp=self.last_speech_timestamp)
            # the alignment's first call in a thread (numba's start-up) can reset this thread's
            # torch thread count; later windows must run as the caller set it
            torch.set_num_threads(threads)
        for s, d in zip(current, dicts):
            s.start, s.end, s.words = d["start"], d["end"], d.get("words", [])

    def _skip_hallucinations(self, current: list[Segment], w: _Window, seek: int,
                             single_ending: bool) -> tuple[int, bool]:
        """whisper's hallucination_silence_threshold: skip silence before likely hallucinations.
        Returns (seek, drop the whole window)."""
        threshold = self.options.words.hallucination_silence_threshold
        dicts = [{"start": s.start, "end": s.end, "words": s.words or []} for s in current]
        if not single_ending:
            last_word_end = get_end(dicts)
            if last_word_end is not None and last_word_end > w.time_offset:
                remaining = w.end_time - last_word_end
                seek = round(last_word_end * FRAMES_PER_SECOND) if remaining > threshold else w.seek + w.size
        first = next((s for s in current if s.words), None)
        if first is not None and _is_anomaly(first):
            gap = first.start - w.time_offset
            if gap > threshold:
                return w.seek + round(gap * FRAMES_PER_SECOND), True
        last_end = self.last_speech_timestamp
        content_duration = float(self.content_frames * HOP_LENGTH / SAMPLE_RATE)
        for i, segment in enumerate(current):
            if not segment.words:
                continue
            if _is_anomaly(segment):
                following = next((s for s in current[i + 1:] if s.words), None)
                next_start = following.words[0]["start"] if following is not None else w.time_offset + w.duration
                silence_before = (segment.start - last_end > threshold or segment.start < threshold
                                  or segment.start - w.time_offset < 2.0)
                silence_after = (next_start - segment.end > threshold or _is_anomaly(following)
                                 or w.end_time - segment.end < 2.0)
                if silence_before and silence_after:
                    seek = round(max(w.time_offset + 1, segment.start) * FRAMES_PER_SECOND)
                    if content_duration - segment.end < threshold:
                        seek = self.content_frames
                    del current[i:]
                    break
            last_end = segment.end
        return seek, False

    def _emit(self, current: list[Segment], kept: Attempt) -> None:
        """Record the window's segments (times mapped back through the VAD) and update the prompt."""
        for s in current:  # an instantaneous or empty segment carries no text
            if s.start == s.end or s.text.strip() == "":
                s.text, s.tokens, s.words = "", [], ([] if s.words is not None else None)
        if self.time_map is not None:  # as faster-whisper: words through their middle's chunk, segments from words
            for s in current:
                for word in s.words or []:
                    word["start"], word["end"] = self.time_map.word(word["start"], word["end"])
                if s.words:
                    s.start, s.end = s.words[0]["start"], s.words[-1]["end"]
                else:
                    s.start, s.end = self.time_map(s.start), self.time_map(s.end, is_end=True)
        if self.options.verbose:
            for s in current:
                print(f"[{s.start:8.2f} --> {s.end:8.2f}] (T={s.temperature:g}) {s.text}", file=sys.stderr)
        self.segments.extend(current)
        self.all_tokens.extend(t for s in current for t in s.tokens)
        if not self.options.prompt.condition_on_previous_text or should_reset_prompt(kept.temperature,
                                                                                        self.options.policy):
            self.prompt_reset_since = len(self.all_tokens)

    def _skip(self, w: _Window, reason: str, attempts: list[Attempt]) -> None:
        start, end = w.time_offset, w.time_offset + w.duration
        if self.time_map is not None:
            start, end = self.time_map(start), self.time_map(end, is_end=True)
        self.skipped.append(SkippedWindow(window=w.index, start=start, end=end, reason=reason, attempts=attempts))

    def _decode_window(self, window: EncodedWindow, w: _Window) -> tuple[Attempt, list[Attempt]]:
        """The fallback ladder on one encoded window (the sweep's grid decodes many rows' at once here)."""
        o = self.options
        return decode_window(self.model, window, o.policy, self.decode, o.sampling, w.seek, self.plan, w.size)

    def _window(self, w: _Window) -> int:
        """Decode one window and record what it gave; return the next seek."""
        if _is_digital_silence(self.waveform, w.seek, w.size):
            # whisper hallucinates on pure silence ("You"); there is nothing to transcribe
            self._skip(w, "digital silence: peak below -80 dBFS, not decoded", [])
            return w.seek + w.size
        window, mel = self._encode(w.seek, w.size)
        self.decode = replace(self.decode, prompt=tuple(self._prompt()))
        o = self.options
        kept, attempts = self._decode_window(window, w)
        if should_skip_as_silence(kept, o.policy):
            self._skip(w, f"no speech: no-speech prob {kept.no_speech_prob:.2f} > {o.policy.no_speech_threshold:g} "
                          f"and avg logprob {kept.avg_logprob:.2f} not above {o.policy.logprob_threshold}", attempts)
            return w.seek + w.size
        current, seek, single_ending = self._cut(kept, attempts, w)
        if o.words.word_timestamps:
            self._add_words(current, window, mel, w)
            dicts = [{"end": s.end, "words": s.words or []} for s in current]
            if not single_ending:
                last_word_end = get_end(dicts)
                if last_word_end is not None and last_word_end > w.time_offset:
                    seek = round(last_word_end * FRAMES_PER_SECOND)
            if o.words.hallucination_silence_threshold is not None:
                seek, drop = self._skip_hallucinations(current, w, seek, single_ending)
                if drop:
                    self._skip(w, "hallucination: an anomalous first segment after silence "
                                  f"> {o.words.hallucination_silence_threshold:g} s", attempts)
                    return seek
            last_word_end = get_end([{"end": s.end, "words": s.words or []} for s in current])
            if last_word_end is not None:
                self.last_speech_timestamp = last_word_end
        self._emit(current, kept)
        return seek

    def run(self) -> Transcript:
        clips = _seek_clips(self.options.audio.clip_timestamps, self.content_frames)
        show_bar = self.options.verbose is False and self.content_frames > N_FRAMES
        index = 0
        with tqdm.tqdm(total=self.content_frames, unit="frames", disable=not show_bar) as pbar:
            for clip_start, clip_end in clips:
                seek = clip_start
                while seek < clip_end:
                    w = _Window(index, seek, min(N_FRAMES, self.content_frames - seek, clip_end - seek))
                    seek = self._window(w)
                    index += 1
                    pbar.update(max(0, min(self.content_frames, seek) - w.seek))
        text = self.tokenizer.decode(self.all_tokens[len(self.initial_prompt_tokens):])
        return Transcript(text=text, segments=self.segments, language=self.language,
                          seed=self.options.sampling.seed, language_source=self.language_source,
                          language_probability=self.language_probability, skipped=self.skipped,
                          torch_threads=torch.get_num_threads())


def _clips_in_speech(clips: tuple[float, ...], time_map: TimeMap) -> tuple[float, ...]:
    """Clip times of the original audio as times of the VAD's concatenated speech. A clip that holds
    no speech is dropped; an odd list keeps its open end (to the end of the audio)."""
    mapped = [time_map.to_speech(t) for t in clips]
    pairs = list(zip(mapped[::2], mapped[1::2]))
    out = [t for start, end in pairs if end > start for t in (start, end)]
    if len(mapped) % 2 == 1:
        out.append(mapped[-1])
    return tuple(out) if out else (_NOTHING,)


_NOTHING = 1e12  # seconds: a single clip start past every audio's end, so nothing is decoded


def _seek_clips(clip_timestamps: tuple[float, ...], content_frames: int) -> list[tuple[int, int]]:
    """whisper's (start, end) frame pairs; an odd list ends at the audio's end (clamped to it)."""
    points = [round(t * FRAMES_PER_SECOND) for t in clip_timestamps] or [0]
    if len(points) % 2 == 1:
        points.append(content_frames)
    return [(start, min(end, content_frames)) for start, end in zip(points[::2], points[1::2])]


def _word_anomaly(word: dict) -> float:
    """whisper's score for a word that is too improbable, too short or too long."""
    probability, duration = word.get("probability", 0.0), word["end"] - word["start"]
    score = 1.0 if probability < 0.15 else 0.0
    if duration < 0.133:
        score += (0.133 - duration) * 15
    if duration > 2.0:
        score += duration - 2.0
    return score


def _is_anomaly(segment: Segment | None) -> bool:
    if segment is None or not segment.words:
        return False
    words = [w for w in segment.words if w["word"] not in _PUNCTUATION][:8]
    score = sum(_word_anomaly(w) for w in words)
    return score >= 3 or score + 0.01 >= len(words)


def _is_digital_silence(waveform: np.ndarray, seek: int, size: int) -> bool:
    part = waveform[seek * HOP_LENGTH:(seek + size) * HOP_LENGTH]
    return part.size == 0 or float(np.abs(part).max()) < SILENCE_FLOOR
