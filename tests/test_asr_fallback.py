"""The fallback policy's pure decisions."""
from __future__ import annotations

import math

import pytest

from tts_temp.asr.fallback import Attempt, FallbackPolicy, choose_when_all_failed, judge, schedule
from tts_temp.asr.fallback import should_reset_prompt, should_skip_as_silence


def _a(t=0.0, lp=-0.3, cr=1.5, ns=0.1):
    return Attempt(temperature=t, tokens=[], text="x", avg_logprob=lp, compression_ratio=cr, no_speech_prob=ns)


def test_schedule_semantics():
    assert schedule(None) == (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
    assert schedule([0.4]) == (0.4,)
    assert schedule(0.4) == (0.4,)
    assert schedule([0.4], 0.2) == (0.4, 0.6, 0.8, 1.0)
    assert schedule([0.0], 0.25) == (0.0, 0.25, 0.5, 0.75, 1.0)
    assert schedule([0.1, 0.9]) == (0.1, 0.9)
    for bad in ([-0.1], [math.nan], [math.inf]):
        with pytest.raises(ValueError):
            schedule(bad)


def test_judge_uses_whisper_thresholds():
    p = FallbackPolicy()
    assert judge(_a(), p)[0]
    ok, why = judge(_a(cr=2.5), p)
    assert not ok and "compression ratio" in why
    ok, why = judge(_a(lp=-1.2), p)
    assert not ok and "avg logprob" in why
    ok, why = judge(_a(lp=-1.2, ns=0.7), p)  # low logprob but likely silence: no fallback
    assert ok and "silence" in why
    ok, why = judge(_a(cr=3.0, lp=-2.0), p)
    assert not ok and "compression" in why and "logprob" in why
    assert judge(_a(cr=9, lp=-9), FallbackPolicy(compression_ratio_threshold=None, logprob_threshold=None))[0]


def test_choose_when_all_failed():
    attempts = [_a(0.0, lp=-1.5, cr=1.2), _a(0.2, lp=-1.1, cr=2.9), _a(0.4, lp=-1.3, cr=1.4)]
    assert choose_when_all_failed(attempts, FallbackPolicy()) == 2
    assert choose_when_all_failed(attempts, FallbackPolicy(on_all_failed="best")) == 2  # 0.2 is too repetitive
    attempts[0].avg_logprob = -1.25
    assert choose_when_all_failed(attempts, FallbackPolicy(on_all_failed="best")) == 0


def test_prompt_reset_and_silence_skip():
    p = FallbackPolicy()
    assert should_reset_prompt(0.6, p) and not should_reset_prompt(0.5, p)
    assert not should_reset_prompt(0.6, FallbackPolicy(prompt_reset_temperature=0.8))
    assert should_skip_as_silence(_a(ns=0.9, lp=-1.5), p)
    assert not should_skip_as_silence(_a(ns=0.9, lp=-0.5), p)
    assert not should_skip_as_silence(_a(ns=0.3, lp=-1.5), p)


def test_policy_refuses_bad_values():
    with pytest.raises(ValueError):
        FallbackPolicy(temperatures=(0.0, -0.2))
    with pytest.raises(ValueError):
        FallbackPolicy(on_all_failed="random")
    with pytest.raises(ValueError):
        FallbackPolicy(temperatures=())


def test_failed_names_the_criteria_as_data():
    from tts_temp.asr.fallback import failures

    p = FallbackPolicy()
    assert failures(_a(), p) == ()
    assert failures(_a(cr=2.5), p) == ("compression_ratio",)
    assert failures(_a(cr=3.0, lp=-2.0), p) == ("compression_ratio", "logprob")
    assert failures(_a(lp=-1.2, ns=0.7), p) == ("logprob", "no_speech")  # accepted as silence
    assert failures(_a(lp=-0.5, ns=0.9), p) == ()  # confident text despite a high no-speech prob
    assert failures(_a(cr=9, lp=-9, ns=1), FallbackPolicy(compression_ratio_threshold=None, logprob_threshold=None)) == ()


def test_one_window_climbs_the_ladder_until_accepted_and_records_every_attempt():
    from tts_temp.asr.fallback import climb_schedule

    ran = []

    def run(index, t):
        ran.append((index, t))
        return _a(t, lp=-0.5 if t >= 0.4 else -2.0)

    kept, attempts = climb_schedule(FallbackPolicy(), run)
    assert ran == [(0, 0.0), (1, 0.2), (2, 0.4)]  # nothing after the accepted attempt runs
    assert kept is attempts[-1] and kept.accepted and [a.accepted for a in attempts] == [False, False, True]
    assert attempts[0].failed == ("logprob",) and "avg logprob" in attempts[0].reason


def test_when_every_temperature_fails_the_policy_chooses_and_says_so():
    from tts_temp.asr.fallback import climb_schedule

    logprobs = {0.0: -1.5, 0.2: -1.1, 0.4: -1.3}
    policy = FallbackPolicy(temperatures=(0.0, 0.2, 0.4), on_all_failed="best")
    kept, attempts = climb_schedule(policy, lambda i, t: _a(t, lp=logprobs[t]))
    assert len(attempts) == 3 and kept is attempts[1]
    assert kept.reason.endswith("kept: every temperature failed (on_all_failed=best)")
    kept, _ = climb_schedule(FallbackPolicy(temperatures=(0.0, 0.2, 0.4)), lambda i, t: _a(t, lp=logprobs[t]))
    assert kept.temperature == 0.4  # whisper's rule: the last


def test_windows_climb_in_lockstep_each_stopping_at_its_own_accepted_attempt():
    from tts_temp.asr.fallback import climb_schedules

    steps = []

    def run(todo):
        steps.append(todo)
        return [_a(t, lp=-0.5 if (item, t) in {(0, 0.4), (1, 0.0)} else -2.0) for item, (_, t) in todo]

    short, full = FallbackPolicy(temperatures=(0.2, 0.4)), FallbackPolicy()
    results = climb_schedules([full, full, short], run)
    assert steps[0] == [(0, (0, 0.0)), (1, (0, 0.0)), (2, (0, 0.2))]
    assert steps[1] == [(0, (1, 0.2)), (2, (1, 0.4))] and steps[2] == [(0, (2, 0.4))] and len(steps) == 3
    assert [len(attempts) for _, attempts in results] == [3, 1, 2]
    assert [kept.accepted for kept, _ in results] == [True, True, False]
    with pytest.raises(ValueError, match="on_all_failed"):
        climb_schedules([full, FallbackPolicy(on_all_failed="best")], run)
