"""POST /v1/audio/speech: OpenAI's request, the CLI's synthesis (`tts-temp synthesize`, `--verify`).

The samples equal the CLI's for the same voice, text, temperature, seed and speaking rate: the
options start from the synthesize command's own defaults, the batch function is the one its
`--verify` uses, and a wav is written by the same writer (16-bit PCM).
"""
from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import tempfile

import numpy as np
from fastapi import APIRouter, Request
from fastapi.responses import Response

from tts_temp.sampling.seeds import draw_seed
from tts_temp.serve.errors import ApiError
from tts_temp.serve.types import SpeechRequest

router = APIRouter(tags=["audio"])

MEDIA = {"wav": "audio/wav", "flac": "audio/flac", "pcm": "audio/pcm", "mp3": "audio/mpeg", "opus": "audio/ogg",
         "aac": "audio/aac"}
FFMPEG_ARGS = {"mp3": ["-f", "mp3", "-b:a", "128k"], "opus": ["-f", "ogg", "-c:a", "libopus", "-b:a", "48k"],
               "aac": ["-f", "adts", "-c:a", "aac", "-b:a", "128k"]}
SUCCESS = {200: {"content": {m: {"schema": {"type": "string", "format": "binary"}} for m in dict.fromkeys(MEDIA.values())},
                 "description": "the audio. Headers: x-tts-temp-seed, x-tts-temp-temperature, x-tts-temp-voice, "
                                "x-tts-temp-sample-rate, x-tts-temp-seconds, x-tts-temp-hit-max-seconds, and with "
                                "verify x-tts-temp-verify (the record as JSON)"}}


def encode(wav: np.ndarray, sample_rate: int, fmt: str) -> bytes:
    """The waveform in the asked format. The wav is written exactly as the CLI writes it; flac and pcm
    carry that wav's 16-bit samples (not a second float-to-int conversion), ffmpeg encodes the rest."""
    import soundfile as sf

    from tts_temp.audio import write_wav

    with tempfile.TemporaryDirectory(prefix="tts-temp-speech-") as folder:
        path = write_wav(os.path.join(folder, "speech.wav"), wav, sample_rate)
        data = path.read_bytes()
    if fmt == "wav":
        return data
    if fmt in ("pcm", "flac"):
        samples, _ = sf.read(io.BytesIO(data), dtype="int16")
        if fmt == "pcm":
            return samples.astype("<i2").tobytes()
        buffer = io.BytesIO()
        sf.write(buffer, samples, sample_rate, subtype="PCM_16", format="FLAC")
        return buffer.getvalue()
    proc = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-f", "wav", "-i", "-", *FFMPEG_ARGS[fmt], "-"],
                          input=data, capture_output=True)
    if proc.returncode != 0:
        raise RuntimeError(f"ffmpeg could not encode {fmt}: {proc.stderr.decode(errors='replace')[-200:]}")
    return proc.stdout


def _speak(registry, name: str, text: str, temperature: float, seed: int, options, verify: bool, fmt: str):
    """Worker side: the voice, listener and vocoder from the worker's registry (its own copy in a process)."""
    from tts_temp.verify import VerifyPolicy, synthesize_batch

    voice, recogniser, vocoder = registry.voices[name], registry.recogniser, registry.vocoders.get(name)
    out = synthesize_batch(voice, text, [temperature], [seed], options, verify=verify,
                           policy=VerifyPolicy() if verify else None, recogniser=recogniser if verify else None,
                           vocoder=vocoder)
    wav = out.waveforms[0]
    return encode(wav, out.sample_rate, fmt), out.sample_rate, len(wav) / out.sample_rate, \
        bool(out.hit_max_length[0]), out.records[0]


@router.post("/audio/speech", response_class=Response, responses=SUCCESS, summary="Speak text (OpenAI's API)")
async def speech(request: Request, body: SpeechRequest) -> Response:
    from tts_temp.sampling.temperature import check_temperature
    from tts_temp.serve.cli_options import synthesize_defaults
    from tts_temp.tts.synthesize import SynthesisOptions

    state = request.app.state.serve
    name, voice = state.ready().voice(body.model, body.voice)
    if body.response_format in FFMPEG_ARGS and shutil.which("ffmpeg") is None:
        raise ApiError(400, f"response_format {body.response_format} needs ffmpeg on the server; use wav, flac or pcm",
                       param="response_format")
    if not body.input.strip():
        raise ApiError(400, "input is empty", param="input")
    temperature = check_temperature(voice.default_temperature if body.temperature is None else body.temperature)
    seed = draw_seed() if body.seed is None else body.seed
    cli = synthesize_defaults()
    options = SynthesisOptions(duration=cli["duration"], duration_threshold=cli["duration_threshold"],
                               speaking_rate=body.speed, max_seconds=cli["max_seconds"])
    options.validate()
    audio, rate, seconds, capped, record = await state.pool.run(
        _speak, name, body.input, temperature, seed, options, body.verify, body.response_format)
    headers = {"x-tts-temp-seed": str(seed), "x-tts-temp-temperature": f"{temperature:g}", "x-tts-temp-voice": name,
               "x-tts-temp-sample-rate": str(rate), "x-tts-temp-seconds": f"{seconds:.3f}",
               "x-tts-temp-hit-max-seconds": "true" if capped else "false"}
    if record is not None:
        headers["x-tts-temp-verify"] = json.dumps(record.to_dict(), ensure_ascii=True, separators=(",", ":"))
    return Response(audio, media_type=MEDIA[body.response_format], headers=headers)
