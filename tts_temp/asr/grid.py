"""A file's whole (temperature, seed) grid: each window encoded once, the rows decoded together.

A sweep asks for one audio at many temperatures and seeds. Transcribed one item at a time, the
encoder runs once per item and window; here every row is still its own window loop (transcribe's
`_Transcription`: the same prompt rules, cuts, skips and records), but the loops advance in
lockstep and hand their decodes to one driver, which
- encodes each window once for every row that reaches it (rows whose seeks diverge on long audio
  are regrouped by window: a window is shared by whichever rows arrive at it);
- decodes, per (window, prompt), the rows' ladders step by step: a deterministic attempt (T = 0,
  greedy or beam) once for every row that asks for it, and the sampled attempts of all rows as one
  batch, each row with its own temperature and its own generator, seeded by transcribe's own rule
  (`attempt_sampling`), so a row that fails at T moves on to its next temperature while others stop.

A row is what `transcribe(model, audio, temperature=T, seed=S, **options)` gives alone. Deterministic
attempts run exactly the single-item code, so they are identical. Sampled attempts draw exactly the
same numbers from the same generators; the logits they draw from come from a batched forward pass
(`exact=False`), whose float32 sums can round differently from a one-row pass, or from one pass per
row (`exact=True`, the default: the same shapes as the single item, so the same logits). The row
threads keep books one at a time (word alignment included); every encoder pass and every decode
runs in the calling thread.
"""
from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from whisper.audio import N_FRAMES, pad_or_trim
from whisper.decoding import DecodingTask, Inference, TokenDecoder
from whisper.model import Whisper

from tts_temp.asr.decoder_plan import DecoderPlan
from tts_temp.asr.fallback import Attempt, Step, climb_schedules, schedule
from tts_temp.asr.filters import fast_equivalents
from tts_temp.asr.inference import CachedInference, EncodedWindow
from tts_temp.asr.options import DecodeOptions, TranscribeOptions, given_options, make_options
from tts_temp.asr.sampler import SamplingOptions, SeededSampler
from tts_temp.asr.transcribe import (
    Transcript, _Transcription, _Window, _WindowTask, attempt_options, attempt_sampling, prepare_audio,
    recorded_attempt,
)


@dataclass(frozen=True)
class GridRow:
    """One row of the grid: a temperature (None: the fallback schedule; a tuple: that schedule) and a seed."""

    temperature: float | tuple[float, ...] | None
    seed: int


@dataclass
class RowStats:
    """How a row's attempts were computed, for the record."""

    attempts: int = 0
    shared: int = 0          # deterministic attempts decoded once for several rows
    batched: int = 0         # sampled attempts decoded in one batch with other rows
    largest_batch: int = 0   # the most rows in one sampled batch this row was part of
    sampled: int = 0         # sampled attempts, batched or alone
    seeks: list[int] = field(default_factory=list)  # the mel frame of each window the row decoded
    shared_with: set[int] = field(default_factory=set)  # rows whose deterministic decodes this row shared

    @property
    def deterministic(self) -> bool:
        """Every attempt of the row was a T = 0 decode (so every seed gives the same row)."""
        return self.attempts > 0 and self.sampled == 0

    def to_dict(self) -> dict:
        return {"attempts": self.attempts, "deterministic": self.deterministic,
                "shared_attempts": self.shared, "sampled_attempts": self.sampled,
                "batched_attempts": self.batched, "largest_batch": self.largest_batch, "seeks": list(self.seeks),
                "shared_with_rows": sorted(self.shared_with)}


@dataclass
class GridResult:
    """A Transcript (or the error that stopped it) per row, in the rows' order, and how it was computed."""

    rows: list[GridRow]
    transcripts: list[Transcript | BaseException]
    stats: list[RowStats]
    encoder_passes: int      # windows encoded for the whole grid (language detection included)
    exact: bool


def transcribe_grid(model: Whisper, audio: str | os.PathLike | np.ndarray | torch.Tensor,
                    rows: Sequence[GridRow], options: TranscribeOptions | None = None, *, exact: bool = True,
                    **keywords) -> GridResult:
    """Transcribe `audio` once per row, as `transcribe(model, audio, options with the row's
    temperature and seed)` would, sharing encoder passes and batching decodes across rows. The
    options are a TranscribeOptions or transcribe's keywords; a row's temperature None keeps
    their schedule (whisper's, by default).

    Options are checked for every row before any audio is read (ValueError/TypeError/UserError as
    transcribe's). A row that fails while decoding has its exception in `transcripts`; the others go on.
    """
    if not rows:
        raise ValueError("the grid has no rows")
    for key in ("temperature", "seed"):
        if key in keywords:
            raise TypeError(f"{key} is given per row (GridRow), not as an option")
    options = given_options(options, keywords)
    per_row = [make_options(model, row_options(options, r)) for r in rows]
    waveform, time_map, first = prepare_audio(model, audio, per_row[0])
    # the audio's preparation only reads options common to every row: apply what it changed to all
    per_row = [first] + [_like(o, first) for o in per_row[1:]]
    return _Grid(model, waveform, time_map, list(rows), per_row, exact).run()


def row_options(options: TranscribeOptions, row: GridRow) -> TranscribeOptions:
    """The options of one row: its seed, and its temperature (None: the options' schedule)."""
    policy = options.policy
    if row.temperature is not None:
        policy = replace(policy, temperatures=schedule(row.temperature))
    return replace(options, policy=policy, sampling=replace(options.sampling, seed=row.seed))


def _like(options: TranscribeOptions, prepared: TranscribeOptions) -> TranscribeOptions:
    return replace(options, audio=prepared.audio)


# --------------------------------------------------------------------------- the row loops
class _PendingWindow:
    """What a row's `_encode` returns: the mel of a window the driver encodes (once) when the row
    asks for its decode; attribute reads go to the encoded window after that."""

    def __init__(self, key: tuple[int, int], mel: Tensor):
        self.key, self.mel = key, mel
        self.encoded: EncodedWindow | None = None

    def __getattr__(self, name: str) -> Any:
        encoded = self.__dict__.get("encoded")
        if encoded is None:
            raise AttributeError(name)
        return getattr(encoded, name)


@dataclass
class _Request:
    row: int
    window: _PendingWindow
    seek: int
    decode: DecodeOptions
    options: TranscribeOptions
    frames: int          # the window's size in mel frames, recorded on each attempt
    plan: DecoderPlan    # the row's resolved decoder (one per model and dtype)


class _GridRowTranscription(_Transcription):
    """One row's window loop; its encodes and decodes are handed to the grid's driver."""

    def __init__(self, grid: "_Grid", row: int, model: Whisper, waveform: np.ndarray,
                 options: TranscribeOptions, time_map):
        self.grid, self.row = grid, row
        super().__init__(model, waveform, options, time_map)

    def _detect_language(self):
        """Once for the grid (the same first 30 s give the same answer); every row records it."""
        shared = self.grid.language
        if shared is None:
            result = super()._detect_language()  # (language, probability, ...): the shape is transcribe's
            self.grid.language = (result, self.first, self.decode.language)
            if result[1] is not None:  # a probability: the first 30 s were encoded to detect it
                self.grid.encoder_passes += 1
            return result
        result, first, language = shared
        self.first = first
        self.decode = replace(self.decode, language=language)
        return result

    def _encode(self, seek: int, size: int):
        mel = pad_or_trim(self.mel[:, seek:seek + size], N_FRAMES).to(self.model.device).to(self.dtype)
        return _PendingWindow((seek, size), mel), mel

    def _decode_window(self, window, w: _Window) -> tuple[Attempt, list[Attempt]]:
        return self.grid.request(_Request(self.row, window, w.seek, self.decode, self.options, w.size, self.plan))


class _Grid:
    def __init__(self, model: Whisper, waveform: np.ndarray, time_map, rows: list[GridRow],
                 options: list[TranscribeOptions], exact: bool):
        self.model, self.rows, self.exact = model, rows, exact
        self.language: tuple | None = None
        self.encoder_passes = 0
        self.stats = [RowStats() for _ in rows]
        self.windows: dict[tuple[int, int], EncodedWindow] = {}
        self.cond = threading.Condition()
        # one row thread runs at a time: word alignment hooks the model's own modules, and the
        # rows' bookkeeping is light Python that gains nothing from running side by side
        self.turn = threading.Lock()
        self.pending: dict[int, _Request] = {}
        self.answers: dict[int, Any] = {}
        self.live = len(rows)
        with torch.inference_mode():
            self.loops = [_GridRowTranscription(self, i, model, waveform, o, time_map) for i, o in enumerate(options)]
        first = self.language[1] if self.language else None
        if first is not None:
            self.windows[first[:2]] = first[2]

    # ---- the row side (row threads)
    def request(self, req: _Request) -> tuple[Attempt, list[Attempt]]:
        self.turn.release()  # while this row waits, another may keep its books
        try:
            with self.cond:
                self.pending[req.row] = req
                self.cond.notify_all()
                self.cond.wait_for(lambda: req.row in self.answers)
                answer = self.answers.pop(req.row)
        finally:
            self.turn.acquire()
        if isinstance(answer, BaseException):
            raise answer
        return answer

    def _row_thread(self, i: int, out: list, threads: int) -> None:
        # OpenMP's thread count is per thread: a new thread starts at the default, not the caller's,
        # so a row's own work (word alignment) and its record follow the caller's count
        torch.set_num_threads(threads)
        self.turn.acquire()
        try:
            with torch.inference_mode():
                out[i] = self.loops[i].run()
        except BaseException as exc:  # one row's failure is that row's result
            out[i] = exc
        finally:
            self.turn.release()
            with self.cond:
                self.live -= 1
                self.cond.notify_all()

    # ---- the driver (the calling thread)
    def run(self) -> GridResult:
        out: list[Any] = [None] * len(self.rows)
        threads = [threading.Thread(target=self._row_thread, args=(i, out, torch.get_num_threads()), daemon=True,
                                    name=f"grid-row-{i}") for i in range(len(self.rows))]
        for t in threads:
            t.start()
        with torch.inference_mode():
            while True:
                with self.cond:
                    self.cond.wait_for(lambda: len(self.pending) == self.live)
                    if self.live == 0:
                        break
                    batch, self.pending = self.pending, {}
                answers = self._decode_round(list(batch.values()))
                with self.cond:
                    self.answers.update(answers)
                    self.cond.notify_all()
        for t in threads:
            t.join()
        return GridResult(self.rows, out, self.stats, self.encoder_passes, self.exact)

    def _window(self, pending: _PendingWindow) -> EncodedWindow:
        if pending.key not in self.windows:
            self.windows[pending.key] = EncodedWindow.encode(self.model, pending.mel)
            self.encoder_passes += 1
        pending.encoded = self.windows[pending.key]
        return pending.encoded

    def _decode_round(self, requests: list[_Request]) -> dict[int, Any]:
        """Every row waiting for a decode: grouped by (window, prompt and options), each group's
        ladders climbed together. Windows behind every waiting row are dropped."""
        groups: dict[tuple, list[_Request]] = {}
        for r in requests:
            groups.setdefault((r.window.key, repr(r.decode)), []).append(r)
        answers: dict[int, Any] = {}
        for group in groups.values():
            try:
                window = self._window(group[0].window)
                for r in group[1:]:
                    r.window.encoded = window
                answers.update(self._climb(window, group))
            except Exception as exc:  # this group's rows fail; the others go on
                answers.update({r.row: exc for r in group})
        low = min(r.window.key[0] for r in requests)
        for key in [k for k in self.windows if k[0] < low]:
            del self.windows[key]
        return answers

    def _climb(self, window: EncodedWindow, group: list[_Request]) -> dict[int, tuple[Attempt, list[Attempt]]]:
        """Each row's fallback on one window, on the one ladder in lockstep: at step k every row still
        climbing tries its k-th temperature; a row stops at its first accepted attempt, as
        `decode_window` does alone."""
        decode = group[0].decode
        for r in group:
            self.stats[r.row].seeks.append(r.seek)

        def run(todo: list[tuple[int, Step]]) -> list[Attempt]:
            steps = [(group[i], k, t) for i, (k, t) in todo]
            samplers = [attempt_sampling(r.options.sampling, t, r.seek, k) for r, k, t in steps]
            results: list[Any] = [None] * len(steps)
            deterministic = [j for j, (_, _, t) in enumerate(steps) if t == 0]
            if deterministic:
                first = deterministic[0]
                result = _WindowTask(self.model, attempt_options(decode, 0.0), window,
                                     samplers[first], steps[first][0].plan).run(window.features)[0]
                for j in deterministic:
                    results[j] = result
                    if len(deterministic) > 1:
                        s = self.stats[steps[j][0].row]
                        s.shared += 1
                        s.shared_with.update(steps[d][0].row for d in deterministic if d != j)
            sampled = [j for j, (_, _, t) in enumerate(steps) if t > 0]
            if sampled:
                task = _GridTask(self.model, attempt_options(decode, steps[sampled[0]][2]), window,
                                 [samplers[j] for j in sampled], self.exact, steps[sampled[0]][0].plan)
                for j, result in zip(sampled, task.run_rows(window.features)):
                    results[j] = result
                    s = self.stats[steps[j][0].row]
                    s.sampled += 1
                    s.largest_batch = max(s.largest_batch, len(sampled))
                    if len(sampled) > 1:
                        s.batched += 1
            for r, _, _ in steps:
                self.stats[r.row].attempts += 1
            return [recorded_attempt(results[j], t, samplers[j].seed, r.seek, r.frames)
                    for j, (r, _, t) in enumerate(steps)]

        climbs = climb_schedules([r.options.policy for r in group], run)
        return {r.row: kept for r, kept in zip(group, climbs)}


# --------------------------------------------------------------------------- the sampled batch
class _GridTask(DecodingTask):
    """whisper's DecodingTask over several rows of one window: row a's `n_group` samples (best-of)
    draw from row a's own generator at row a's temperature, exactly as that row's task alone would."""

    def __init__(self, model: Whisper, options, window: EncodedWindow, samplings: list[SamplingOptions],
                 exact: bool, plan: DecoderPlan | None = None):
        super().__init__(model, options)
        self.n_rows = len(samplings)
        eot = self.tokenizer.eot
        if exact:  # one decoder pass per row: the very shapes (so the very sums) of the row alone
            self.inference = _PerRowInference(
                [CachedInference(model, window, len(self.initial_tokens), self.sot_index, plan) for _ in samplings],
                self.n_group, eot)
        else:
            self.inference = CachedInference(model, window, len(self.initial_tokens), self.sot_index, plan)
        self.logit_filters = fast_equivalents(self.logit_filters)
        self.decoder = _RowsSampler([SeededSampler(s, eot) for s in samplings], self.n_group, eot)

    def run_rows(self, features: Tensor):
        """One DecodingResult per row (`features`: the window's, batch 1)."""
        return self.run(features.expand(self.n_rows, *features.shape[1:]))

    def _get_audio_features(self, mel: Tensor) -> Tensor:
        # whisper keeps one feature row per audio but slices them by the group size after decoding
        # (only right for one audio): give it one row per sample; the rows are one window's anyway
        features = super()._get_audio_features(mel)
        return features[:1].expand(self.n_rows * self.n_group, *features.shape[1:])

    def _detect_language(self, audio_features: Tensor, tokens: Tensor):
        return super()._detect_language(audio_features[:self.n_rows], tokens)  # one language per row


class _RowsSampler(TokenDecoder):
    """Each row's samples through that row's SeededSampler; a finished row draws nothing more
    (alone, its loop would have stopped), so its generator is in step with the single item."""

    def __init__(self, samplers: list[SeededSampler], n_group: int, eot: int):
        self.samplers, self.n_group, self.eot = samplers, n_group, eot

    def update(self, tokens: Tensor, logits: Tensor, sum_logprobs: Tensor) -> tuple[Tensor, bool]:
        g, parts, done = self.n_group, [], True
        for a, sampler in enumerate(self.samplers):
            rows = slice(a * g, (a + 1) * g)
            if bool((tokens[rows, -1] == self.eot).all()):
                parts.append(F.pad(tokens[rows], (0, 1), value=self.eot))
                continue
            part, finished = sampler.update(tokens[rows], logits[rows], sum_logprobs[rows])
            parts.append(part)
            done = done and finished
        return torch.cat(parts), done

    def finalize(self, tokens: Tensor, sum_logprobs: Tensor):
        return F.pad(tokens, (0, 1), value=self.eot), sum_logprobs.tolist()


class _PerRowInference(Inference):
    """One cached decoder per row, each run on that row's samples only; a finished row is not run."""

    def __init__(self, parts: list[CachedInference], n_group: int, eot: int):
        self.parts, self.n_group, self.eot = parts, n_group, eot
        self.started = False

    def logits(self, tokens: Tensor, audio_features: Tensor) -> Tensor:
        g, out = self.n_group, []
        for a, part in enumerate(self.parts):
            rows = tokens[a * g:(a + 1) * g]
            if self.started and bool((rows[:, -1] == self.eot).all()):
                out.append(torch.zeros((g, 1, part.model.dims.n_vocab), dtype=torch.float32, device=tokens.device))
            else:
                out.append(part.logits(rows, audio_features[a * g:(a + 1) * g]))
        self.started = True
        return torch.cat(out)

    def rearrange_kv_cache(self, source_indices) -> None:  # sampling never reorders rows
        raise NotImplementedError("beam search runs at T = 0, outside the sampled batch")

    def cleanup_caching(self) -> None:
        for part in self.parts:
            part.cleanup_caching()
