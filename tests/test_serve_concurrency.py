"""Concurrent requests to `tts-temp serve` (2 workers, processes and threads) get the same answers as
serial ones.

The mix covers what shares a model between threads: sampled transcriptions with their own seeds,
beam search at T=0, word timestamps and the VAD filter (held exclusively by the server until asr is
thread-safe there), and synthesis at several temperatures. With processes each worker has its own
copy of the models, and the same requests must give the same bytes whichever worker runs them.
"""
from __future__ import annotations

import concurrent.futures

import pytest

httpx = pytest.importorskip("httpx2")
from serve_server import JFK, serve  # noqa: E402

AUDIO = JFK.read_bytes()
VAD = ("stt", {"model": "whisper-1", "vad_filter": "true", "temperature": "0.6", "seed": "4"})
WORDS = ("stt", {"model": "whisper-1", "response_format": "verbose_json", "timestamp_granularities[]": "word",
                "seed": "8"})
REQUESTS = [
    VAD,
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


@pytest.mark.parametrize("kind", ["process", "thread"])
def test_concurrent_requests_equal_serial_ones(kind):
    with serve("--model", "tiny.en", "--workers", "2", "--worker-kind", kind, "--queue", "16") as s:
        serial = [call(s.api, k, f) for k, f in REQUESTS]
        with concurrent.futures.ThreadPoolExecutor(len(REQUESTS) * 2) as pool:
            futures = [pool.submit(call, s.api, k, f) for k, f in REQUESTS * 2]   # each request twice, at once
            parallel = [f.result() for f in futures]
    assert parallel == serial * 2
    speech = [body for (kind, _), body in zip(REQUESTS, serial) if kind == "tts"]
    assert len(set(speech)) == len(speech)   # the seeds and temperatures really differ

