"""Synthesis that checks itself: TTS output transcribed back by Whisper, drawn again when it misses.

Whisper's remedy for a bad sample is to decode again at another temperature. The same idea fits
synthesis: each output is transcribed with the bundled tiny.en at T=0 (through `tts_temp.asr`),
scored by CER against the text (`tts_temp.score`, Whisper's normaliser, as compare does), and its
length checked against the text; when either misses, the next attempt of a schedule of
(temperature, seed) pairs is synthesised. The first attempt that passes is kept, or, when none
does, the one with the lowest CER (the record says which).

The attempts come in steps; the candidates of one step are synthesised as one batch (together with
the same step of every other item of a `synthesize_batch` call), then transcribed in order until
one passes. The first step is the asked (T, seed) alone, so a good first draw costs one synthesis
and one transcription. The default retries mirror Whisper's rising schedule: T with the next two
seeds, then the lower temperatures of Whisper's grid (0.8, 0.6, ... strictly below T) down to 0.

This module sits one floor above `asr` and `tts`, which never import each other.
"""
from __future__ import annotations

import math
import re
import threading
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from tts_temp import score
from tts_temp.errors import UserError
from tts_temp.sampling.seeds import SEED_LIMIT, check_seed, resolve_seed
from tts_temp.sampling.temperature import check_temperature

DEFAULT_MAX_CER = 0.1
EXTRA_SEEDS = 2            # the asked temperature is retried with this many further seeds
LOWER_STEP = 0.2           # then temperatures fall along Whisper's grid (its 0, 0.2, ..., 1.0) down to 0
# A plausible length for the text: spoken characters (after the TTS normaliser) per second of audio.
# Measured: festival's slt reads the benchmark's twelve normalisation sentences at 12.9-18.7 (mean
# 15.5, untrimmed wavs), and the shipped voice's T=0 speech is 0.98 of festival's length on Harvard
# 701-720. Far outside that (below 5 or above 35, with 1 s of slack for pauses) the output babbled
# or skipped.
CHARS_PER_SECOND = (5.0, 35.0)
DURATION_SLACK = 1.0       # seconds

Recogniser = Callable[[np.ndarray, int], str]   # (waveform, sample rate) -> transcript


@dataclass(frozen=True)
class Candidate:
    """One draw to try: a temperature and the asked seed plus an offset."""

    temperature: float
    seed_offset: int = 0

    def __str__(self) -> str:
        return f"{self.temperature:g}" + (f"@{self.seed_offset}" if self.seed_offset else "")


Schedule = tuple[tuple[Candidate, ...], ...]    # steps; each step is one batch


def default_retries(temperature: float) -> Schedule:
    """After (T, seed) misses: (T, seed+1), (T, seed+2); then the grid temperatures below T, to 0."""
    t = check_temperature(temperature)
    lower, k = [], math.ceil(round(t / LOWER_STEP, 9)) - 1
    while k >= 0:
        lower.append(Candidate(round(k * LOWER_STEP, 10)))
        k -= 1
    steps = [tuple(Candidate(t, i) for i in range(1, EXTRA_SEEDS + 1)), tuple(lower)]
    return tuple(s for s in steps if s)


def parse_schedule(steps: Sequence[str]) -> Schedule:
    """The retries after a miss, CLI form: one string per step, candidates separated by commas, each `T` or `T@k`
    (seed + k). Example: ["0.667", "0.667@1,0.667@2", "0.4,0"]."""
    out = []
    for step in steps:
        cands = []
        for item in filter(None, (c.strip() for c in step.split(","))):
            m = re.fullmatch(r"([^@]+)(?:@(\d+))?", item)
            try:
                if not m:
                    raise ValueError
                t = float(m.group(1))
            except ValueError:
                raise UserError(f"--verify-schedule: {item!r} is not T or T@SEED_OFFSET") from None
            try:
                check_temperature(t)
            except (TypeError, ValueError) as exc:
                raise UserError(f"--verify-schedule: {exc}") from None
            cands.append(Candidate(t, int(m.group(2) or 0)))
        if cands:
            out.append(tuple(cands))
    if not out:
        raise UserError("--verify-schedule is empty")
    return tuple(out)


@dataclass(frozen=True)
class VerifyPolicy:
    """When an output counts as heard right, and what to try next when it does not."""

    max_cer: float = DEFAULT_MAX_CER
    retries: Schedule | None = None            # None: default_retries(the asked temperature)
    chars_per_second: tuple[float, float] = CHARS_PER_SECOND

    def __post_init__(self) -> None:
        if not (isinstance(self.max_cer, (int, float)) and 0 < self.max_cer <= 1):
            raise UserError(f"--verify-cer must be in (0, 1], got {self.max_cer}")
        for step in self.retries or ():
            for c in step:
                try:
                    check_temperature(c.temperature)
                except (TypeError, ValueError) as exc:
                    raise UserError(f"verify schedule: {exc}") from None
                if c.seed_offset < 0:
                    raise UserError(f"verify schedule: seed offset must be >= 0, got {c.seed_offset}")

    def steps(self, temperature: float) -> Schedule:
        """The asked temperature with the asked seed first, alone; then the retries."""
        retries = self.retries if self.retries is not None else default_retries(temperature)
        return ((Candidate(check_temperature(temperature)),),) + tuple(retries)


@dataclass
class Attempt:
    temperature: float
    seed: int
    transcript: str
    cer: float
    seconds: float          # length of the synthesised audio
    accepted: bool
    reason: str

    def to_dict(self) -> dict:
        return {"temperature": self.temperature, "seed": self.seed, "transcript": self.transcript,
                "cer": round(self.cer, 6), "seconds": round(self.seconds, 3), "accepted": self.accepted,
                "reason": self.reason}


@dataclass
class Verification:
    """The record of one verified output: every attempt in the order tried, and which was kept."""

    text: str
    attempts: list[Attempt]
    kept: int               # index into attempts
    outcome: str            # "passed" or "best by cer (none passed)"

    @property
    def passed(self) -> bool:
        return self.attempts[self.kept].accepted

    @property
    def fired(self) -> bool:
        """Whether the fallback drew again (the first attempt did not pass)."""
        return len(self.attempts) > 1

    def summary(self) -> str:
        a = self.attempts[self.kept]
        return (f"verify: {self.outcome}, {len(self.attempts)} attempt(s), kept T={a.temperature:g} "
                f"seed={a.seed} cer={a.cer:.3f}")

    def to_dict(self) -> dict:
        return {"text": self.text, "attempts": [a.to_dict() for a in self.attempts], "kept": self.kept,
                "outcome": self.outcome}


def plausible_seconds(spoken: str, policy: VerifyPolicy, speaking_rate: float = 1.0) -> tuple[float, float]:
    """The range of lengths in seconds that the spoken form of a text may take."""
    n = len(spoken)
    lo_rate, hi_rate = policy.chars_per_second
    return n / (hi_rate * speaking_rate), n / (lo_rate * speaking_rate) + DURATION_SLACK


def heard_cer(text: str, spoken: str, transcript: str) -> float:
    """CER against the text as written or as spoken, whichever is closer.

    Whisper's normaliser maps a transcript's "December 5th" to "december 5th" but the text's
    "12/05" to "12 5", so a perfect reading of a numeric date would never pass against the written
    text alone; the spoken form (the TTS normaliser's words) is the other fair reference."""
    return min(score.cer(text, transcript), score.cer(spoken, transcript))


def judge(text: str, spoken: str, transcript: str, seconds: float, expected: tuple[float, float],
          hit_max_length: bool, policy: VerifyPolicy) -> tuple[bool, str, float]:
    """(accepted, reason in words, cer) for one output."""
    c = heard_cer(text, spoken, transcript)
    problems = []
    if c > policy.max_cer:
        problems.append(f"cer {c:.3f} > {policy.max_cer:g}")
    if hit_max_length:
        problems.append("hit the length limit")
    elif not expected[0] <= seconds <= expected[1]:
        problems.append(f"duration {seconds:.2f} s implausible (expected {expected[0]:.2f}-{expected[1]:.2f} s)")
    if problems:
        return False, "; ".join(problems), c
    return True, f"cer {c:.3f} <= {policy.max_cer:g}", c


def choose_when_none_passed(attempts: Sequence[Attempt]) -> int:
    """The lowest CER; the earliest on ties."""
    return min(range(len(attempts)), key=lambda i: (attempts[i].cer, i))


class WhisperRecogniser:
    """Transcribe at T=0 with a loaded whisper model (through tts_temp.asr)."""

    def __init__(self, model):
        self.model = model
        _warm_whisper_assets(model)

    def __call__(self, wav: np.ndarray, sample_rate: int) -> str:
        from tts_temp.asr import transcribe
        from tts_temp.audio import prepare

        options = {"language": "en"} if getattr(self.model, "is_multilingual", False) else {}
        return transcribe(self.model, prepare(wav, sample_rate, 16000), temperature=0.0, **options).text.strip()


def _warm_whisper_assets(model) -> None:
    """Read whisper's tokenizer table (and the scoring normaliser's) once, at load. whisper opens its
    gpt2.tiktoken with a bare `open()` inside a generator and never closes it (the leak is in whisper,
    so the ResourceWarning is silenced here around that one cached call). Silencing it around every
    transcription instead changed the process-wide warning filters from each call, which is neither
    thread-safe nor enough (the normaliser's file leaked outside it)."""
    from whisper.tokenizer import get_tokenizer

    with _WARM, warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=ResourceWarning)
        get_tokenizer(model.is_multilingual, num_languages=getattr(model, "num_languages", 99))
    score.whisper_normalise("")


_WARM = threading.Lock()


def load_recogniser(name: str = "tiny.en") -> WhisperRecogniser:
    """A Whisper model by name or path; anything unusable is one UserError line."""
    from tts_temp.asr import load_model

    try:
        return WhisperRecogniser(load_model(name))
    except UserError as exc:
        raise UserError(f"--verify-model: {exc}") from None
    except Exception as exc:  # a file that is no whisper checkpoint
        raise UserError(f"--verify-model {name}: cannot load ({type(exc).__name__}: {exc})") from None


def _base_seed(seed: int | None) -> int:
    """The asked seed (checked: the same range as plain synthesis), or a fresh one below 2**53
    (recorded, so every attempt can be reproduced)."""
    return resolve_seed(seed)


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
    bases = [_base_seed(s) for s in seeds]
    plans = [_plan(policy.steps(check_temperature(t)), b, deterministic_at_zero)
             for t, b in zip(temperatures, bases)]
    spoken = normalise(text)
    expected = plausible_seconds(spoken, policy, opts.speaking_rate)
    n = len(plans)
    attempts: list[list[Attempt]] = [[] for _ in range(n)]
    wavs: list[list[np.ndarray]] = [[] for _ in range(n)]
    capped: list[list[bool]] = [[] for _ in range(n)]
    done = [False] * n
    sample_rate, batches = 0, 0
    for k in range(max(len(p) for p in plans)):
        todo = [(i, t, s) for i in range(n) if not done[i] and k < len(plans[i]) for t, s in plans[i][k]]
        if not todo:
            break
        out = tts_batch(voice, text, [t for _, t, _ in todo], [s for _, _, s in todo], opts, vocoder)
        sample_rate, batches = out.sample_rate, batches + 1
        for j, (i, t, s) in enumerate(todo):
            if done[i]:
                continue       # an earlier candidate of this step passed: the rest are not tried
            wav, hit = out.waveforms[j], bool(out.hit_max_length[j])
            seconds = len(wav) / out.sample_rate
            heard = recogniser(wav, out.sample_rate)
            ok, reason, c = judge(text, spoken, heard, seconds, expected, hit, policy)
            attempts[i].append(Attempt(t, s, heard, c, seconds, ok, reason))
            wavs[i].append(wav)
            capped[i].append(hit)
            done[i] = ok
    records, kept_wavs, kept_capped = [], [], []
    for i in range(n):
        kept = len(attempts[i]) - 1 if done[i] else choose_when_none_passed(attempts[i])
        records.append(Verification(text, attempts[i], kept, "passed" if done[i] else "best by cer (none passed)"))
        kept_wavs.append(wavs[i][kept])
        kept_capped.append(capped[i][kept])
    return VerifiedSynthesis(kept_wavs, sample_rate, [float(t) for t in temperatures], list(seeds), kept_capped,
                             records, batches, bases)


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
    """The seed of candidate `T@offset`: the asked seed plus the offset, kept in [0, 2**53) so it is a
    seed plain synthesis accepts (and replays) too."""
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
