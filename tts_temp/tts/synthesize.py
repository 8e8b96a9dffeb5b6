"""Text -> waveform at a chosen temperature, or many temperatures / seeds as one batch.

Long text is split at sentence ends, each sentence synthesised, and the pieces joined with a short
pause: nothing is ever silently truncated. The acoustic model and the vocoder are timed separately
so the speed benchmark can report both.
"""
from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import torch

from tts_temp.errors import UserError
from tts_temp.sampling.temperature import check_temperature
from tts_temp.tts.hmm import SampleOptions
from tts_temp.tts.text import split_sentences
from tts_temp.tts.vocoder import Vocoder
from tts_temp.tts.voice import Voice

if TYPE_CHECKING:
    from tts_temp.tts.coqui.voice import CoquiVoice

    AnyVoice = Voice | CoquiVoice

SENTENCE_PAUSE = 0.25  # seconds of silence between sentences of a long text


@dataclass
class SynthesisOptions:
    """Everything but the per-item temperature and seed, which a batch gives one per output.
    None means the voice's own default (a Coqui voice takes them from its config.json)."""

    duration: str | None = None         # "threshold" (deterministic) or "sample"
    duration_threshold: float | None = None  # None: the voice's calibrated value
    speaking_rate: float = 1.0
    max_seconds: float = 20.0           # per sentence
    prenet_dropout: bool | None = None  # dropout in the prenet at T > 0, drawn from each item's generator
    griffin_lim_iters: int = 32

    def validate(self) -> None:
        if self.duration not in (None, "threshold", "sample"):
            raise UserError(f"duration must be 'threshold' or 'sample', got {self.duration!r}")
        if not (self.speaking_rate > 0 and math.isfinite(self.speaking_rate)):
            raise UserError(f"speaking rate must be > 0, got {self.speaking_rate}")
        if self.duration_threshold is not None and not 0 < self.duration_threshold < 1:
            raise UserError(f"duration threshold must be in (0, 1), got {self.duration_threshold}")
        if not self.max_seconds > 0:
            raise UserError(f"max seconds must be > 0, got {self.max_seconds}")


@dataclass
class Synthesis:
    """One batch: waveforms (one per temperature/seed pair), their mels and timings."""

    waveforms: list[np.ndarray]
    mels: list[torch.Tensor]           # de-normalised frames (channels, frames): log-mels, or WORLD frames
    sample_rate: int
    temperatures: list[float]
    seeds: list[int | None]
    acoustic_seconds: float = 0.0
    vocoder_seconds: float = 0.0
    hit_max_length: list[bool] = field(default_factory=list)


def _generator(seed: int | None) -> torch.Generator:
    g = torch.Generator()
    if seed is None:
        g.seed()
    else:
        g.manual_seed(int(seed))
    return g


def text_ids(voice: AnyVoice, text: str) -> list[torch.Tensor]:
    """Text -> one id tensor per sentence; refuses text with nothing to say."""
    if not text or not text.strip():
        raise UserError("text is empty")
    pieces = []
    for sentence in split_sentences(text):
        ids = voice.frontend.ids(sentence)
        if ids:
            pieces.append(torch.tensor(ids, dtype=torch.long))
    if not pieces:
        raise UserError(f"nothing pronounceable in {text[:40]!r}")
    return pieces


def pad_with_silence(frames: torch.Tensor, lengths: torch.Tensor, silence: torch.Tensor) -> torch.Tensor:
    """Frames past each item's length -> the silence frame.

    A batch is as long as its longest item; the sampler leaves the others' tails at the latent
    mean, which the flow and de-normalisation turn into the *mean frame* (a hum of average speech).
    The vocoder's windows reach a few frames past an item's end, so that tail would leak into the
    cut waveform: silence leaks nothing.
    """
    past = torch.arange(frames.shape[-1], device=frames.device)[None, :] >= lengths.to(frames.device)[:, None]
    return torch.where(past[:, None, :], silence.to(frames)[None, :, None], frames)


@dataclass
class AcousticBatch:
    """Per sentence: de-normalised mels (B, n_mels, T_max) and each item's frame count."""

    sentences: list[tuple[torch.Tensor, torch.Tensor]]
    max_frames: int
    seconds: float

    def item_mel(self, i: int) -> torch.Tensor:
        return torch.cat([mels[i, :, : int(n[i])] for mels, n in self.sentences], dim=1)


def acoustic_batch(voice: AnyVoice, text: str, temperatures: Sequence[float], seeds: Sequence[int | None],
                   options: SynthesisOptions | None = None) -> AcousticBatch:
    """Text -> mels, once per (temperature, seed) pair, all pairs of a sentence in one batch."""
    opts = options or SynthesisOptions()
    if len(temperatures) != len(seeds) or not temperatures:
        raise UserError("need one seed per temperature")
    for t in temperatures:
        check_temperature(t)
    opts.validate()
    pieces = text_ids(voice, text)
    sample_opts = SampleOptions(
        duration=opts.duration or voice.default_duration,
        duration_threshold=opts.duration_threshold or voice.duration_threshold,
        speaking_rate=opts.speaking_rate, max_frames=int(opts.max_seconds * voice.mel.frames_per_second),
        prenet_dropout=voice.prenet_dropout if opts.prenet_dropout is None else opts.prenet_dropout)
    gens = [_generator(s) for s in seeds]
    t0 = time.perf_counter()
    out = []
    for ids in pieces:
        mels, lengths = voice.model.sample(ids, sample_opts, list(temperatures), gens)
        out.append((voice.denormalise(mels), lengths))
    return AcousticBatch(out, sample_opts.max_frames, time.perf_counter() - t0)


def acoustic(voice: AnyVoice, text: str, temperature: float | None = None, seed: int | None = None,
             **options) -> torch.Tensor:
    """Text -> mel (n_mels, frames) in the voice's own de-normalised scale, no vocoder.

    temperature None is the voice's default (0.667 for tts_temp voices, the config's sampling_temp
    for a Coqui model). Sentences of a long text follow each other without pause frames.
    """
    t = voice.default_temperature if temperature is None else temperature
    return acoustic_batch(voice, text, [t], [seed], SynthesisOptions(**options)).item_mel(0)


def synthesize_batch(voice: AnyVoice, text: str, temperatures: Sequence[float], seeds: Sequence[int | None],
                     options: SynthesisOptions | None = None, vocoder: Vocoder | None = None) -> Synthesis:
    """Synthesise `text` once per (temperature, seed) pair, all pairs in one batch."""
    opts = options or SynthesisOptions()
    vocoder = vocoder or voice.make_vocoder(opts.griffin_lim_iters)
    if vocoder.sample_rate != voice.mel.sample_rate:
        raise UserError(f"the vocoder runs at {vocoder.sample_rate} Hz, the voice at {voice.mel.sample_rate} Hz")
    if getattr(vocoder, "hop_length", voice.mel.hop_length) != voice.mel.hop_length:
        raise UserError(f"the vocoder's hop is {vocoder.hop_length} samples, the voice's {voice.mel.hop_length}")
    ac = acoustic_batch(voice, text, temperatures, seeds, opts)
    bsz = len(temperatures)
    wav_parts: list[list[np.ndarray]] = [[] for _ in range(bsz)]
    hit_max = [False] * bsz
    t_vocoder = 0.0
    pause = np.zeros(int(SENTENCE_PAUSE * voice.mel.sample_rate), dtype=np.float32)
    hop = voice.mel.hop_length
    silence = voice.silence()
    for k, (mels, lengths) in enumerate(ac.sentences):
        t1 = time.perf_counter()
        padded = pad_with_silence(voice.to_log_mel(mels), lengths, silence)
        # a vocoder that takes the lengths renders each item from its own frames alone
        wavs = vocoder(padded, lengths) if getattr(vocoder, "takes_lengths", False) else vocoder(padded)
        t_vocoder += time.perf_counter() - t1
        for i in range(bsz):
            n = int(lengths[i])
            hit_max[i] |= n >= ac.max_frames
            if k:
                wav_parts[i].append(pause)
            wav_parts[i].append(wavs[i, : n * hop].numpy().astype(np.float32))
    return Synthesis(
        waveforms=[np.concatenate(p) for p in wav_parts],
        mels=[ac.item_mel(i) for i in range(bsz)],
        sample_rate=voice.mel.sample_rate, temperatures=list(map(float, temperatures)), seeds=list(seeds),
        acoustic_seconds=ac.seconds, vocoder_seconds=t_vocoder, hit_max_length=hit_max)


def synthesize(voice: AnyVoice, text: str, temperature: float | None = None, seed: int | None = None,
               vocoder: Vocoder | None = None, **options) -> tuple[np.ndarray, int]:
    """The simple API: one text, one temperature (None: the voice's default) -> (waveform float32, sample rate)."""
    t = voice.default_temperature if temperature is None else temperature
    out = synthesize_batch(voice, text, [t], [seed], SynthesisOptions(**options), vocoder)
    return out.waveforms[0], out.sample_rate
