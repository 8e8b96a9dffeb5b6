"""Multilingual base from its PyPI packages: language detection and T = 0 parity with stock whisper
on real French and Spanish speech, plus whisper's clip_timestamps, carry_initial_prompt and
hallucination_silence_threshold against stock."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import whisper

from asr_fixtures import NON_ENGLISH, base_model, model, waveform
from tts_temp.asr import transcribe


def _segments(stock: dict) -> list[tuple]:
    return [(s["start"], s["end"], s["text"], s["tokens"]) for s in stock["segments"]]


def _ours(t) -> list[tuple]:
    return [(s.start, s.end, s.text, s.tokens) for s in t.segments]


def test_base_is_the_multilingual_model():
    m = base_model()
    assert m.is_multilingual and m.num_languages == 99 and m.dims.n_vocab == 51865
    assert m.dims.n_audio_layer == 6 and m.dims.n_text_state == 512
    assert sum(p.numel() for p in m.parameters()) == 71_825_920  # + the encoder's positional buffer: "74 M"


@pytest.mark.parametrize("name", sorted(NON_ENGLISH))
def test_language_detection_matches_stock(name):
    """whisper.transcribe detects on the first 30 s of the padded mel; ours must see the same input."""
    from whisper.audio import N_FRAMES, N_SAMPLES, log_mel_spectrogram, pad_or_trim

    from tts_temp.asr.transcribe import _Transcription, make_options

    audio = waveform(name)
    mel = log_mel_spectrogram(torch.from_numpy(audio), 80, padding=N_SAMPLES)
    _, probs = base_model().detect_language(pad_or_trim(mel, N_FRAMES))
    ours = _Transcription(base_model(), audio, make_options(base_model(), temperature=0.0))
    assert ours.language == max(probs, key=probs.get) == NON_ENGLISH[name]
    assert ours.language_probability == pytest.approx(probs[ours.language], abs=1e-6)
    print(f"{name}: {ours.language} p={ours.language_probability:.3f}")


@pytest.mark.parametrize("name", ["asterisk_fr_auth-incorrect", "asterisk_es_auth-incorrect"])
def test_greedy_decoding_matches_stock(name):
    audio = waveform(name)  # one waveform for both: the 8 kHz clips are resampled once, here
    stock = whisper.transcribe(base_model(), audio, temperature=0.0, fp16=False)
    ours = transcribe(base_model(), audio, temperature=0.0)
    assert ours.language == stock["language"] == NON_ENGLISH[name]
    assert ours.text == stock["text"]
    assert _ours(ours) == _segments(stock)


def test_given_language_and_translate_task_match_stock():
    audio = waveform("asterisk_es_auth-incorrect")
    stock = whisper.transcribe(base_model(), audio, temperature=0.0, fp16=False, language="es", task="translate")
    ours = transcribe(base_model(), audio, temperature=0.0, language="Spanish", task="translate")
    assert ours.language == "es" and ours.language_probability is None
    assert ours.text == stock["text"] and _ours(ours) == _segments(stock)


def _long_english() -> np.ndarray:
    from asr_fixtures import CLIPS

    return np.concatenate([waveform(n) for n in CLIPS])


@pytest.mark.parametrize("clips", ["2.0,9.5,14,30", [33.0]])
def test_clip_timestamps_match_stock(clips):
    audio = _long_english()
    stock = whisper.transcribe(model(), audio, temperature=0.0, fp16=False, clip_timestamps=clips)
    ours = transcribe(model(), audio, temperature=0.0, clip_timestamps=clips)
    assert ours.text == stock["text"] and _ours(ours) == _segments(stock)


def test_carry_initial_prompt_matches_stock():
    audio = _long_english()
    prompt = "Sense and Sensibility, by Jane Austen. Chapter one. The family of Dashwood."
    stock = whisper.transcribe(model(), audio, temperature=0.0, fp16=False, initial_prompt=prompt,
                               carry_initial_prompt=True)
    ours = transcribe(model(), audio, temperature=0.0, initial_prompt=prompt, carry_initial_prompt=True)
    assert ours.text == stock["text"] and _ours(ours) == _segments(stock)
    assert {s.window for s in ours.segments} == {0, 1}  # the second window got the carried prompt


def _improbable_after(seconds: float):
    """Wrap whisper's word alignment so that words after `seconds` look hallucinated (probability
    0.01): tiny.en rarely hallucinates on short clips, and both stock and ours must then run the
    rule on the same words."""
    from whisper.timing import add_word_timestamps

    def wrapped(**kwargs):
        add_word_timestamps(**kwargs)
        for segment in kwargs["segments"]:
            for word in segment.get("words", []):
                if word["start"] >= seconds:
                    word["probability"] = 0.01
    return wrapped


def test_hallucination_silence_threshold_matches_stock(monkeypatch):
    import sys

    threshold = 0.5
    rng = np.random.default_rng(0)
    gap = (rng.standard_normal(8 * 16000) * 0.003).astype(np.float32)
    audio = np.concatenate([waveform("jfk"), gap, waveform("librivox_sense_0930"), gap, waveform("jfk")])
    plain = transcribe(model(), audio, temperature=0.0, word_timestamps=True)
    for module in ("whisper.transcribe", "tts_temp.asr.transcribe"):
        monkeypatch.setattr(sys.modules[module], "add_word_timestamps", _improbable_after(15.0))
    stock = whisper.transcribe(model(), audio, temperature=0.0, fp16=False, word_timestamps=True,
                               hallucination_silence_threshold=threshold)
    ours = transcribe(model(), audio, temperature=0.0, word_timestamps=True,
                      hallucination_silence_threshold=threshold)
    assert ours.text == stock["text"] and _ours(ours) == _segments(stock)
    for a, b in zip(ours.segments, stock["segments"]):
        assert [(w["word"], w["start"], w["end"]) for w in a.words] == \
               [(w["word"], w["start"], w["end"]) for w in b["words"]]
    assert _ours(ours) != _ours(plain)  # the rule did something
