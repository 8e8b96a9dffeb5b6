"""At T = 0 the plug-ins change nothing: same text and segments as stock whisper.transcribe."""
from __future__ import annotations

import re

import numpy as np
import pytest
import whisper

from asr_fixtures import CLIPS, DATA, clip, model, waveform
from tts_temp.asr import transcribe


def _segments(stock: dict) -> list[tuple]:
    return [(s["start"], s["end"], s["text"], s["tokens"]) for s in stock["segments"]]


def _ours(t) -> list[tuple]:
    return [(s.start, s.end, s.text, s.tokens) for s in t.segments]


def _words(text: str) -> list[str]:
    return re.sub(r"[^a-z' ]", " ", text.lower()).split()


@pytest.mark.parametrize("name", ["jfk", "librivox_sense_0870", "librivox_sense_0930"])
def test_greedy_matches_stock(name):
    stock = whisper.transcribe(model(), clip(name), temperature=0.0, fp16=False)
    ours = transcribe(model(), clip(name), temperature=0.0)
    assert ours.text == stock["text"]
    assert _ours(ours) == _segments(stock)
    assert ours.language == stock["language"] == "en"


def test_beam_search_matches_stock():
    stock = whisper.transcribe(model(), clip("librivox_sense_0890"), temperature=0.0, beam_size=5, fp16=False)
    ours = transcribe(model(), clip("librivox_sense_0890"), temperature=0.0, beam_size=5)
    assert ours.text == stock["text"] and _ours(ours) == _segments(stock)


def test_multi_window_default_schedule_matches_stock():
    """Over 30 s, so the seek logic and the prompt from the previous window are exercised."""
    audio = np.concatenate([waveform(n) for n in CLIPS])
    assert audio.size > 30 * 16000
    stock = whisper.transcribe(model(), audio, fp16=False)
    ours = transcribe(model(), audio)
    assert ours.text == stock["text"] and _ours(ours) == _segments(stock)
    assert [s.temperature for s in ours.segments] == [s["temperature"] for s in stock["segments"]]


def test_word_timestamps_match_stock():
    stock = whisper.transcribe(model(), clip("jfk"), temperature=0.0, word_timestamps=True, fp16=False)
    ours = transcribe(model(), clip("jfk"), temperature=0.0, word_timestamps=True)
    assert _ours(ours) == _segments(stock)
    for s_ours, s_stock in zip(ours.segments, stock["segments"]):
        assert [(w["word"], w["start"], w["end"]) for w in s_ours.words] == \
               [(w["word"], w["start"], w["end"]) for w in s_stock["words"]]


def test_transcripts_are_close_to_the_reference():
    """A sanity check of the converted weights on real speech (tiny.en is not perfect)."""
    for name in ("jfk", "librivox_sense_0870"):
        ref = _words((DATA / f"{name}.txt").read_text())
        hyp = _words(transcribe(model(), clip(name), temperature=0.0).text)
        hits = sum(1 for w in hyp if w in set(ref))
        assert hits >= 0.85 * len(ref), (ref, hyp)
