"""Text -> waveform at a chosen temperature, or many temperatures / seeds at once.

Long text is split into pieces by its spoken length (after numbers and abbreviations are written
out), each piece synthesised, and the pieces joined with a short pause; a piece that still runs
into --max-seconds is split again, so text is cut only where a piece cannot be split any further
(and the result then says so). The acoustic model and the vocoder are timed separately so the
speed benchmark can report both.

Every (temperature, seed) item is computed on its own, from the text to the waveform: an item of a
batch is bit for bit the item synthesised alone. Batched matrix products round differently from
single-row ones (by ~1e-6, which WORLD amplifies), a batch's shorter items would see its padding
through the flow's convolutions, and an item's generator would keep drawing until the batch's
longest item ends; computing per item removes all three.
"""
from __future__ import annotations

import time
import warnings
from collections.abc import Sequence
from dataclasses import InitVar, dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import torch

from tts_temp.errors import UserError
from tts_temp.sampling.seeds import generator, resolve_seed
from tts_temp.sampling.temperature import check_temperature
from tts_temp.tts.hmm import SampleOptions
from tts_temp.tts.text import halve, split_spoken
from tts_temp.tts.vocoder import Vocoder
from tts_temp.tts.voice import Voice

if TYPE_CHECKING:
    from tts_temp.tts.coqui.voice import CoquiVoice

    AnyVoice = Voice | CoquiVoice

SENTENCE_PAUSE = 0.25  # seconds of silence between the pieces of a long text
# Pieces are planned at this many spoken characters per second of --max-seconds (festival's slt reads
# 13-19), so a typical piece ends well inside the limit; one that does not is split again.
PLAN_CHARS_PER_SECOND = 10.0
MIN_SPLIT_CHARS = 8    # a piece this short that still hits the limit is not split further (a voice that loops)
MIN_FRAMES = 2         # --max-seconds must allow at least this many frames (the flow's squeeze factor)
MAX_SECONDS_LIMIT = 600.0      # --max-seconds is per piece; beyond this a looping voice would run for hours
SPEAKING_RATES = (0.1, 10.0)   # outside this the duration rule stops leaving states, or leaves each at once


@dataclass
class SynthesisOptions:
    """Everything but the per-item temperature and seed, which a batch gives one per output.
    None means the voice's own default (a Coqui voice takes them from its config.json)."""

    duration: str | None = None         # "threshold" (deterministic) or "sample"
    duration_threshold: float | None = None  # None: the voice's calibrated value
    speaking_rate: float = 1.0
    max_seconds: float = 20.0           # per sentence
    prenet_dropout_at_inference: bool | None = None  # prenet dropout at T > 0, from each item's generator
    griffin_lim_iters: int = 32
    prenet_dropout: InitVar[bool | None] = None  # deprecated spelling of prenet_dropout_at_inference

    def __post_init__(self, prenet_dropout: bool | None) -> None:
        if prenet_dropout is not None:
            warnings.warn("SynthesisOptions(prenet_dropout=...) is deprecated: use prenet_dropout_at_inference",
                          DeprecationWarning, stacklevel=3)
            if self.prenet_dropout_at_inference is None:
                self.prenet_dropout_at_inference = prenet_dropout

    def validate(self) -> None:
        """Each bad value one UserError line (the Python API gets a ValueError, never a TypeError)."""
        if self.duration not in (None, "threshold", "sample"):
            raise UserError(f"duration must be 'threshold' or 'sample', got {self.duration!r}")
        if not (_is_number(self.speaking_rate) and SPEAKING_RATES[0] <= self.speaking_rate <= SPEAKING_RATES[1]):
            raise UserError(f"speaking rate must be a number from {SPEAKING_RATES[0]:g} to {SPEAKING_RATES[1]:g}, "
                            f"got {self.speaking_rate!r}")
        if self.duration_threshold is not None and not (_is_number(self.duration_threshold)
                                                        and 0 < self.duration_threshold < 1):
            raise UserError(f"duration threshold must be in (0, 1), got {self.duration_threshold!r}")
        if not (_is_number(self.max_seconds) and 0 < self.max_seconds <= MAX_SECONDS_LIMIT):
            raise UserError(f"max seconds must be a number > 0 and at most {MAX_SECONDS_LIMIT:g} (a piece's "
                            f"length; long text is split into pieces), got {self.max_seconds!r}")
        if self.prenet_dropout_at_inference not in (None, True, False):
            raise UserError("prenet_dropout_at_inference must be True, False or None, got "
                            f"{self.prenet_dropout_at_inference!r}")
        if not (isinstance(self.griffin_lim_iters, int) and not isinstance(self.griffin_lim_iters, bool)
                and self.griffin_lim_iters >= 1):
            raise UserError(f"griffin_lim_iters must be an integer >= 1, got {self.griffin_lim_iters!r}")

    def max_frames(self, frames_per_second: float) -> int:
        """--max-seconds in frames of a voice; refuses a limit shorter than MIN_FRAMES frames."""
        self.validate()
        n = self.max_seconds * frames_per_second
        if n < MIN_FRAMES:
            raise UserError(f"max seconds {self.max_seconds:g} is shorter than {MIN_FRAMES} frames of this voice "
                            f"({MIN_FRAMES / frames_per_second:.3f} s)")
        return int(n)


def _is_number(x: object) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


@dataclass
class Synthesis:
    """One batch: waveforms (one per temperature/seed pair), their frames and timings. `seeds` are the
    seeds used: the asked ones, or the ones drawn for items asked without one (replay with those)."""

    waveforms: list[np.ndarray]
    frames: list[torch.Tensor]         # de-normalised frames (channels, frames): log-mels, or WORLD frames
    sample_rate: int
    temperatures: list[float]
    seeds: list[int]
    acoustic_seconds: float = 0.0
    vocoder_seconds: float = 0.0
    hit_max_length: list[bool] = field(default_factory=list)

    @property
    def mels(self) -> list[torch.Tensor]:
        """Deprecated name of `frames` (a WORLD voice's frames are not mels)."""
        return self.frames


def spoken_pieces(voice: AnyVoice, text: str, options: SynthesisOptions | None = None) -> list[str]:
    """Text -> the spoken pieces that are synthesised one after another; refuses text with nothing to say."""
    opts = options or SynthesisOptions()
    if not isinstance(text, str):
        raise UserError(f"text must be a string, got {type(text).__name__}")
    if not text.strip():
        raise UserError("text is empty")
    max_chars = max(1, int(opts.max_seconds * PLAN_CHARS_PER_SECOND * opts.speaking_rate))
    split = split_spoken(voice.frontend.spoken(text), max_chars)
    pieces = [p for p, ids in zip(split, voice.frontend.pieces_ids(split)) if ids]   # the text's one warning
    if not pieces:
        raise UserError(f"nothing pronounceable in {text[:40]!r}")
    return pieces


def text_ids(voice: AnyVoice, text: str, options: SynthesisOptions | None = None) -> list[torch.Tensor]:
    """Text -> one id tensor per piece; refuses text with nothing to say."""
    return [torch.tensor(voice.frontend.spoken_ids(p, warn=False), dtype=torch.long)
            for p in spoken_pieces(voice, text, options)]


@dataclass
class AcousticItem:
    """One (temperature, seed) item: de-normalised frames (channels, n) per piece, and whether a piece
    ran into the length limit and could not be split further."""

    pieces: list[torch.Tensor]
    hit_max_length: bool
    seed: int

    @property
    def frames(self) -> torch.Tensor:
        return torch.cat(self.pieces, dim=1)


@dataclass
class AcousticBatch:
    items: list[AcousticItem]
    max_frames: int
    seconds: float
    temperatures: list[float] = field(default_factory=list)

    def item_frames(self, i: int) -> torch.Tensor:
        return self.items[i].frames


def _sample_options(voice: AnyVoice, opts: SynthesisOptions) -> SampleOptions:
    return SampleOptions(
        duration=opts.duration or voice.default_duration,
        duration_threshold=opts.duration_threshold or voice.duration_threshold,
        speaking_rate=opts.speaking_rate, max_frames=opts.max_frames(voice.timing.frames_per_second),
        prenet_dropout_at_inference=voice.prenet_dropout_at_inference if opts.prenet_dropout_at_inference is None
        else opts.prenet_dropout_at_inference)


def acoustic_item(voice: AnyVoice, pieces: Sequence[str], sample_opts: SampleOptions, temperature: float,
                  seed: int) -> AcousticItem:
    """One item, piece after piece (`spoken_pieces`' output, which warned about the text once), all
    noise from one generator seeded with `seed`. A piece that runs into max_frames is dropped and its
    two halves synthesised instead (the generator simply goes on), so the same (text, temperature,
    seed, options) always gives the same frames."""
    gen = generator(seed)
    queue, out, hit = list(pieces), [], False
    while queue:
        piece = queue.pop(0)
        ids = voice.frontend.spoken_ids(piece, warn=False)   # spoken_pieces warned about this text
        if not ids:
            continue
        frames, lengths, capped = voice.model.sample(torch.tensor(ids, dtype=torch.long), sample_opts,
                                                     [temperature], [gen])
        if bool(capped[0]) and len(piece) > MIN_SPLIT_CHARS and (halves := halve(piece)):
            queue[:0] = halves
            continue
        hit |= bool(capped[0])
        out.append(voice.denormalise(frames[:, :, : int(lengths[0])])[0])
    return AcousticItem(out, hit, seed)


def _check_items(temperatures: Sequence[float], seeds: Sequence[int | None]) -> tuple[list[float], list[int]]:
    if isinstance(temperatures, (str, bytes)) or isinstance(seeds, (str, bytes)):
        raise UserError("temperatures and seeds must be sequences")
    temperatures, seeds = list(temperatures), list(seeds)
    if len(temperatures) != len(seeds) or not temperatures:
        raise UserError("need one seed per temperature")
    return [check_temperature(t) for t in temperatures], [resolve_seed(s) for s in seeds]


def acoustic_batch(voice: AnyVoice, text: str, temperatures: Sequence[float], seeds: Sequence[int | None],
                   options: SynthesisOptions | None = None) -> AcousticBatch:
    """Text -> frames, once per (temperature, seed) pair; a seed of None is drawn (see each item's seed)."""
    opts = options or SynthesisOptions()
    temps, seeds = _check_items(temperatures, seeds)
    sample_opts = _sample_options(voice, opts)
    pieces = spoken_pieces(voice, text, opts)
    t0 = time.perf_counter()
    items = [acoustic_item(voice, pieces, sample_opts, t, s) for t, s in zip(temps, seeds)]
    return AcousticBatch(items, sample_opts.max_frames, time.perf_counter() - t0, temps)


def acoustic(voice: AnyVoice, text: str, temperature: float | None = None, seed: int | None = None,
             **options) -> torch.Tensor:
    """Text -> frames (channels, frames) in the voice's own de-normalised scale, no vocoder.

    temperature None is the voice's default (0.667 for tts_temp voices, the config's sampling_temp
    for a Coqui model). Pieces of a long text follow each other without pause frames.
    """
    t = voice.default_temperature if temperature is None else temperature
    return acoustic_batch(voice, text, [t], [seed], SynthesisOptions(**options)).item_frames(0)


def _feature_kind(voice: AnyVoice) -> str:
    return getattr(voice, "features", {"kind": "mel"}).get("kind", "mel")


def check_vocoder(voice: AnyVoice, vocoder: Vocoder) -> None:
    """Refuse, before anything is synthesised, a vocoder that cannot render this voice's frames:
    feature kind, channels, sample rate, hop and mel range must agree. One UserError line."""
    need = _feature_kind(voice)
    kind = getattr(vocoder, "feature_kind", need)
    if kind != need:
        raise UserError(f"the vocoder takes {kind} frames, the voice makes {need} frames "
                        f"({'a WORLD voice needs its own WORLD vocoder' if need == 'world' else 'pick a mel voice'})")
    timing = voice.timing
    if vocoder.sample_rate != timing.sample_rate:
        raise UserError(f"the vocoder runs at {vocoder.sample_rate} Hz, the voice at {timing.sample_rate} Hz")
    hop = getattr(vocoder, "hop_length", timing.hop_length)
    if hop != timing.hop_length:
        raise UserError(f"the vocoder's hop is {hop} samples, the voice's {timing.hop_length}")
    mel = getattr(vocoder, "mel_config", None)
    if need == "mel" and mel is not None:  # a mel voice: its timing holds its mel settings
        if mel.n_mels != timing.n_mels:
            raise UserError(f"the vocoder takes {mel.n_mels} mel channels, the voice makes {timing.n_mels}")
        if (float(mel.fmin), float(mel.fmax)) != (float(timing.fmin), float(timing.fmax)):
            raise UserError(f"the vocoder's mel range is {mel.fmin:g}-{mel.fmax:g} Hz, the voice's "
                            f"{timing.fmin:g}-{timing.fmax:g} Hz")


def synthesize_batch(voice: AnyVoice, text: str, temperatures: Sequence[float], seeds: Sequence[int | None],
                     options: SynthesisOptions | None = None, vocoder: Vocoder | None = None) -> Synthesis:
    """Synthesise `text` once per (temperature, seed) pair. Each item is computed on its own (see the
    module docstring), so row i is exactly synthesize(voice, text, temperatures[i], seeds[i]).
    A seed of None is drawn below 2**53 and returned in `seeds`."""
    opts = options or SynthesisOptions()
    opts.validate()
    vocoder = vocoder or voice.make_vocoder(opts.griffin_lim_iters)
    check_vocoder(voice, vocoder)
    ac = acoustic_batch(voice, text, temperatures, seeds, opts)
    pause = np.zeros(int(SENTENCE_PAUSE * voice.timing.sample_rate), dtype=np.float32)
    hop = voice.timing.hop_length
    waveforms, t_vocoder = [], 0.0
    for item in ac.items:
        parts: list[np.ndarray] = []
        for k, piece in enumerate(item.pieces):
            t1 = time.perf_counter()
            wav = vocoder(voice.to_vocoder_input(piece)[None])[0]
            t_vocoder += time.perf_counter() - t1
            if k:
                parts.append(pause)
            parts.append(wav[: piece.shape[1] * hop].numpy().astype(np.float32))
        wave = np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)
        if not (np.isfinite(wave).all() and all(bool(torch.isfinite(m).all()) for m in item.pieces)):
            raise UserError(f"temperature {ac.temperatures[len(waveforms)]:g} drove the voice out of range (frames "
                            "or samples not finite); use a lower temperature")
        waveforms.append(wave)
    return Synthesis(
        waveforms=waveforms, frames=[it.frames for it in ac.items], sample_rate=voice.timing.sample_rate,
        temperatures=[float(t) for t in temperatures], seeds=[it.seed for it in ac.items],
        acoustic_seconds=ac.seconds, vocoder_seconds=t_vocoder, hit_max_length=[it.hit_max_length for it in ac.items])


def synthesize(voice: AnyVoice, text: str, temperature: float | None = None, seed: int | None = None,
               vocoder: Vocoder | None = None, **options) -> tuple[np.ndarray, int]:
    """The simple API: one text, one temperature (None: the voice's default) -> (waveform float32, sample rate).
    Without a seed one is drawn; use synthesize_batch to learn it."""
    t = voice.default_temperature if temperature is None else temperature
    try:
        opts = SynthesisOptions(**options)
    except TypeError as exc:
        raise UserError(f"synthesize: {exc}") from None
    out = synthesize_batch(voice, text, [t], [seed], opts, vocoder)
    return out.waveforms[0], out.sample_rate
