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
