"""The temperature-fallback policy as data plus pure functions, so each decision can be tested
and shown to the user: what was tried, why it was rejected, and what was kept.

Meaning and defaults follow openai-whisper's `transcribe`: an attempt fails when its text is too
repetitive (gzip compression ratio above the threshold) or too unlikely (average log-probability
below the threshold), unless the window looks silent (no-speech probability above its threshold
and a low log-probability), in which case it is accepted as silence.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal, Sequence

from tts_temp.sampling.temperature import check_temperature

WHISPER_SCHEDULE = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)


@dataclass(frozen=True)
class FallbackPolicy:
    """When to retry a window at the next temperature, and what to keep if every one fails."""

    temperatures: tuple[float, ...] = WHISPER_SCHEDULE
    compression_ratio_threshold: float | None = 2.4
    logprob_threshold: float | None = -1.0
    no_speech_threshold: float | None = 0.6
    prompt_reset_temperature: float = 0.5
    on_all_failed: Literal["last", "best"] = "last"

    def __post_init__(self) -> None:
        temps = tuple(check_temperature(t) for t in self.temperatures)
        if not temps:
            raise ValueError("the temperature schedule is empty")
        object.__setattr__(self, "temperatures", temps)
        if self.on_all_failed not in ("last", "best"):
            raise ValueError(f"on_all_failed must be 'last' or 'best', got {self.on_all_failed!r}")
        for name in ("compression_ratio_threshold", "logprob_threshold", "no_speech_threshold"):
            value = getattr(self, name)
            if value is not None and math.isnan(value):
                raise ValueError(f"{name} must be a number, got NaN")


@dataclass
class Attempt:
    """One decode of one window at one temperature, recorded as it happened."""

    temperature: float
    tokens: list[int]
    text: str
    avg_logprob: float
    compression_ratio: float
    no_speech_prob: float
    accepted: bool = False
    reason: str = ""
    seed: int | None = field(default=None, repr=False)  # the generator seed used, for T > 0
    # the window the attempt decoded: its first mel frame (100 per second of the decoded audio) and
    # its length in frames; with `seed`, what replays this attempt alone (transcribe.attempt_seed)
    seek: int | None = field(default=None, repr=False)
    frames: int | None = field(default=None, repr=False)
    # The thresholds this attempt crossed, as data (see CRITERIA); `reason` says the same in words.
    # "no_speech" means whisper's silence rule held: the attempt is then accepted as silence.
    failed: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        return {
            "temperature": self.temperature,
            "text": self.text,
            "avg_logprob": self.avg_logprob,
            "compression_ratio": self.compression_ratio,
            "no_speech_prob": self.no_speech_prob,
            "accepted": self.accepted,
            "reason": self.reason,
            "failed": list(self.failed),
            "seed": self.seed,
            "seek": self.seek,
            "frames": self.frames,
        }


def schedule(temperature: float | Sequence[float] | None, increment: float | None = None) -> tuple[float, ...]:
    """The temperatures to try, with the CLI's semantics.

    None -> whisper's schedule; one value -> exactly that one, or with `increment`
    T, T + inc, ... up to 1.0 (as whisper's CLI does); several values -> the schedule itself.
    """
    if temperature is None:
        return WHISPER_SCHEDULE
    if isinstance(temperature, (int, float)):
        temperature = [temperature]
    temps = [check_temperature(t) for t in temperature]
    if increment is not None:
        increment = check_temperature(increment)
        if len(temps) != 1:
            raise ValueError("an increment needs exactly one starting temperature")
        if increment > 0:
            start, temps = temps[0], []
            steps = int(math.floor((1.0 - start) / increment + 1e-6)) + 1 if start <= 1.0 else 1
            temps = [round(start + i * increment, 10) for i in range(max(steps, 1))]
    if not temps:
        raise ValueError("the temperature schedule is empty")
    return tuple(temps)


CRITERIA = ("compression_ratio", "logprob", "no_speech")


def failures(attempt: Attempt, policy: FallbackPolicy) -> tuple[str, ...]:
    """The criteria (names from CRITERIA) whose thresholds this attempt crossed, in that order."""
    cr, lp, ns = policy.compression_ratio_threshold, policy.logprob_threshold, policy.no_speech_threshold
    failed = []
    if cr is not None and attempt.compression_ratio > cr:
        failed.append("compression_ratio")
    low_logprob = lp is not None and attempt.avg_logprob < lp
    if low_logprob:
        failed.append("logprob")
    if ns is not None and low_logprob and attempt.no_speech_prob > ns:
        failed.append("no_speech")
    return tuple(failed)


def judge(attempt: Attempt, policy: FallbackPolicy) -> tuple[bool, str]:
    """Decide whether an attempt is good enough, and say why in words."""
    failed = failures(attempt, policy)
    cr, lp, ns = policy.compression_ratio_threshold, policy.logprob_threshold, policy.no_speech_threshold
    if "no_speech" in failed:
        return True, f"silence: no-speech prob {attempt.no_speech_prob:.2f} > {ns:g} and low logprob"
    problems = []
    if "compression_ratio" in failed:
        problems.append(f"compression ratio {attempt.compression_ratio:.2f} > {cr:g} (repetitive)")
    if "logprob" in failed:
        problems.append(f"avg logprob {attempt.avg_logprob:.2f} < {lp:g}")
    if problems:
        return False, "; ".join(problems)
    return True, "passed all thresholds"


def choose_when_all_failed(attempts: Sequence[Attempt], policy: FallbackPolicy) -> int:
    """Index of the attempt to keep when none was accepted.

    "last" is whisper's behaviour; "best" keeps the highest average log-probability among the
    attempts under the compression threshold (all of them, if none is).
    """
    if policy.on_all_failed == "last":
        return len(attempts) - 1
    cr = policy.compression_ratio_threshold
    pool = [i for i, a in enumerate(attempts) if cr is None or a.compression_ratio <= cr]
    pool = pool or list(range(len(attempts)))
    return max(pool, key=lambda i: (attempts[i].avg_logprob, -i))


def should_reset_prompt(kept_temperature: float, policy: FallbackPolicy) -> bool:
    """A window kept at a high temperature is not trusted as context for the next one."""
    return kept_temperature > policy.prompt_reset_temperature


def should_skip_as_silence(attempt: Attempt, policy: FallbackPolicy) -> bool:
    """Whisper's no-voice check on the kept attempt: skip the window without emitting segments."""
    if policy.no_speech_threshold is None or attempt.no_speech_prob <= policy.no_speech_threshold:
        return False
    return not (policy.logprob_threshold is not None and attempt.avg_logprob > policy.logprob_threshold)
