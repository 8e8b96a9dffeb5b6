"""Distill-MOS (the distillmos package, loaded without torchaudio) on real speech."""
import contextlib
import importlib.util
import io
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tts_temp import naturalness
from tts_temp.naturalness import distill_mos

if not naturalness.distill_mos_available():
    pytest.skip(f"distillmos is not installed (scripts/setup.sh: {naturalness.DISTILL_MOS_INSTALL})",
                allow_module_level=True)

DATA = Path(__file__).resolve().parent / "data"
SHORT = ["librivox_sense_0880", "librivox_sense_0930"]   # 3.0 s and 3.3 s at 16 kHz


def _wav(name: str) -> tuple[np.ndarray, int]:
    return sf.read(str(DATA / f"{name}.wav"), dtype="float32")


def test_real_speech_scores_clearly_above_the_same_speech_degraded():
    import librosa

    real, vocoded, noisy = [], [], []
    rng = np.random.default_rng(0)
    for name in SHORT:
        wav, sr = _wav(name)
        assert sr == 16000
        mel = librosa.feature.melspectrogram(y=wav, sr=sr, n_fft=1024, hop_length=256, n_mels=80)
        vocoded.append(librosa.feature.inverse.mel_to_audio(mel, sr=sr, n_fft=1024, hop_length=256, n_iter=32))
        noise = rng.standard_normal(wav.size).astype(np.float32) * np.sqrt(np.mean(wav ** 2))  # 0 dB SNR
        noisy.append(wav + noise)
        real.append(wav)
    r, v, n = distill_mos(real, 16000), distill_mos(vocoded, 16000), distill_mos(noisy, 16000)
    for a, b, c in zip(r, v, n):
        assert 1.0 <= min(a, b, c) and max(a, b, c) <= 5.0
        assert a > 3.0 and a > b + 0.4 and a > c + 1.0, (r, v, n)   # Griffin-Lim's phase, white noise


def test_batches_score_like_one_clip_at_a_time_and_like_distillmos_itself():
    import torch

    clips = [_wav(n)[0] for n in ("jfk", *SHORT, "librivox_sense_0870")]   # jfk (11 s) spans two windows
    together = distill_mos(clips, 16000, batch_size=3)
    alone = [distill_mos([c], 16000, batch_size=1)[0] for c in clips]
    assert together == pytest.approx(alone, abs=1e-5)
    # The package's own forward pass (it cuts and pads inside) on one clip at a time.
    sqa = naturalness._import_distillmos()
    with contextlib.redirect_stdout(io.StringIO()):
        theirs = sqa.ConvTransformerSQAModel().eval()
    with torch.no_grad():
        ref = [float(theirs(torch.from_numpy(c)[None])) for c in clips[:2]]
    assert together[:2] == pytest.approx(ref, abs=1e-5)


def test_rates_empty_audio_and_the_torchaudio_stand_in():
    wav, sr = _wav("asterisk_fr_auth-incorrect")   # 8 kHz: resampled to the model's 16 kHz
    import librosa

    up = librosa.resample(wav, orig_sr=sr, target_sr=16000, res_type="soxr_hq")
    assert distill_mos([wav], sr) == pytest.approx(distill_mos([up], 16000), abs=1e-6)
    scores = distill_mos([np.zeros(0, np.float32), _wav(SHORT[0])[0]], 16000)
    assert np.isnan(scores[0]) and 1.0 <= scores[1] <= 5.0
    assert distill_mos([], 16000) == []
    if importlib.util.find_spec("torchaudio") is None:
        assert "torchaudio" not in sys.modules   # the empty stand-in served the import only


def test_a_missing_package_is_one_clear_error(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "distillmos" else real(name, *a))
    assert not naturalness.distill_mos_available()
    with pytest.raises(ImportError, match="pip install --no-deps distillmos"):
        naturalness._import_distillmos()
