"""The judge of verified synthesis and its thresholds: when an output counts as heard right, and what
to try next when it does not (the ladder itself is `sampling.ladder`'s).

An output passes when the transcript's CER against the text is at most `max_cer` and its length is
plausible for the text. The retries after a miss mirror Whisper's rising schedule turned around: the
asked temperature with further seeds first, then the lower temperatures of Whisper's grid down to 0.
"""
from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from tts_temp import score
from tts_temp.asr.fallback import WHISPER_STEP
from tts_temp.errors import UserError
from tts_temp.sampling.ladder import Climb
from tts_temp.sampling.temperature import check_temperature

DEFAULT_MAX_CER = 0.1
EXTRA_SEEDS = 2            # the asked temperature is retried with this many further seeds
# A plausible length for the text: spoken characters (after the TTS normaliser) per second of audio.
# Measured: festival's slt reads the benchmark's twelve normalisation sentences at 12.9-18.7 (mean
# 15.5, untrimmed wavs), and the shipped voice's T=0 speech is 0.98 of festival's length on Harvard
# 701-720. Far outside that (below 5 or above 35, with 1 s of slack for pauses) the output babbled
# or skipped.
CHARS_PER_SECOND = (5.0, 35.0)
DURATION_SLACK = 1.0       # seconds
PASSED, NONE_PASSED = "passed", "best by cer (none passed)"


@dataclass(frozen=True)
class Candidate:
    """One draw to try: a temperature and the asked seed plus an offset."""

    temperature: float
    seed_offset: int = 0

    def __str__(self) -> str:
        return f"{self.temperature:g}" + (f"@{self.seed_offset}" if self.seed_offset else "")


Schedule = tuple[tuple[Candidate, ...], ...]    # steps; each step is one batch


def default_retries(temperature: float) -> Schedule:
    """After (T, seed) misses: (T, seed+1), (T, seed+2); then the temperatures below T on the step of
    Whisper's grid (0, 0.2, ..., 1.0, continued above 1), down to 0."""
    t = check_temperature(temperature)
    lower, k = [], math.ceil(round(t / WHISPER_STEP, 9)) - 1
    while k >= 0:
        lower.append(Candidate(round(k * WHISPER_STEP, 10)))
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
class SynthesisAttempt:
    """One synthesised draw, as heard and judged."""

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


@dataclass(kw_only=True)
class Verification(Climb[SynthesisAttempt]):
    """The record of one verified output: the ladder's climb (every attempt in the order tried, and
    the index of the kept one) for one text."""

    text: str

    @property
    def outcome(self) -> str:
        return PASSED if self.passed else NONE_PASSED

    @property
    def fired(self) -> bool:
        """Whether the fallback drew again (the first attempt did not pass)."""
        return len(self.attempts) > 1

    def summary(self) -> str:
        a = self.kept_attempt
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


def choose_when_none_passed(attempts: Sequence[SynthesisAttempt]) -> int:
    """The lowest CER; the earliest on ties."""
    return min(range(len(attempts)), key=lambda i: (attempts[i].cer, i))
