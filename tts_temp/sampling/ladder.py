"""The retry ladder: try candidates in steps, keep the first accepted, else the best; record every attempt.

Whisper's temperature fallback (one window, one temperature a step) and verified synthesis (many
items, several (temperature, seed) candidates a step, each step one batch) are the same idea with
different judges. This module owns the climbing; the judges and their thresholds live with their
models (`asr.fallback`, `verify.policy`).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar


class Judged(Protocol):
    accepted: bool


C = TypeVar("C")              # a candidate: what to try (a temperature, a (temperature, seed) pair)
O = TypeVar("O")              # what running a candidate gave (a decoding result, a waveform)
A = TypeVar("A", bound=Judged)  # the recorded, judged attempt


@dataclass
class Climb(Generic[A]):
    """One item's climb: every attempt in the order tried, and the index of the kept one."""

    attempts: list[A]
    kept: int

    @property
    def passed(self) -> bool:
        return self.attempts[self.kept].accepted

    @property
    def kept_attempt(self) -> A:
        return self.attempts[self.kept]


def climb_many(plans: Sequence[Sequence[Sequence[C]]],
               run: Callable[[list[tuple[int, C]]], Sequence[O]],
               judge: Callable[[int, C, O], A],
               choose: Callable[[list[A]], int]) -> list[Climb[A]]:
    """Climb one ladder per item, in lockstep.

    plans[i] is item i's steps, each a sequence of candidates. At step k the candidates of every item
    still climbing are run together (`run` gets (item, candidate) pairs and returns one outcome each,
    so a step can be one batch); then each item's outcomes are judged in order, and judging stops at
    the item's first accepted attempt (later candidates of that step are not judged or recorded).
    An item that ends with nothing accepted keeps `choose(attempts)`; one that passed keeps its last.
    """
    attempts: list[list[A]] = [[] for _ in plans]
    done = [False] * len(plans)
    for k in range(max((len(p) for p in plans), default=0)):
        todo = [(i, c) for i, p in enumerate(plans) if not done[i] and k < len(p) for c in p[k]]
        if not todo:
            break
        outcomes = run(todo)
        if len(outcomes) != len(todo):
            raise ValueError(f"run returned {len(outcomes)} outcomes for {len(todo)} candidates")
        for j, (i, c) in enumerate(todo):
            if done[i]:
                continue
            a = judge(i, c, outcomes[j])
            attempts[i].append(a)
            done[i] = bool(a.accepted)
    climbs = []
    for i, tried in enumerate(attempts):
        if not tried:
            raise ValueError(f"item {i} has no candidate to try")
        climbs.append(Climb(tried, len(tried) - 1 if done[i] else choose(tried)))
    return climbs


def climb(steps: Sequence[Sequence[C]], run: Callable[[C], O], judge: Callable[[C, O], A],
          choose: Callable[[list[A]], int]) -> Climb[A]:
    """One item's ladder, one candidate run at a time (run lazily: nothing after the accepted one)."""
    return climb_many([steps], lambda todo: _lazy(todo, run), lambda _i, c, out: judge(c, out), choose)[0]


class _lazy(Sequence):
    """Outcomes computed when judged, so a single climb never runs a candidate it will not judge."""

    def __init__(self, todo: list, run: Callable) -> None:
        self._todo, self._run = todo, run

    def __len__(self) -> int:
        return len(self._todo)

    def __getitem__(self, k):  # type: ignore[override]
        return self._run(self._todo[k][1])
