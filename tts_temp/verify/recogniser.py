"""The listener of verified synthesis: a loaded Whisper model transcribing at T=0 (through `tts_temp.asr`)."""
from __future__ import annotations

import threading
import warnings
from collections.abc import Callable

import numpy as np

from tts_temp import score
from tts_temp.asr.packaged import BUNDLED
from tts_temp.errors import UserError

Recogniser = Callable[[np.ndarray, int], str]   # (waveform, sample rate) -> transcript


class WhisperRecogniser:
    """Transcribe at T=0 with a loaded whisper model (through tts_temp.asr)."""

    def __init__(self, model):
        self.model = model
        _warm_whisper_assets(model)

    def __call__(self, wav: np.ndarray, sample_rate: int) -> str:
        from tts_temp.asr import transcribe
        from tts_temp.audio import prepare

        options = {"language": "en"} if getattr(self.model, "is_multilingual", False) else {}
        return transcribe(self.model, prepare(wav, sample_rate, 16000), temperature=0.0, **options).text.strip()


def _warm_whisper_assets(model) -> None:
    """Read whisper's tokenizer table (and the scoring normaliser's) once, at load. whisper opens its
    gpt2.tiktoken with a bare `open()` inside a generator and never closes it (the leak is in whisper,
    so the ResourceWarning is silenced here around that one cached call). Silencing it around every
    transcription instead changed the process-wide warning filters from each call, which is neither
    thread-safe nor enough (the normaliser's file leaked outside it)."""
    from whisper.tokenizer import get_tokenizer

    with _WARM, warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=ResourceWarning)
        get_tokenizer(model.is_multilingual, num_languages=getattr(model, "num_languages", 99))
    score.whisper_normalise("")


_WARM = threading.Lock()


def load_recogniser(name: str = BUNDLED) -> WhisperRecogniser:
    """A Whisper model by name or path; anything unusable is one UserError line."""
    from tts_temp.asr import load_model

    try:
        return WhisperRecogniser(load_model(name))
    except UserError as exc:
        raise UserError(f"--verify-model: {exc}") from None
    except Exception as exc:  # a file that is no whisper checkpoint
        raise UserError(f"--verify-model {name}: cannot load ({type(exc).__name__}: {exc})") from None
