"""The seeded sampler, the fallback as it really runs, and one encoder pass per window."""
from __future__ import annotations

import numpy as np
import pytest

from asr_fixtures import CLIPS, clip, model, waveform
from tts_temp.asr import transcribe
from tts_temp.asr.sampler import SamplingOptions


def test_same_seed_same_transcript_bit_for_bit():
    a = transcribe(model(), clip("librivox_sense_0880"), temperature=1.0, seed=11, best_of=2)
    b = transcribe(model(), clip("librivox_sense_0880"), temperature=1.0, seed=11, best_of=2)
    assert a.to_dict() == b.to_dict()
    assert [s.tokens for s in a.segments] == [s.tokens for s in b.segments]


def test_different_seeds_differ_somewhere():
    texts = set()
    for name in ("librivox_sense_0880", "librivox_sense_0930"):
        for seed in (1, 2, 3):
            t = transcribe(model(), clip(name), temperature=1.0, seed=seed, best_of=1)
            texts.add((name, tuple(tuple(a.tokens) for s in t.segments for a in s.attempts)))
    per_clip = {}
    for name, tokens in texts:
        per_clip.setdefault(name, set()).add(tokens)
    assert max(len(v) for v in per_clip.values()) > 1, "three seeds gave identical samples on every clip"


def test_unseeded_run_reports_the_seed_that_reproduces_it():
    a = transcribe(model(), clip("librivox_sense_0880"), temperature=0.9, best_of=1)
    assert a.seed is not None
    b = transcribe(model(), clip("librivox_sense_0880"), temperature=0.9, best_of=1, seed=a.seed)
    assert a.to_dict() == b.to_dict()


def test_top_k_one_is_greedy_at_any_temperature():
    greedy = transcribe(model(), clip("librivox_sense_0930"), temperature=0.0)
    topk1 = transcribe(model(), clip("librivox_sense_0930"), temperature=1.0, top_k=1, best_of=1, seed=5)
    assert topk1.text == greedy.text


def test_forced_fallback_records_every_attempt_in_order():
    """logprob_threshold = 0 fails every attempt (avg logprob < 0): all six temperatures run."""
    t = transcribe(model(), clip("librivox_sense_0880"), logprob_threshold=0.0, no_speech_threshold=None,
                   seed=3, best_of=2)
    attempts = t.segments[0].attempts
    assert [a.temperature for a in attempts] == [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    assert not any(a.accepted for a in attempts)
    assert all("avg logprob" in a.reason for a in attempts)
    assert t.segments[0].temperature == 1.0  # whisper keeps the last attempt
    assert "kept" in attempts[-1].reason
    # the T = 0 attempt is exactly the greedy decode, and every attempt is the kept text's own record
    greedy = transcribe(model(), clip("librivox_sense_0880"), temperature=0.0)
    assert attempts[0].text == greedy.text.strip()
    assert attempts[0].avg_logprob == greedy.segments[0].avg_logprob
    kept_text = "".join(s.text for s in t.segments).strip()
    assert kept_text == attempts[-1].text
    d = t.to_dict()
    assert set(d) == {"text", "language", "language_source", "language_probability", "seed", "torch_threads",
                      "segments", "skipped_windows"}
    assert d["seed"] == 3
    assert set(d["segments"][0]) == {"start", "end", "text", "window", "temperature", "attempts"}
    assert set(d["segments"][0]["attempts"][0]) == {"temperature", "text", "avg_logprob", "compression_ratio",
                                                    "no_speech_prob", "accepted", "reason", "failed", "seed", "seek",
                                                    "frames"}
    assert all(a["failed"] == ["logprob"] for a in d["segments"][0]["attempts"])


def test_fallback_stops_at_the_first_accepted_attempt():
    # a compression threshold below any real text's ratio fails T = 0; the logprob test is off
    t = transcribe(model(), clip("librivox_sense_0930"), compression_ratio_threshold=0.1,
                   logprob_threshold=None, temperature=(0.0, 0.5), seed=1, best_of=1)
    attempts = t.segments[0].attempts
    assert [a.temperature for a in attempts] == [0.0, 0.5]
    assert "compression ratio" in attempts[0].reason
    t = transcribe(model(), clip("librivox_sense_0930"), seed=1)
    assert [a.temperature for a in t.segments[0].attempts] == [0.0]
    assert t.segments[0].attempts[0].accepted


def test_on_all_failed_best_keeps_the_most_likely_attempt():
    t = transcribe(model(), clip("librivox_sense_0880"), logprob_threshold=0.0, no_speech_threshold=None,
                   on_all_failed="best", seed=3, best_of=2)
    attempts = t.segments[0].attempts
    best = max(attempts, key=lambda a: a.avg_logprob)
    assert t.segments[0].temperature == best.temperature
    assert "kept" in best.reason


def _count_encoder_calls(m):
    calls = []
    handle = m.encoder.register_forward_hook(lambda *a: calls.append(1))
    return calls, handle


def test_one_encoder_pass_per_window_through_all_temperatures():
    audio = np.concatenate([waveform(n) for n in CLIPS])  # ~36 s: two windows at least
    m = model()
    calls, handle = _count_encoder_calls(m)
    try:
        # sample_len bounds each (degenerate, high-T) attempt and, without timestamps, every
        # window advances a full 30 s: the test stays quick and the window count is known
        t = transcribe(m, audio, logprob_threshold=0.0, no_speech_threshold=None, seed=2, best_of=2,
                       sample_len=48, without_timestamps=True)
    finally:
        handle.remove()
    windows = {tuple(id(a) for a in s.attempts) for s in t.segments}
    assert all(len(s.attempts) == 6 for s in t.segments)
    assert len(calls) == len(windows) == 2


def test_word_timestamps_reuse_the_window_encoding():
    m = model()
    calls, handle = _count_encoder_calls(m)
    try:
        t = transcribe(m, clip("jfk"), temperature=0.0, word_timestamps=True)
    finally:
        handle.remove()
    assert t.segments and all(s.words for s in t.segments)
    assert len(calls) == 1


def test_sampling_options_are_checked():
    with pytest.raises(ValueError):
        SamplingOptions(temperature=-1)
    with pytest.raises(ValueError):
        SamplingOptions(temperature=1.0, top_p=0.0)
    with pytest.raises(ValueError):
        SamplingOptions(temperature=1.0, top_k=0)
