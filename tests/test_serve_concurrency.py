"""Concurrent requests to `tts-temp serve` (2 worker threads) get the same answers as serial ones.

The mix covers what shares a model between threads: sampled transcriptions with their own seeds,
beam search at T=0, word timestamps (held exclusively by the server until asr is thread-safe there),
and synthesis at several temperatures.
"""
from __future__ import annotations

import concurrent.futures
import json

import pytest

httpx = pytest.importorskip("httpx2")
from serve_server import JFK, serve  # noqa: E402

AUDIO = JFK.read_bytes()
VAD = ("stt", {"model": "whisper-1", "vad_filter": "true", "temperature": "0.6", "seed": "4"})
WORDS = ("stt", {"model": "whisper-1", "response_format": "verbose_json", "timestamp_granularities[]": "word"})
# No VAD request in the mix: after one, later results in the process change in their last digits
# (test_a_vad_request_leaves_later_results_alone, an asr defect), which would hide what this tests.
REQUESTS = [
    ("stt", {"model": "whisper-1", "temperature": "0"}),
    ("stt", {"model": "whisper-1", "temperature": "1.0", "seed": "1", "best_of": "1"}),
    ("stt", {"model": "whisper-1", "temperature": "1.0", "seed": "2", "best_of": "1"}),
    ("stt", {"model": "whisper-1", "temperature": "0.8", "seed": "3", "top_k": "5"}),
    WORDS,
    ("tts", {"model": "tts-1", "voice": "alloy", "input": "A large size in stockings is hard to sell.",
             "response_format": "wav", "seed": 5, "temperature": 0.667}),
    ("tts", {"model": "tts-1", "voice": "alloy", "input": "A large size in stockings is hard to sell.",
             "response_format": "wav", "seed": 6, "temperature": 1.0}),
    ("tts", {"model": "tts-1", "voice": "alloy", "input": "Glue the sheet to the dark blue background.",
             "response_format": "wav", "seed": 7, "temperature": 0.3}),
]


def call(api: str, kind: str, fields: dict) -> bytes:
    with httpx.Client(timeout=600) as c:
        if kind == "stt":
            r = c.post(api + "/audio/transcriptions", data=fields, files={"file": ("jfk.wav", AUDIO, "audio/wav")})
        else:
            r = c.post(api + "/audio/speech", json=fields)
    assert r.status_code == 200, r.text
    return r.content


def same(a, b) -> bool:
    """Exact, except the fallback's statistics (avg logprob, compression, probabilities) to 1e-6 relative:
    asr's results vary in their last digits with what ran before in the process, threads or not (see the
    xfail below); text, tokens, temperatures, verdicts, times and audio samples must be identical."""
    if isinstance(a, float) and isinstance(b, float):
        return a == pytest.approx(b, rel=1e-6, abs=1e-9)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return a == b


def parsed(body: bytes):
    return json.loads(body) if body[:1] == b"{" else body


def test_concurrent_requests_equal_serial_ones():
    with serve("--model", "tiny.en", "--workers", "2", "--queue", "16") as s:
        serial = [call(s.api, k, f) for k, f in REQUESTS]
        with concurrent.futures.ThreadPoolExecutor(len(REQUESTS) * 2) as pool:
            futures = [pool.submit(call, s.api, k, f) for k, f in REQUESTS * 2]   # each request twice, at once
            parallel = [f.result() for f in futures]
    for i, (got, want) in enumerate(zip(parallel, serial * 2)):
        assert same(parsed(got), parsed(want)), f"request {i % len(REQUESTS)} ({REQUESTS[i % len(REQUESTS)]}) differs"
    tts = [body for (kind, _), body in zip(REQUESTS, serial) if kind == "tts"]
    assert [p for (kind, _), p in zip(REQUESTS * 2, parallel) if kind == "tts"] == tts * 2   # samples: exact
    assert len(set(serial)) == len(serial)   # the seeds and temperatures really differ


@pytest.mark.xfail(strict=True, reason="asr: after a vad_filter transcription at T=0.6 (best_of 5), the same "
                                       "process gives later transcriptions different last digits (found "
                                       "here, reproduced in one thread without the server; for the asr "
                                       "thread-safety work)")
def test_a_vad_request_leaves_later_results_alone():
    with serve("--model", "tiny.en", "--workers", "1") as s:
        before = call(s.api, *WORDS)
        call(s.api, *VAD)
        after = call(s.api, *WORDS)
    assert after == before
