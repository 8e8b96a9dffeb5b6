"""POST /v1/audio/transcriptions and /v1/audio/translations: OpenAI's fields, the CLI's decoding.

`temperature` 0 (OpenAI's default) is whisper's fallback schedule 0, 0.2, ..., 1.0, exactly as
OpenAI documents it; T > 0 is exactly T, as the CLI's single `--temperature T`. With
`temperature_increment_on_fallback` X the schedule is T, T+X, ... up to 1 (X = 0: T alone, so
`temperature=0&temperature_increment_on_fallback=0` is plain greedy/beam decoding at 0).
"""
from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from tts_temp.asr.cli import BEAM_SIZE, BEST_OF, SCHEDULE_TEXT
from tts_temp.sampling.seeds import draw_seed
from tts_temp.serve.errors import ApiError
from tts_temp.serve.types import SEED_FIELD, TranscriptionFormat, Transcription, VerboseTranscription, finite

router = APIRouter(tags=["audio"])

SUCCESS = {200: {"content": {"application/json": {}, "text/plain": {"schema": {"type": "string"}}},
                 "description": "json / verbose_json as JSON; text, srt and vtt as plain text. Headers: "
                                "x-tts-temp-seed (the seed used), x-tts-temp-model (the model that answered)"}}


def _verbose(transcript, task: str, duration: float, model: str, words: bool) -> dict:
    from whisper.tokenizer import LANGUAGES

    whisper_segments = transcript.to_whisper_dict()["segments"]
    segments, all_words = [], []
    for seg, ws in zip(transcript.segments, whisper_segments):
        segments.append({
            "id": ws["id"], "seek": int(round(seg.start * 100)), "start": seg.start, "end": seg.end, "text": seg.text,
            "tokens": list(seg.tokens), "temperature": seg.temperature, "avg_logprob": finite(seg.avg_logprob),
            "compression_ratio": finite(seg.compression_ratio), "no_speech_prob": finite(seg.no_speech_prob),
            "window": seg.window, "attempts": [_attempt(a) for a in seg.attempts]})
        for w in seg.words or []:
            all_words.append({"word": w["word"], "start": w["start"], "end": w["end"],
                              "probability": finite(w.get("probability"))})
    skipped = [{"window": s.window, "start": s.start, "end": s.end, "reason": s.reason,
                "attempts": [_attempt(a) for a in s.attempts]} for s in transcript.skipped]
    return {"task": task, "language": LANGUAGES.get(transcript.language, transcript.language), "duration": duration,
            "text": transcript.text, "segments": segments, "words": all_words if words else None,
            "seed": transcript.seed, "model": model, "skipped_windows": skipped,
            "torch_threads": transcript.torch_threads}


def _attempt(a) -> dict:
    d = a.to_dict()
    return {"temperature": d["temperature"], "text": d["text"], "avg_logprob": finite(d["avg_logprob"]),
            "compression_ratio": finite(d["compression_ratio"]), "no_speech_prob": finite(d["no_speech_prob"]),
            "accepted": bool(d["accepted"]), "reason": d["reason"] or ""}


def _decode(registry, model_name: str, data: bytes, filename: str, options):
    """Worker side: read the upload exactly as the CLI reads a file, then the CLI's transcribe
    (with the worker's own copy of the model when workers are processes)."""
    import os
    import tempfile

    from whisper.audio import SAMPLE_RATE

    from tts_temp import audio as audio_io
    from tts_temp.audio import AudioError
    from tts_temp.asr.transcribe import transcribe

    suffix = os.path.splitext(filename)[1][:16] if filename else ""
    with tempfile.TemporaryDirectory(prefix="tts-temp-upload-") as folder:
        path = os.path.join(folder, "upload" + "".join(c for c in suffix if c.isalnum() or c == "."))
        with open(path, "wb") as f:
            f.write(data)
        try:
            waveform = audio_io.load(path, SAMPLE_RATE)
        except AudioError as exc:
            raise AudioError(str(exc).replace(path, filename or "file")) from None
    if waveform.size == 0:
        raise AudioError(f"{filename or 'file'}: no audio samples")
    return transcribe(registry.models[model_name], waveform, options), len(waveform) / SAMPLE_RATE


async def _handle(request: Request, task: Literal["transcribe", "translate"], file: UploadFile, model: str,
                  language: str | None, prompt: str | None, response_format: str, temperature: float,
                  granularities: list[str] | None, seed: int | None, increment: float | None, best_of: int | None,
                  beam_size: int | None, top_k: int | None, top_p: float | None, vad_filter: bool,
                  compute_type: str | None) -> Response:
    from tts_temp.asr.options import in_models_language
    from tts_temp.serve.cli_options import transcribe_options

    state = request.app.state.serve
    catalogue = state.ready()
    name, card = catalogue.asr_model(model)
    if task == "translate" and not card.is_multilingual:
        raise ApiError(400, f"model {name!r} is English-only and cannot translate; "
                            f"multilingual models served: {', '.join(catalogue.multilingual()) or 'none'}",
                       param="model")
    if compute_type not in (None, "", card.compute_type):
        raise ApiError(400, f"model {name!r} is served as {card.compute_type}; compute types are chosen at start "
                            f"(tts-temp serve --compute-type {compute_type})", param="compute_type")
    words = "word" in (granularities or [])
    if words and response_format != "verbose_json":
        raise ApiError(400, "timestamp_granularities needs response_format verbose_json",
                       param="timestamp_granularities[]")
    seed = draw_seed() if seed is None else seed
    options = transcribe_options(
        temperature=None if temperature == 0 and increment is None else [temperature],
        temperature_increment_on_fallback=increment, seed=seed, language=language, initial_prompt=prompt,
        task=task, word_timestamps=words, vad_filter=vad_filter,
        **({"best_of": best_of} if best_of is not None else {}),
        **({"beam_size": beam_size} if beam_size is not None else {}),
        top_k=top_k, top_p=top_p)
    options = in_models_language(options, card)   # as the CLI: an English-only model answers in English
    data = await file.read()
    transcript, duration = await state.pool.run(_decode, name, data, file.filename or "", options,
                                                exclusive=words or vad_filter)
    headers = {"x-tts-temp-seed": str(transcript.seed if transcript.seed is not None else seed),
               "x-tts-temp-model": name}
    if response_format == "json":
        return JSONResponse({"text": transcript.text}, headers=headers)
    if response_format == "verbose_json":
        return JSONResponse(_verbose(transcript, task, duration, name, words), headers=headers)
    if response_format == "text":
        return PlainTextResponse(transcript.text, headers=headers)
    from tts_temp.asr.cli import render

    return PlainTextResponse(render(transcript, response_format), headers=headers)


# Form fields shared by both routes (OpenAI's first, then the extensions).
File_ = Annotated[UploadFile, File(description="audio: wav, flac, ogg, or anything ffmpeg decodes")]
Model_ = Annotated[str, Form(min_length=1, description="a served model (GET /v1/models) or whisper-1 (the default model)")]
Prompt_ = Annotated[str | None, Form(description="text to condition the first window on (initial prompt)")]
Format_ = Annotated[TranscriptionFormat, Form()]
Temp_ = Annotated[float, Form(ge=0, le=1e6, description=f"0: whisper's fallback schedule {SCHEDULE_TEXT}; "
                                                        "T > 0: exactly T")]
Seed_ = Annotated[int | None, Form(**SEED_FIELD)]
Inc_ = Annotated[float | None, Form(ge=0, le=1e6, description="extension: T, T+X, ... up to 1 (0: T alone)")]
BestOf_ = Annotated[int | None, Form(ge=1, le=64, description=f"extension: samples per attempt at T > 0 (default {BEST_OF})")]
Beam_ = Annotated[int | None, Form(ge=1, le=64, description=f"extension: beams at T = 0 (default {BEAM_SIZE})")]
TopK_ = Annotated[int | None, Form(ge=1, le=1_000_000, description="extension: sample among the k likeliest tokens")]
TopP_ = Annotated[float | None, Form(gt=0, le=1, description="extension: nucleus sampling mass")]
Vad_ = Annotated[bool, Form(description="extension: decode only the speech Silero VAD finds")]
Compute_ = Annotated[str | None, Form(description="extension: must match the served model's compute type")]


@router.post("/audio/transcriptions", responses=SUCCESS, response_model=Transcription | VerboseTranscription,
             summary="Transcribe audio (OpenAI's API)")
async def transcriptions(request: Request, file: File_, model: Model_,
                         language: Annotated[str | None, Form(description="code or English name")] = None,
                         prompt: Prompt_ = None, response_format: Format_ = "json", temperature: Temp_ = 0.0,
                         timestamp_granularities: Annotated[list[Literal["word", "segment"]] | None,
                                                            Form(alias="timestamp_granularities[]")] = None,
                         seed: Seed_ = None, temperature_increment_on_fallback: Inc_ = None,
                         best_of: BestOf_ = None, beam_size: Beam_ = None, top_k: TopK_ = None,
                         top_p: TopP_ = None, vad_filter: Vad_ = False, compute_type: Compute_ = None) -> Response:
    return await _handle(request, "transcribe", file, model, language, prompt, response_format, temperature,
                         timestamp_granularities, seed, temperature_increment_on_fallback, best_of, beam_size,
                         top_k, top_p, vad_filter, compute_type)


@router.post("/audio/translations", responses=SUCCESS, response_model=Transcription | VerboseTranscription,
             summary="Translate audio into English text (OpenAI's API; needs a multilingual model)")
async def translations(request: Request, file: File_, model: Model_, prompt: Prompt_ = None,
                       response_format: Format_ = "json", temperature: Temp_ = 0.0, seed: Seed_ = None,
                       temperature_increment_on_fallback: Inc_ = None, best_of: BestOf_ = None,
                       beam_size: Beam_ = None, top_k: TopK_ = None, top_p: TopP_ = None,
                       vad_filter: Vad_ = False, compute_type: Compute_ = None) -> Response:
    return await _handle(request, "translate", file, model, None, prompt, response_format, temperature, None,
                         seed, temperature_increment_on_fallback, best_of, beam_size, top_k, top_p, vad_filter,
                         compute_type)
