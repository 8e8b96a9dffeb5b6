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

import numpy as np
import torch

from tts_temp.errors import UserError
from tts_temp.temperature import check_temperature
from tts_temp.tts.hmm import SampleOptions
from tts_temp.tts.text import split_sentences
from tts_temp.tts.vocoder import Vocoder
from tts_temp.tts.voice import Voice

SENTENCE_PAUSE = 0.25  # seconds of silence between sentences of a long text


def user_temperature(t: float) -> float:
    """The shared temperature check, as the user-facing error the CLI reports in one line."""
    try:
        return check_temperature(t)
    except (TypeError, ValueError) as exc:
        raise UserError(str(exc)) from None


@dataclass
class SynthesisOptions:
    temperature: float = 0.667
    duration: str = "threshold"        # "threshold" (deterministic) or "sample"
    duration_threshold: float | None = None  # None: the voice's calibrated value
    speaking_rate: float = 1.0
    max_seconds: float = 20.0           # per sentence
    seed: int | None = None
    prenet_dropout: bool = False
    griffin_lim_iters: int = 32

    def validate(self) -> None:
        user_temperature(self.temperature)
        if self.duration not in ("threshold", "sample"):
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


def text_ids(voice: Voice, text: str) -> list[torch.Tensor]:
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


def synthesize_batch(voice: Voice, text: str, temperatures: Sequence[float], seeds: Sequence[int | None],
                     options: SynthesisOptions | None = None, vocoder: Vocoder | None = None) -> Synthesis:
    """Synthesise `text` once per (temperature, seed) pair, all pairs in one batch."""
    opts = options or SynthesisOptions()
    if len(temperatures) != len(seeds) or not temperatures:
        raise UserError("need one seed per temperature")
    for t in temperatures:
        user_temperature(t)
    opts.validate()
    pieces = text_ids(voice, text)
    vocoder = vocoder or voice.make_vocoder(opts.griffin_lim_iters)
    sample_opts = SampleOptions(
        temperature=opts.temperature, duration=opts.duration,
        duration_threshold=opts.duration_threshold or voice.duration_threshold,
        speaking_rate=opts.speaking_rate, max_frames=int(opts.max_seconds * voice.mel.frames_per_second),
        prenet_dropout=opts.prenet_dropout)
    gens = [_generator(s) for s in seeds]
    bsz = len(temperatures)
    wav_parts: list[list[np.ndarray]] = [[] for _ in range(bsz)]
    mel_parts: list[list[torch.Tensor]] = [[] for _ in range(bsz)]
    hit_max = [False] * bsz
    t_acoustic = t_vocoder = 0.0
    pause = np.zeros(int(SENTENCE_PAUSE * voice.mel.sample_rate), dtype=np.float32)
    for k, ids in enumerate(pieces):
        t0 = time.perf_counter()
        mels, lengths = voice.model.sample(ids, sample_opts, list(temperatures), gens)
        mels = pad_with_silence(voice.denormalise(mels), lengths, voice.silence())
        t1 = time.perf_counter()
        wavs = vocoder(mels)
        t2 = time.perf_counter()
        t_acoustic += t1 - t0
        t_vocoder += t2 - t1
        hop = voice.mel.hop_length
        for i in range(bsz):
            n = int(lengths[i])
            hit_max[i] |= n >= sample_opts.max_frames
            mel_parts[i].append(mels[i, :, :n])
            if k:
                wav_parts[i].append(pause)
            wav_parts[i].append(wavs[i, : n * hop].numpy().astype(np.float32))
    return Synthesis(
        waveforms=[np.concatenate(p) for p in wav_parts],
        mels=[torch.cat(p, dim=1) for p in mel_parts],
        sample_rate=voice.mel.sample_rate, temperatures=list(map(float, temperatures)), seeds=list(seeds),
        acoustic_seconds=t_acoustic, vocoder_seconds=t_vocoder, hit_max_length=hit_max)


def synthesize(voice: Voice, text: str, temperature: float = 0.667, seed: int | None = None,
               **options) -> tuple[np.ndarray, int]:
    """The simple API: one text, one temperature -> (waveform float32, sample rate)."""
    opts = SynthesisOptions(temperature=temperature, seed=seed, **options)
    out = synthesize_batch(voice, text, [temperature], [seed], opts)
    return out.waveforms[0], out.sample_rate
