"""Which kernels a model runs on this CPU, decided by measuring them once and remembering the answer.

Why: choices tuned on one CPU lose on another. bfloat16 attention halves the bytes an int8 model's
attention reads and measured 2.7x faster in the encoder on a Xeon with AVX512-BF16, yet on an AMD
EPYC with the same flags it made an int8 transcription 1.4x slower than float32 attention (SDPA's
bfloat16 kernel is slow there for a few queries; two plain matmuls over bfloat16 K/V are fast). So
at load an int8 model's attention kernels are timed on its own layers at its own shapes (1-3 s,
once), and the answer is cached per CPU model and ISA flags, torch version, model shape, compute
type and thread count (`cache_dir()/kernels.json`), so later loads only read it. The packed float32
projection is a rule, not a measurement: it won on every CPU measured (5 rows: 10.6 -> 6.9 ms on
a Xeon, 11.5 -> 4.1 ms on an EPYC), and timing it at load would hold a second copy of the
vocabulary matrix at the load's peak. It applies to float32 embeddings only: a float32 model from a
half-precision checkpoint projects with fbgemm's half-precision copy instead, faster still and with
no second float32 matrix (decoder_plan.FloatProjection).

`TTS_TEMP_KERNELS` overrides: `measure` (the default), or `rule` (no timing: bfloat16 attention
where the CPU has it natively, packing where oneDNN is built; what earlier versions always did).
The decision is recorded on the model (`model.kernels`) and printed by scripts/bench_asr.py.
"""
from __future__ import annotations

import hashlib
import json
import os
import platform
import threading
import time
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Callable

import torch
from whisper.model import Whisper

from tts_temp.asr.cache import cache_dir
from tts_temp.errors import UserError

# ISA flags that decide which kernels exist (fbgemm's VNNI sums, oneDNN's bfloat16 and AMX paths)
ISA_FLAGS = ("avx2", "avx512f", "avx512bw", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_bf16", "amx_int8",
             "amx_tile")
MODES = ("measure", "rule")
ENV = "TTS_TEMP_KERNELS"
ENCODER_KERNELS = ("float32", "bfloat16")   # SDPA in that dtype
# float32 / bfloat16: SDPA in that dtype, the caches too; bfloat16-matmul: bfloat16 cross-attention K/V
# through two matmuls and a float32 softmax, the self-attention cache float32 (inference.py)
DECODER_KERNELS = ("float32", "bfloat16", "bfloat16-matmul")
# a lower precision must win by this much to be chosen: the timings are noisy, and float32 is the more exact
MARGIN = 0.95
_VERSION = 2  # bump when what is measured changes: older cache entries are then measured again


@dataclass(frozen=True)
class CpuInfo:
    model: str
    flags: tuple[str, ...]  # those of ISA_FLAGS the CPU reports

    def describe(self) -> str:
        return f"{self.model} [{' '.join(self.flags) or 'no AVX2'}]"


@lru_cache(maxsize=1)
def cpu_info() -> CpuInfo:
    """The CPU's model name and its ISA flags (Linux /proc/cpuinfo; elsewhere the platform's name)."""
    name, flags = "", set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == "model name" and not name:
                    name = value.strip()
                elif key.strip() == "flags":
                    flags = set(value.split())
                    break
    except OSError:
        pass
    return CpuInfo(name or platform.processor() or platform.machine(), tuple(f for f in ISA_FLAGS if f in flags))


@dataclass(frozen=True)
class KernelChoice:
    """What a model computes with on this CPU, and how that was decided."""

    encoder_attention: str = "float32"   # the encoder's self-attention (int8 models): ENCODER_KERNELS
    decoder_attention: str = "float32"   # the decoder's attention and its caches (int8 models): DECODER_KERNELS
    pack_projection: bool = False        # oneDNN-packed float32 projection for 3+ rows (float32 models)
    how: str = "rule"                    # measure | cached | rule | none (nothing to choose)
    seconds: dict[str, float] = field(default_factory=dict)   # what was timed, per candidate

    def dtype(self, part: str) -> torch.dtype:
        name = self.encoder_attention if part == "encoder" else self.decoder_attention
        return getattr(torch, name.split("-")[0])

    def describe(self) -> str:
        return (f"kernels ({self.how}): encoder attention {self.encoder_attention}, decoder attention "
                f"{self.decoder_attention}, oneDNN packing of a float32 "
                f"embedding {'yes' if self.pack_projection else 'no'} (a half-precision one: fbgemm's packed copy)")


def mode() -> str:
    value = os.environ.get(ENV, "measure").strip().lower() or "measure"
    if value not in MODES:
        raise UserError(f"${ENV} must be one of {', '.join(MODES)}, got {value!r}")
    return value


def bf16_native() -> bool:
    return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


def rule(compute_type: str) -> KernelChoice:
    """The choice without timing: bfloat16 attention for int8 where the CPU has it natively, packing
    for float32 where oneDNN is built."""
    if compute_type == "int8":
        low = "bfloat16" if bf16_native() else "float32"
        return KernelChoice(low, low, False, "rule")
    return KernelChoice(pack_projection=torch.backends.mkldnn.is_available(), how="rule")


def key(model: Whisper, compute_type: str) -> str:
    """What the choice depends on: the CPU, torch, the model's shape, the compute type, the threads."""
    cpu = cpu_info()
    parts = (_VERSION, cpu.model, cpu.flags, torch.__version__, tuple(sorted(vars(model.dims).items())),
             compute_type, torch.get_num_threads())
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:24]


_LOCK = threading.Lock()


def choose(model: Whisper, compute_type: str) -> KernelChoice:
    """The kernels for `model` (already converted to `compute_type`, on the CPU): from the cache,
    else measured now and cached; `rule` when the mode says so or there is nothing to measure."""
    if compute_type not in ("int8", "float32") or model.device.type != "cpu":
        return KernelChoice(how="none")
    if mode() == "rule" or compute_type == "float32":   # float32's packing: a rule (module docstring)
        return rule(compute_type)
    if not bf16_native():
        return KernelChoice(how="none")   # no native bfloat16: emulating it is never faster
    k = key(model, compute_type)
    path = cache_dir() / "kernels.json"
    with _LOCK:
        entry = _read(path).get(k)
        if isinstance(entry, dict) and isinstance(entry.get("choice"), dict):
            try:
                return apply_check(KernelChoice(**{**entry["choice"], "how": "cached"}))
            except (TypeError, ValueError):
                pass   # an entry this version does not understand: measure again
        choice = measure(model)
        _write(path, k, choice)
    return choice


def _read(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write(path: Path, k: str, choice: KernelChoice) -> None:
    """Add one entry; a cache that cannot be written only means measuring again next time."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        data = _read(path)
        data[k] = {"choice": asdict(choice), "cpu": cpu_info().describe(), "torch": torch.__version__}
        tmp = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
        os.replace(tmp, path)
    except OSError:
        pass


def _best_of(fn: Callable[[], object], repeats: int) -> float:
    fn()   # warm-up: first calls allocate and pick kernels
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


@torch.inference_mode()
def measure(model: Whisper) -> KernelChoice:
    """Time an int8 model's attention candidates on its own layers: an encoder block over a 30 s
    window, and decoding steps of one and of five rows. The encoder and the decoder are chosen
    apart: their shapes differ."""
    from tts_temp.asr.inference import EncodedWindow

    d = model.dims
    block = model.encoder.blocks[0]
    x = torch.randn(1, d.n_audio_ctx, d.n_audio_state, generator=torch.Generator().manual_seed(0))
    seconds: dict[str, float] = {}
    saved = block.attn.attention_dtype, getattr(model, "kernels", None)
    try:
        for name in ENCODER_KERNELS:
            block.attn.attention_dtype = getattr(torch, name)
            seconds[f"encoder block, {name}"] = _best_of(lambda: block(x), 3)
        for name in DECODER_KERNELS:
            apply(model, KernelChoice(decoder_attention=name))
            window = EncodedWindow.from_features(model, x)
            seconds[f"decoding steps, {name}"] = sum(_time_steps(model, window, rows) for rows in (1, 5))
    finally:
        block.attn.attention_dtype = saved[0]
        if saved[1] is not None:
            apply(model, saved[1])
    return KernelChoice(_fastest(seconds, "encoder block", ENCODER_KERNELS),
                        _fastest(seconds, "decoding steps", DECODER_KERNELS), False, "measure", seconds)


def _fastest(seconds: dict[str, float], what: str, candidates: tuple[str, ...]) -> str:
    """The fastest candidate; one other than the first (float32) only when MARGIN faster than it."""
    best = min(candidates, key=lambda c: seconds[f"{what}, {c}"])
    return best if seconds[f"{what}, {best}"] < MARGIN * seconds[f"{what}, {candidates[0]}"] else candidates[0]


STEPS = 24  # decoding steps timed per row count: past the prompt, as in a window's text


def _time_steps(model: Whisper, window, rows: int) -> float:
    """Seconds for STEPS decoding steps of `rows` rows after a three-token prompt (best of two runs)."""
    from tts_temp.asr.inference import CachedInference

    n_vocab = model.dims.n_vocab

    def run() -> None:
        inf = CachedInference(model, window, initial_token_length=3)
        tokens = torch.zeros((rows, 3), dtype=torch.long)
        inf.logits(tokens, window.features)
        for i in range(STEPS):
            tokens = torch.cat([tokens, torch.full((rows, 1), (i * 7919) % n_vocab, dtype=torch.long)], dim=1)
            inf.logits(tokens, window.features)

    return _best_of(run, 2)


def apply_check(choice: KernelChoice) -> KernelChoice:
    """The choice itself, if it names known kernels (a cache entry may come from another version)."""
    if choice.encoder_attention not in ENCODER_KERNELS or choice.decoder_attention not in DECODER_KERNELS:
        raise ValueError(f"unknown attention kernels: {choice.encoder_attention}, {choice.decoder_attention}")
    return choice


def apply(model: Whisper, choice: KernelChoice) -> Whisper:
    """Set the chosen kernels on the model and record the choice as `model.kernels`: an int8 model's
    attention dtypes (the decoder's also sets its caches'), a float32 model's packing (decoder_plan)."""
    apply_check(choice)
    if getattr(model, "compute_type", None) == "int8":
        model.attention_dtype = choice.dtype("decoder")
        model.cross_attention_kernel = "matmul" if choice.decoder_attention.endswith("-matmul") else "sdpa"
        encoder = choice.dtype("encoder")
        for b in model.encoder.blocks:
            b.attn.attention_dtype = None if encoder == torch.float32 else encoder
    model.kernels = choice
    return model
