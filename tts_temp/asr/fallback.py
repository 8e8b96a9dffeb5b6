"""The temperature-fallback policy as data plus pure functions, so each decision can be tested
and shown to the user: what was tried, why it was rejected, and what was kept.

Meaning and defaults follow openai-whisper's `transcribe`: an attempt fails when its text is too
repetitive (gzip compression ratio above the threshold) or too unlikely (average log-probability
below the threshold), unless the window looks silent (no-speech probability above its threshold
and a low log-probability), in which case it is accepted as silence.

The climbing itself (try in order, stop at the first accepted, else choose) is the one ladder of
`sampling.ladder`; this module is the judge on top of it and owns every default of the fallback.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from tts_temp.sampling.ladder import Climb, climb, climb_many
from tts_temp.sampling.temperature import check_temperature

# Whisper's defaults, defined here only: the CLI, the server and the sweeps read them from here.
WHISPER_STEP = 0.2   # the schedule's step (whisper's --temperature_increment_on_fallback)
WHISPER_SCHEDULE = tuple(round(i * WHISPER_STEP, 10) for i in range(round(1.0 / WHISPER_STEP) + 1))  # 0 .. 1.0
COMPRESSION_RATIO_THRESHOLD = 2.4   # gzip ratio above this: too repetitive
LOGPROB_THRESHOLD = -1.0            # average log-probability below this: too unlikely
NO_SPEECH_THRESHOLD = 0.6           # no-speech probability above this (with a low logprob): silence
PROMPT_RESET_TEMPERATURE = 0.5      # a window kept above this T is not used as the next one's prompt


@dataclass(frozen=True)
class FallbackPolicy:
    """When to retry a window at the next temperature, and what to keep if every one fails."""

    temperatures: tuple[float, ...] = WHISPER_SCHEDULE
    compression_ratio_threshold: float | None = COMPRESSION_RATIO_THRESHOLD
    logprob_threshold: float | None = LOGPROB_THRESHOLD
    no_speech_threshold: float | None = NO_SPEECH_THRESHOLD
    prompt_reset_temperature: float = PROMPT_RESET_TEMPERATURE
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


# --------------------------------------------------------------------------- on the ladder
Step = tuple[int, float]  # (index in the schedule, temperature): the index seeds the attempt


def assess(attempt: Attempt, policy: FallbackPolicy) -> Attempt:
    """The ladder's judge: mark the attempt accepted or not, with the reason in words and as data."""
    attempt.accepted, attempt.reason = judge(attempt, policy)
    attempt.failed = failures(attempt, policy)
    return attempt


def _steps(policy: FallbackPolicy) -> list[list[Step]]:
    return [[(k, t)] for k, t in enumerate(policy.temperatures)]


def _kept(result: Climb[Attempt], policy: FallbackPolicy) -> tuple[Attempt, list[Attempt]]:
    kept = result.kept_attempt
    if not result.passed:
        kept.reason += f"; kept: every temperature failed (on_all_failed={policy.on_all_failed})"
    return kept, result.attempts


def climb_schedule(policy: FallbackPolicy, run: Callable[[int, float], Attempt]) -> tuple[Attempt, list[Attempt]]:
    """One window's fallback: `run(index, T)` decodes and records an attempt; the temperatures are
    tried in order until one is accepted. Returns (the kept attempt, every attempt)."""
    result = climb(_steps(policy), lambda step: run(*step), lambda _step, attempt: assess(attempt, policy),
                   lambda attempts: choose_when_all_failed(attempts, policy))
    return _kept(result, policy)


def climb_schedules(policies: Sequence[FallbackPolicy],
                    run: Callable[[list[tuple[int, Step]]], Sequence[Attempt]]) -> list[tuple[Attempt, list[Attempt]]]:
    """Several windows' fallbacks in lockstep (the sweep's grid): at step k `run` gets (item, (k, T))
    for every item still climbing, so a step can be one batch. Each item stops at its first accepted
    attempt, as `climb_schedule` would alone. The items may differ in their schedules, not in what
    decides among failures (on_all_failed and the compression threshold)."""
    if len({(p.on_all_failed, p.compression_ratio_threshold) for p in policies}) > 1:
        raise ValueError("windows climbed together must share on_all_failed and compression_ratio_threshold")
    results = climb_many([_steps(p) for p in policies], run, lambda i, _step, attempt: assess(attempt, policies[i]),
                         lambda attempts: choose_when_all_failed(attempts, policies[0]))
    return [_kept(result, p) for result, p in zip(results, policies)]
