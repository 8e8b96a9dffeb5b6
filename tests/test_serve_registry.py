"""The server's catalogue: what the routers look names up in, built from a loaded registry and small
enough to send from a worker process (which is how the server process avoids loading any weights)."""
from __future__ import annotations

import pickle
from types import SimpleNamespace

import pytest

pytest.importorskip("fastapi")
from tts_temp.serve.errors import ApiError  # noqa: E402
from tts_temp.serve.registry import Catalogue, ModelCard, Registry, VoiceCard  # noqa: E402


def loaded() -> Registry:
    """A registry of stand-ins: only what `describe` reads, plus a large weight it must leave behind."""
    weights = bytes(2**20)
    return Registry(models={"tiny.en": SimpleNamespace(is_multilingual=False, weights=weights),
                            "base": SimpleNamespace(is_multilingual=True, compute_type="int8", weights=weights)},
                    voices={"mine": SimpleNamespace(timing=SimpleNamespace(sample_rate=22050, hop_length=256),
                                                    default_temperature=0.5, weights=weights)},
                    vocoders={"mine": object()}, vocoder="hifigan")


def test_describe_keeps_what_the_routers_read_and_no_weights():
    catalogue = loaded().describe()
    assert catalogue == Catalogue(models={"tiny.en": ModelCard(False, "float32"), "base": ModelCard(True, "int8")},
                                  voices={"mine": VoiceCard(22050, 0.5)}, vocoder="hifigan", vocoded=("mine",))
    sent = pickle.dumps(catalogue)
    assert pickle.loads(sent) == catalogue and len(sent) < 2048
    assert catalogue.summary() == ["model tiny.en: English-only, float32", "model base: multilingual, int8",
                                   "vocoder hifigan: used by mine", "voices: mine (default mine)"]


def test_lookups_answer_from_the_catalogue():
    catalogue = loaded().describe()
    assert catalogue.asr_model("whisper-1") == ("tiny.en", ModelCard(False, "float32"))
    assert catalogue.multilingual() == ["base"]
    assert catalogue.voice("tts-1", "alloy") == ("mine", VoiceCard(22050, 0.5))
    with pytest.raises(ApiError) as err:
        catalogue.asr_model("large")
    assert err.value.status == 400 and "served: tiny.en, base, whisper-1" in err.value.message
