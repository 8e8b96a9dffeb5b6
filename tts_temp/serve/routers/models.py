"""GET /v1/models (OpenAI's list, aliases included), /v1/models/{id}, and /v1/audio/voices."""
from __future__ import annotations

from fastapi import APIRouter, Request

from tts_temp.serve.aliases import ASR_ALIASES, OPENAI_VOICES, TTS_ALIASES
from tts_temp.serve.errors import ApiError
from tts_temp.serve.types import ErrorResponse, Model, ModelList, VoiceInfo, VoiceList

router = APIRouter(tags=["models"])


def _models(request: Request) -> list[Model]:
    state = request.app.state.serve
    reg = state.ready()
    made = state.started
    out = [Model(id=n, created=made, owned_by="tts_temp", kind="transcription") for n in reg.models]
    out += [Model(id=a, created=made, owned_by="tts_temp", kind="transcription", alias_of=reg.default_model)
            for a in ASR_ALIASES]
    out += [Model(id=a, created=made, owned_by="tts_temp", kind="speech", alias_of=reg.default_voice)
            for a in TTS_ALIASES]
    out += [Model(id=n, created=made, owned_by="tts_temp", kind="speech") for n in reg.voices]
    return out


@router.get("/models", response_model=ModelList, summary="The served models, aliases included")
async def list_models(request: Request) -> ModelList:
    return ModelList(data=_models(request))


@router.get("/models/{model_id}", response_model=Model, responses={404: {"model": ErrorResponse, "description": "not served"}})
async def get_model(request: Request, model_id: str) -> Model:
    for m in _models(request):
        if m.id == model_id:
            return m
    raise ApiError(404, f"model {model_id!r} is not served", param="model_id", code="model_not_found")


@router.get("/audio/voices", response_model=VoiceList, summary="The served voices and OpenAI's voice names")
async def list_voices(request: Request) -> VoiceList:
    reg = request.app.state.serve.ready()
    data = [VoiceInfo(id=n, name=n, sample_rate=v.sample_rate, default_temperature=v.default_temperature)
            for n, v in reg.voices.items()]
    default = reg.voices[reg.default_voice]
    data += [VoiceInfo(id=n, name=n, sample_rate=default.sample_rate, default_temperature=default.default_temperature,
                       alias_of=reg.default_voice) for n in OPENAI_VOICES]
    return VoiceList(data=data)
