"""Compute types for a loaded Whisper model: float32, int8 (CPU) and float16 (CUDA).

A compute type is a property of the loaded model, not of the decoding: `apply_compute_type`
changes the weights in place and records the choice on `model.compute_type` (transcribe's
default `fp16` follows it: a float32 model computes in float32 on CUDA too, where whisper would
default to half); the sampler, the fallback policy and the attempt records stay one code path
for every type.

int8 swaps every linear layer of the encoder and the decoder for `Int8Linear` and gives the
decoder an int8 copy of the output projection (`model.decoder.int8_projection`, used by
`inference.project`); the token embedding itself stays for the lookups (float32, or the
checkpoint's half precision when the loader quantises while loading: `quantize_linears`, weights.py).
The kernels are PyTorch's own fbgemm dynamic-quantisation ops (`quantized::linear_prepack` /
`quantized::linear_dynamic`): int8 weights per output channel (symmetric), activations
quantised from their own range with one scale per row (`_row_scaled`), int32 accumulation, float32 out. They ship inside the
torch wheel we already depend on (no new package) and run on any x86-64 CPU (AVX2, AVX-512,
VNNI). docs/benchmarks.md has the measurements behind the choice.

Without VNNI, fbgemm's AVX2 and AVX-512 kernels multiply unsigned 8-bit activations by signed
8-bit weights and add neighbouring pairs into *saturating* 16-bit sums (255 * 127 * 2 overflows
32,767), so large activations against large weights clip silently. There the activations are
quantised to 7 bits (`reduce_range`, PyTorch's own default for fbgemm), which cannot overflow;
with VNNI the sums are 32-bit and the full 8 bits are kept.
"""
from __future__ import annotations

import os
import warnings
from typing import Callable

import torch
from torch import Tensor, nn
from whisper.model import Whisper

from tts_temp.asr import attention, kernels
from tts_temp.asr.decoder_plan import fingerprint, stack_qkv
from tts_temp.errors import UserError

COMPUTE_TYPES = ("float32", "int8", "float16")
DEFAULT_COMPUTE_TYPE = "float32"
_ENGINE = "fbgemm"


def check_compute_type(compute_type: str | None, device: str | torch.device) -> str:
    """The compute type to use on `device` (None = float32); a UserError names what is allowed."""
    kind = torch.device(device).type
    ct = DEFAULT_COMPUTE_TYPE if compute_type is None else str(compute_type)
    if ct not in COMPUTE_TYPES:
        raise UserError(f"compute type must be one of {', '.join(COMPUTE_TYPES)}, got {ct!r}")
    if ct == "int8" and kind != "cpu":
        raise UserError(f"compute type int8 runs on the CPU only (device {kind!r}); use float16 on CUDA")
    if ct == "float16" and kind == "cpu":
        raise UserError("compute type float16 needs a CUDA device; use float32 or int8 on the CPU")
    if ct == "int8" and _ENGINE not in torch.backends.quantized.supported_engines:
        raise UserError(f"compute type int8 needs torch's {_ENGINE} engine, which this torch build lacks")
    return ct


# fbgemm's FBGEMM_ENABLE_INSTRUCTIONS values that select kernels with 32-bit (VNNI) sums
_VNNI_KERNELS = ("AVX512_E1", "AVX512_E1_256")


def fbgemm_has_vnni() -> bool:
    """Whether fbgemm's int8 kernels sum in 32 bits here: the CPU has AVX512-VNNI (torch's own
    test) and fbgemm was not told to use older kernels (FBGEMM_ENABLE_INSTRUCTIONS)."""
    forced = os.environ.get("FBGEMM_ENABLE_INSTRUCTIONS", "").strip().upper()
    if forced and forced not in _VNNI_KERNELS:
        return False
    return bool(torch.cpu._is_vnni_supported())


_ROWS = 1024  # rows quantised at a time


def _quantize_rows(weight: Tensor) -> Tensor:
    """Symmetric int8 per output row (scale = max |w| / 127), a block of rows at a time: each block
    widened to float32 once, no temporary as large as the weight (the output projection's is the
    vocabulary matrix). Each row's scale and integers depend on that row alone, so the blocks give
    the numbers of one whole call."""
    n = weight.shape[0]
    scale = torch.empty(n, dtype=torch.float64)
    zero = torch.zeros(n, dtype=torch.long)
    ints = torch.empty(weight.shape, dtype=torch.int8)
    with warnings.catch_warnings():  # torch marks the quantised tensor type as deprecated
        warnings.simplefilter("ignore", UserWarning)
        for i in range(0, n, _ROWS):
            rows = slice(i, min(i + _ROWS, n))
            block = weight[rows].float()
            scale[rows] = (block.abs().amax(dim=1).clamp_min(1e-12) / 127.0).double()
            ints[rows] = torch.quantize_per_channel(block, scale[rows], zero[rows], 0, torch.qint8).int_repr()
            del block
        return torch._make_per_channel_quantized_tensor(ints, scale, zero, 0)


FEW_ROWS = 8  # calls of at most this many rows keep one range per call (_row_scaled)


def _row_scaled(op: Callable, packed: Tensor, reduce_range: bool, bias: Tensor | None,
                overwrite: bool = False) -> Callable[[Tensor], Tensor]:
    """fbgemm's dynamic product with one activation scale per row, as CTranslate2's int8.

    Why: fbgemm quantises the whole input with one range, so in an encoder window (1,500 frames) a
    loud frame sets the step for the quiet ones; on base that made greedy decoding loop on the
    benchmark clip (a 30 s window of repeated words; text equal to float32's with per-row scales).
    Each row is divided by its own largest magnitude before the call, which then quantises rows
    that all span [-1, 1], and the result is scaled back: y = (W (x / s) + b - b) s + b. It costs
    two passes over the input and three over the output (5-30 % of an encoder product).
    Every layer of a model scales per row: the encoder's frames, the audio features the decoder's
    cross-attention keys are made of, and a window's prompt, whose positions' largest values differ
    by up to ~3x (per row its products are closer to float32: mean relative error 1.6 % against
    2.2 % per call, tiny.en and base; tiny.en's beam search then reads the benchmark clip as three
    windows, as faster-whisper, instead of four).
    A call of at most FEW_ROWS rows (a decoding step: one text, or its beams or best-of samples) is
    passed as it is, one range for the call: there the scaling's six small ops doubled a product's
    time (5 rows: 17 -> 37 us, 5 % of a beam search). On the benchmark clip the text is the same
    either way but for base's greedy decoding, which with per-row steps keeps a sentence that
    float32 and stock whisper skip (docs/benchmarks.md).
    `overwrite`: divide x in place (the caller's temporary, read by nobody after: `Int8EncoderMLP`),
    the same numbers without a second tensor of x's size."""
    tiny = torch.finfo(torch.float32).tiny

    def product(x: Tensor) -> Tensor:
        if x.numel() <= FEW_ROWS * x.shape[-1]:
            return op(x, packed, reduce_range)
        # the largest magnitude, max(max, -min): |x|'s amax exactly, without writing |x| out
        scale = torch.maximum(x.amax(dim=-1, keepdim=True), x.amin(dim=-1, keepdim=True).neg_()).clamp_min_(tiny)
        y = op(x.div_(scale) if overwrite else x / scale, packed, reduce_range)
        if bias is None:
            return y.mul_(scale)
        return y.sub_(bias).mul_(scale).add_(bias)

    return product


class Int8Linear(nn.Module):
    """y = x W^T + b with W stored as int8 per output channel (fbgemm, dynamic activations with one
    scale per row, `_row_scaled`, as every layer of a model has; `row_scaled=False`: fbgemm's one
    range per call)."""

    def __init__(self, weight: Tensor, bias: Tensor | None, row_scaled: bool = False):
        super().__init__()
        self.in_features, self.out_features = weight.shape[1], weight.shape[0]
        self.row_scaled = row_scaled   # one activation scale per row (a model's layers), else per call
        qweight = _quantize_rows(weight.detach())
        b = None if bias is None else bias.detach().float()
        self._packed = torch.ops.quantized.linear_prepack(qweight, b)
        self._bias = b   # the packed product adds it; row scaling takes it out and back (_row_scaled)
        # 7-bit activations where the kernels' 16-bit pair sums could saturate (module docstring)
        self.reduce_range = not fbgemm_has_vnni()

    def forward(self, x: Tensor) -> Tensor:
        flat = x.reshape(-1, self.in_features)
        if flat.dtype != torch.float32:
            flat = flat.float()
        return self.function()(flat).view(*x.shape[:-1], self.out_features)

    def function(self, overwrite: bool = False) -> Callable[[Tensor], Tensor]:
        """The product as a bare call for the decoding loop (decoder_plan.py): float32 input of any
        shape (..., in_features), no module call, no reshapes. `overwrite`: the call may write over
        its input (row scaling in place, `_row_scaled`); only for a temporary nobody reads after."""
        op, packed, reduce_range = torch.ops.quantized.linear_dynamic.default, self._packed, self.reduce_range
        if self.row_scaled:
            return _row_scaled(op, packed, reduce_range, self._bias, overwrite)
        return lambda x: op(x, packed, reduce_range)


class Int8EncoderMLP(nn.Sequential):
    """whisper's MLP (Linear, GELU, Linear) over an int8 encoder's window, its temporaries written
    over: the GELU in place on fc1's output, and fc2's row scaling in place on that (`overwrite`).

    Why: a 30 s window is 1,500 rows of 4 x n_state; stock order holds fc1's output, the GELU's and
    fc2's scaled copy at once (base: three tensors of 12 MB). glibc keeps such freed blocks in its
    heap, so the window's peak memory follows them (docs/benchmarks.md). The numbers are the same
    bit for bit: the same GELU kernel and the same division, written to another place."""

    @staticmethod
    def fits(mlp: nn.Module) -> bool:
        """Whether `mlp` is whisper's Sequential of two int8 products around an exact GELU."""
        return (type(mlp) is nn.Sequential and len(mlp) == 3 and isinstance(mlp[0], Int8Linear)
                and type(mlp[1]) is nn.GELU and mlp[1].approximate == "none" and isinstance(mlp[2], Int8Linear))

    def forward(self, x: Tensor) -> Tensor:
        fc1, _, fc2 = self
        h = torch.ops.aten.gelu_(fc1(x))
        return fc2.function(overwrite=True)(h.view(-1, fc2.in_features)).view(*h.shape[:-1], fc2.out_features)

    def extra_repr(self) -> str:
        bits = 7 if self.reduce_range else 8
        scales = "per row" if self.row_scaled else "per call"
        return f"in_features={self.in_features}, out_features={self.out_features}, int8 ({_ENGINE}, {bits}-bit activations, scaled {scales})"


Take = Callable[[str], Tensor]
"""A weight by its name in the model's state dict, e.g. "encoder.blocks.0.mlp.0.weight"."""


@torch.no_grad()
def quantize_linears(model: Whisper, take: Take | None = None) -> None:
    """Every linear layer of the encoder and the decoder as an `Int8Linear`, and each decoder block's
    q/k/v as one stacked int8 product (`int8_qkv`, one product per decoding step), in place, a layer
    at a time.

    `take(name)` gives each float weight (default: the module's own). The loader gives the
    checkpoint's tensors instead (weights.py), on a model built on the meta device, so the float32
    model is never made: the numbers are the same, since `_quantize_rows` widens each block to
    float32 exactly as a float32 model would hold it. Shapes are checked against the module's.
    """
    take = take or model.get_parameter  # looked up when needed: each float32 layer goes with its swap
    torch.backends.quantized.engine = _ENGINE

    def weight(name: str, like: Tensor | None) -> Tensor | None:
        if like is None:
            return None
        tensor = take(name)
        if not isinstance(tensor, Tensor) or not tensor.is_floating_point() or tensor.shape != like.shape:
            got = tuple(tensor.shape) if isinstance(tensor, Tensor) else type(tensor).__name__
            raise ValueError(f"{name}: {got} where the model has a float {tuple(like.shape)}")
        return tensor

    def swap(parent: nn.Module, child: str, prefix: str) -> None:
        linear = getattr(parent, child)
        # frames, prompt positions and beams of mixed loudness get one activation scale each (_row_scaled)
        setattr(parent, child, Int8Linear(weight(f"{prefix}.weight", linear.weight),
                                          weight(f"{prefix}.bias", linear.bias), row_scaled=True))

    for i, block in enumerate(model.decoder.blocks):  # the self-attention's q, k, v stacked, then each
        attn, prefix = block.attn, f"decoder.blocks.{i}.attn"
        q, k, v = (weight(f"{prefix}.{n}.weight", getattr(attn, n).weight) for n in ("query", "key", "value"))
        qb, vb = weight(f"{prefix}.query.bias", attn.query.bias), weight(f"{prefix}.value.bias", attn.value.bias)
        attn.int8_qkv = Int8Linear(*stack_qkv(q, qb, k, v, vb), row_scaled=True)
        attn.query, attn.key, attn.value = (Int8Linear(w, b, row_scaled=True) for w, b in ((q, qb), (k, None), (v, vb)))
    for side in ("encoder", "decoder"):
        for name, module in list(getattr(model, side).named_modules()):
            for child, layer in list(module.named_children()):
                if isinstance(layer, nn.Linear):
                    swap(module, child, ".".join(filter(None, (side, name, child))))
    for block in model.encoder.blocks:   # whisper's own Sequential, its temporaries written over
        if Int8EncoderMLP.fits(block.mlp):
            block.mlp.__class__ = Int8EncoderMLP


def _linears_quantized(model: Whisper) -> bool:
    return all(hasattr(block.attn, "int8_qkv") for block in model.decoder.blocks) and not any(
        isinstance(m, nn.Linear) for side in (model.encoder, model.decoder) for m in side.modules())


@torch.no_grad()
def apply_compute_type(model: Whisper, compute_type: str | None, device: str | torch.device | None = None) -> Whisper:
    """Convert `model` (in place) to `compute_type` on `device` and return it.

    float32 leaves the weights as loaded, and so does float16 (CUDA): as with whisper's fp16, the
    activations run in half precision and whisper's layers cast their float32 weights per op (its
    LayerNorm computes in float32 and needs float32 weights). int8 replaces
    the encoder's and decoder's linear layers and adds the int8 output projection (CPU).
    Converting a model that already has a non-float32 type is refused (load it again instead).
    """
    device = model.device if device is None else torch.device(device)
    ct = check_compute_type(compute_type, device)
    attention.adopt(model)
    current = getattr(model, "compute_type", DEFAULT_COMPUTE_TYPE)
    if current == ct:
        model.compute_type = ct  # recorded, so transcribe computes in float32 on CUDA too
        if not hasattr(model, "kernels"):
            kernels.apply(model, kernels.choose(model, ct))
        return model
    if current != DEFAULT_COMPUTE_TYPE:
        raise ValueError(f"the model is already {current}; load it again to use {ct}")
    if ct == "int8":
        torch.backends.quantized.engine = _ENGINE
        if not _linears_quantized(model):  # the loader may have done it while loading (weights.py)
            quantize_linears(model)
        # the decoder plan remakes this copy whenever the embedding changes (decoder_plan.py)
        model.decoder.int8_projection = Int8Linear(model.decoder.token_embedding.weight, None, row_scaled=True)
        model.decoder.int8_projection.source = fingerprint(model.decoder.token_embedding.weight)
    model.compute_type = ct
    # attention dtypes (int8) and packing (float32): what measured faster on this CPU (kernels.py)
    return kernels.apply(model, kernels.choose(model, ct))
