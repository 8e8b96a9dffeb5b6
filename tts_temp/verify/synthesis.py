"""Verified synthesis on the one ladder: each (temperature, seed) asked climbs `sampling.ladder`,
every step of every item synthesised as one batch, each output heard and judged (`verify.policy`).

The first step is the asked (T, seed) alone, so a good first draw costs one synthesis and one
transcription, and what it keeps is exactly the plain synthesis of that (T, seed).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from tts_temp.errors import UserError
from tts_temp.sampling.ladder import climb_many
from tts_temp.sampling.seeds import SEED_LIMIT, check_seed, resolve_seed
from tts_temp.sampling.temperature import check_temperature
from tts_temp.verify.policy import (
    Schedule, SynthesisAttempt, Verification, VerifyPolicy, choose_when_none_passed, judge, plausible_seconds,
)
from tts_temp.verify.recogniser import Recogniser, load_recogniser


@dataclass
class VerifiedSynthesis:
    """What `synthesize_batch` gives: the kept waveform per asked (temperature, seed), and the records."""

    waveforms: list[np.ndarray]
    sample_rate: int
    temperatures: list[float]          # as asked
    seeds: list[int | None]            # as asked
    hit_max_length: list[bool]
    records: list[Verification | None] = field(default_factory=list)   # None without verify
    batches: int = 1                   # synthesis batches run (one per step)
    used_seeds: list[int] = field(default_factory=list)   # the asked seeds, or the ones drawn for None


@dataclass
class Speech:
    """One output of `synthesize`; unpacks as (waveform, sample_rate) like tts.synthesize's tuple."""

    waveform: np.ndarray
    sample_rate: int
    record: Verification | None = None

    def __iter__(self):
        return iter((self.waveform, self.sample_rate))


@dataclass
class _Drawn:
    """What running one candidate gave: the audio, before it is heard."""

    waveform: np.ndarray
    sample_rate: int
    hit_max_length: bool


def synthesize_batch(voice, text: str, temperatures: Sequence[float], seeds: Sequence[int | None],
                     options=None, *, verify: bool = False, policy: VerifyPolicy | None = None,
                     recogniser: Recogniser | None = None, vocoder=None) -> VerifiedSynthesis:
    """tts.synthesize_batch, and with `verify` each (temperature, seed) pair checked by ASR and
    drawn again along the policy's schedule until it passes."""
    from tts_temp.tts import SynthesisOptions
    from tts_temp.tts import synthesize_batch as tts_batch
    from tts_temp.tts.text import normalise

    opts = options or SynthesisOptions()
    if not verify:
        out = tts_batch(voice, text, temperatures, seeds, opts, vocoder)
        return VerifiedSynthesis(out.waveforms, out.sample_rate, out.temperatures, list(seeds),
                                 out.hit_max_length, [None] * len(out.waveforms), used_seeds=list(out.seeds))
    policy = policy or VerifyPolicy()
    if len(temperatures) != len(seeds) or not temperatures:
        raise UserError("need one seed per temperature")
    recogniser = recogniser or load_recogniser()
    # At T = 0 every seed is the same draw (the mean, threshold durations; prenet dropout is never
    # applied at T = 0), so a retry there would only repeat the same output.
    deterministic_at_zero = (opts.duration or voice.default_duration) == "threshold"
    bases = [resolve_seed(s) for s in seeds]
    plans = [_plan(policy.steps(check_temperature(t)), b, deterministic_at_zero)
             for t, b in zip(temperatures, bases)]
    spoken = normalise(text)
    expected = plausible_seconds(spoken, policy, opts.speaking_rate)
    drawn: list[list[_Drawn]] = [[] for _ in plans]     # item i's audio, one per recorded attempt
    batches = 0

    def run(todo: list[tuple[int, tuple[float, int]]]) -> list[_Drawn]:
        nonlocal batches
        out = tts_batch(voice, text, [t for _, (t, _) in todo], [s for _, (_, s) in todo], opts, vocoder)
        batches += 1
        return [_Drawn(w, out.sample_rate, bool(h)) for w, h in zip(out.waveforms, out.hit_max_length)]

    def hear(i: int, candidate: tuple[float, int], d: _Drawn) -> SynthesisAttempt:
        seconds = len(d.waveform) / d.sample_rate
        heard = recogniser(d.waveform, d.sample_rate)
        ok, reason, c = judge(text, spoken, heard, seconds, expected, d.hit_max_length, policy)
        drawn[i].append(d)
        return SynthesisAttempt(*candidate, heard, c, seconds, ok, reason)

    climbs = climb_many(plans, run, hear, choose_when_none_passed)
    kept = [drawn[i][c.kept] for i, c in enumerate(climbs)]
    records: list[Verification | None] = [Verification(c.attempts, c.kept, text=text) for c in climbs]
    return VerifiedSynthesis([d.waveform for d in kept], kept[0].sample_rate, [float(t) for t in temperatures],
                             list(seeds), [d.hit_max_length for d in kept], records, batches, bases)


def _plan(steps: Schedule, seed: int, deterministic_at_zero: bool) -> list[list[tuple[float, int]]]:
    """Steps of concrete (temperature, seed) pairs; repeats dropped (at T=0 with threshold
    durations every seed gives the same output, so only the first is tried)."""
    seen, plan = set(), []
    for step in steps:
        pairs = []
        for c in step:
            s = seed_for(seed, c.seed_offset)
            key = (c.temperature, None if c.temperature == 0 and deterministic_at_zero else s)
            if key not in seen:
                seen.add(key)
                pairs.append((c.temperature, s))
        if pairs:
            plan.append(pairs)
    return plan


def seed_for(base: int, offset: int) -> int:
    """The seed of candidate `T@offset`: the asked seed plus the offset (what `--verify-schedule`
    promises the user), kept in [0, 2**53) so it is a seed plain synthesis accepts (and replays) too."""
    return (check_seed(base) + int(offset)) % SEED_LIMIT


def synthesize(voice, text: str, temperature: float | None = None, seed: int | None = None, *, verify: bool = False,
               policy: VerifyPolicy | None = None, recogniser: Recogniser | None = None, vocoder=None,
               **options) -> Speech:
    """One text, one temperature (None: the voice's default) -> Speech(waveform, sample_rate, record);
    `wav, sr = synthesize(...)` works as with tts.synthesize. With verify=True the record lists every attempt."""
    from tts_temp.tts import SynthesisOptions

    t = voice.default_temperature if temperature is None else temperature
    out = synthesize_batch(voice, text, [t], [seed], SynthesisOptions(**options), verify=verify, policy=policy,
                           recogniser=recogniser, vocoder=vocoder)
    return Speech(out.waveforms[0], out.sample_rate, out.records[0])
