"""The retry ladder on its own: first accepted kept, else the chosen one; lazy; lockstep batches."""
from __future__ import annotations

from dataclasses import dataclass

import pytest

from tts_temp.sampling.ladder import climb, climb_many


@dataclass
class A:
    candidate: object
    score: float
    accepted: bool


def test_first_accepted_is_kept_and_nothing_after_it_runs():
    ran = []

    def run(t):
        ran.append(t)
        return 1.0 - t

    result = climb([[0.0], [0.2], [0.4], [0.6]], run, lambda t, s: A(t, s, t >= 0.4), lambda a: 0)
    assert ran == [0.0, 0.2, 0.4]
    assert [a.candidate for a in result.attempts] == [0.0, 0.2, 0.4]
    assert result.kept == 2 and result.passed and result.kept_attempt.candidate == 0.4


def test_when_none_passes_the_chooser_decides_and_sees_every_attempt():
    seen = []

    def choose(attempts):
        seen.append(len(attempts))
        return max(range(len(attempts)), key=lambda i: attempts[i].score)

    result = climb([[3], [9], [5]], lambda c: c, lambda c, s: A(c, s, False), choose)
    assert seen == [3] and result.kept == 1 and not result.passed


def test_a_step_of_several_candidates_stops_judging_at_the_first_accepted():
    result = climb([[1, 2, 3]], lambda c: c, lambda c, s: A(c, s, c == 2), lambda a: 0)
    assert [a.candidate for a in result.attempts] == [1, 2]


def test_many_items_climb_in_lockstep_one_run_per_step():
    batches = []

    def run(todo):
        batches.append(list(todo))
        return [c * 10 for _, c in todo]

    plans = [[[1], [2, 3]], [[4], [5]], [[6]]]
    accept = {(0, 3), (1, 4)}
    climbs = climb_many(plans, run, lambda i, c, out: A(c, out, (i, c) in accept), lambda a: len(a) - 1)
    assert batches == [[(0, 1), (1, 4), (2, 6)], [(0, 2), (0, 3)]]   # item 1 passed, item 2 ran out
    assert [a.candidate for a in climbs[0].attempts] == [1, 2, 3] and climbs[0].passed
    assert climbs[1].kept == 0 and climbs[1].passed
    assert not climbs[2].passed and climbs[2].kept == 0


def test_a_run_that_loses_outcomes_is_an_error_not_a_silent_shift():
    with pytest.raises(ValueError, match="outcomes"):
        climb_many([[[1, 2]]], lambda todo: [0], lambda i, c, o: A(c, o, False), lambda a: 0)


def test_an_item_with_no_candidates_is_an_error():
    with pytest.raises(ValueError, match="no candidate"):
        climb_many([[[1]], []], lambda todo: [0] * len(todo), lambda i, c, o: A(c, o, True), lambda a: 0)
