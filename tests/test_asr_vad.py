"""--vad-filter: Silero VAD removes 20 s of leading low noise; the words stay, times shift by 20 s."""
from __future__ import annotations

import numpy as np
import pytest

from asr_fixtures import model, waveform
from tts_temp.asr import transcribe
from tts_temp.asr.vad import TimeMap, VadOptions

pytest.importorskip("silero_vad")


def test_leading_noise_is_removed_and_times_map_back():
    speech = waveform("jfk")
    noise = (np.random.default_rng(0).standard_normal(20 * 16000) * 0.002).astype(np.float32)
    alone = transcribe(model(), speech, temperature=0.0, word_timestamps=True, vad_filter=True)
    padded = transcribe(model(), np.concatenate([noise, speech]), temperature=0.0, word_timestamps=True,
                        vad_filter=True)
    assert padded.text == alone.text
    words_alone = [w for s in alone.segments for w in s.words]
    words_padded = [w for s in padded.segments for w in s.words]
    assert [w["word"] for w in words_padded] == [w["word"] for w in words_alone]
    for a, b in zip(words_alone, words_padded):
        assert abs((b["start"] - a["start"]) - 20.0) < 0.2 and abs((b["end"] - a["end"]) - 20.0) < 0.2
    assert abs(padded.segments[0].start - alone.segments[0].start - 20.0) < 0.2
    assert all(s.attempts for s in padded.segments)  # attempt records stay per window


def test_time_map_and_parameters():
    m = TimeMap([{"start": 16000, "end": 32000}, {"start": 64000, "end": 80000}])
    assert m(0.0) == 1.0 and m(0.5) == 1.5 and m(1.0) == 4.0 and m(1.0, is_end=True) == 2.0 and m(1.5) == 4.5
    assert VadOptions.from_parameters({"min_silence_duration_ms": 500}).min_silence_duration_ms == 500
    with pytest.raises(ValueError, match="unknown vad_parameters"):
        VadOptions.from_parameters({"nope": 1})
