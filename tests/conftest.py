"""Fixtures shared across test files: a tiny corpus and a tiny voice, built once per session.

Training even a tiny voice costs seconds, so the pipeline, synthesis and comparison tests all
share one session-scoped voice instead of each training their own.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]


def _need_festival() -> None:
    if shutil.which("festival") is None or shutil.which("espeak-ng") is None:
        pytest.skip("festival and espeak-ng (Debian packages) are needed to build a corpus")


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory):
    """(corpus folder, manifest) with the first 8 Harvard sentences read by festival's slt."""
    _need_festival()
    from tts_temp.tts import corpus

    out = tmp_path_factory.mktemp("corpus")
    manifest = corpus.build(out, corpus.harvard()[:8])
    return out, manifest


@pytest.fixture(scope="session")
def tiny_voice_path(tiny_corpus, tmp_path_factory) -> Path:
    """A throwaway voice trained for configs/voice-tiny.toml's few steps: speaks, badly."""
    from tts_temp.tts import features
    from tts_temp.tts.train import Trainer, load_config

    corpus_dir, _ = tiny_corpus
    feats = features.build(corpus_dir)
    model_cfg, cfg = load_config(ROOT / "configs" / "voice-tiny.toml")
    cfg.features = str(feats)
    cfg.out_dir = str(tmp_path_factory.mktemp("tiny-voice-run"))
    trainer = Trainer(model_cfg, cfg, log=lambda m: None)
    trainer.run()
    return trainer.voice().save(Path(cfg.out_dir) / "voice.pt")


@pytest.fixture(scope="session")
def whisper_tiny():
    """The bundled tiny.en as an openai-whisper model, shared with the ASR tests when they are here."""
    try:
        import asr_fixtures
    except ImportError:
        from tts_temp.asr import load_model

        return load_model("tiny.en")
    return asr_fixtures.model()


@pytest.fixture(autouse=True)
def one_thread_for_asr(request):
    """Whisper tests run on one torch thread: two threads on a busy 2-core machine thrash, and one
    is faster and gives the same results."""
    if not request.module.__name__.startswith("test_asr"):
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
