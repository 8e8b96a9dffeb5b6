"""DNSMOS (speechmos's shipped ONNX models) on real audio: speech must score above white noise."""
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

pytest.importorskip("speechmos", reason="speechmos is a dependency (pip install -e .)")

from tts_temp.naturalness import Dnsmos, dnsmos, mean_dnsmos  # noqa: E402

DATA = Path(__file__).resolve().parent / "data"


def test_real_speech_scores_higher_than_white_noise():
    noise = np.random.default_rng(0).standard_normal(16000 * 5).astype(np.float32) * 0.1
    n = dnsmos(noise, 16000)
    assert n.ovrl < 1.6 and n.sig < 1.6, n
    scores = []
    for name in ("librivox_sense_0880", "librivox_sense_0930"):
        wav, sr = sf.read(str(DATA / f"{name}.wav"), dtype="float32")
        s = dnsmos(wav, sr)
        assert 1.0 <= s.ovrl <= 5.0 and s.ovrl > n.ovrl + 1.0, (name, s, n)
        scores.append(s)
    m = mean_dnsmos(scores)
    assert abs(m.ovrl - np.mean([s.ovrl for s in scores])) < 1e-12 and m.sig > n.sig + 1.0


def test_same_audio_at_another_rate_scores_the_same_and_empty_is_nan():
    wav, sr = sf.read(str(DATA / "librivox_sense_0880.wav"), dtype="float32")
    import librosa

    a = dnsmos(wav, sr)
    b = dnsmos(librosa.resample(wav, orig_sr=sr, target_sr=22050), 22050)
    assert abs(a.ovrl - b.ovrl) < 0.1, (a, b)
    assert np.isnan(dnsmos(np.zeros(0, np.float32), 16000).ovrl)
    assert isinstance(a, Dnsmos) and set(a.to_dict()) == {"ovrl", "sig", "bak", "p808"}
