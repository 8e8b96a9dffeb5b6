"""A Whisper decoder resolved once into plain tensors and products, for the per-token loop.

Why: at int8 a decoding step of tiny is short, and going through whisper's modules was a sizeable
share of it (measured in docs/benchmarks.md): every `nn.Module`
call, whisper's `LayerNorm` casting to float32 and back, its `Linear` casting the weights per
call, three q/k/v products. A plan holds what the loop needs in the form it needs: weights already
in the compute dtype, q/k/v stacked into one product, the int8 kernels bound to their packed
weights, the output projection as one matrix in the layout its kernel streams. The products and their order are
whisper's, but fused and packed products sum in another order: float32 logits are stock's up to
float32 rounding, not bit for bit (tests/test_asr_decoder_plan.py bounds the gap, docs/benchmarks.md
gives its size). That is far below what moves a token: float32 text stays identical to stock
whisper's (the parity tests), though a sampled draw that falls on a rounding edge could differ.

A plan is made once per model and dtype and remade when a decoder weight changes: the key is
the weights' content (`fingerprint`), not a version counter, which writes through `.data` or
`torch.no_grad()` views do not always move. An int8 model's projection is an int8 copy of the
embedding, so it is remade with the plan when the embedding changes.
"""
from __future__ import annotations

import functools
import threading
import weakref
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from whisper.model import Whisper

from tts_temp.asr.pages import trim_heap

Product = Callable[[Tensor], Tensor]


@dataclass(frozen=True)
class Norm:
    """whisper's LayerNorm: computed in float32, returned in the input's dtype."""

    weight: Tensor
    bias: Tensor
    eps: float

    def __call__(self, x: Tensor) -> Tensor:
        if x.dtype == torch.float32:  # two dispatches fewer, 13 norms a step
            return F.layer_norm(x, self.weight.shape, self.weight, self.bias, self.eps)
        return F.layer_norm(x.float(), self.weight.shape, self.weight, self.bias, self.eps).to(x.dtype)

    @classmethod
    def of(cls, ln: nn.LayerNorm) -> "Norm":
        return cls(ln.weight.detach(), ln.bias.detach(), ln.eps)


@dataclass(frozen=True)
class BlockPlan:
    """One residual attention block of the decoder."""

    attn_ln: Norm
    qkv: Product  # self-attention query, key and value in one product: (..., 3 * n_state)
    attn_out: Product
    cross_ln: Norm
    cross_query: Product
    cross_out: Product
    mlp_ln: Norm
    fc1: Product
    fc2: Product
    n_head: int


@dataclass(frozen=True)
class DecoderPlan:
    blocks: tuple[BlockPlan, ...]
    embedding: Tensor  # (n_vocab, n_state): the token lookups (an int8 model's may be half precision)
    positions: Tensor  # (n_text_ctx, n_state)
    ln: Norm
    project: Product  # final hidden states -> logits over the vocabulary
    dtype: torch.dtype  # what the blocks compute in

    @classmethod
    def of(cls, model: Whisper, dtype: torch.dtype) -> "DecoderPlan":
        """The model's plan for `dtype`, made at the first call and kept while its weights stay.

        Hashing reads every decoder weight once: resolve a plan once per transcription and pass
        it on, rather than once per decode."""
        key = (dtype, *(fingerprint(p) for p in model.decoder.parameters()))
        with _LOCK:  # several threads may ask for the same model's plan at once
            cached = _PLANS.get(model)
            if cached is None or cached[0] != key:
                cached = (key, _make_plan(model, dtype))
                _PLANS[model] = cached
            return cached[1]


_PLANS: "weakref.WeakKeyDictionary[Whisper, tuple[tuple, DecoderPlan]]" = weakref.WeakKeyDictionary()
_LOCK = threading.RLock()


def fingerprint(tensor: Tensor) -> tuple:
    """Where a tensor lives and a hash of its content: equal exactly when the weights are unchanged
    (up to hash collisions), however they were written."""
    t = tensor.detach()
    if not t.is_contiguous() and t.ndim == 2 and t.T.is_contiguous():
        t = t.T  # a transposed view (the loaded token embedding, weights.py): hashed without a copy
    return (t.data_ptr(), tuple(t.shape), t.dtype, torch.hash_tensor(t.contiguous()).view(torch.int64).item())


def _float_product(weight: Tensor, bias: Tensor | None, dtype: torch.dtype) -> Product:
    """whisper's Linear: `F.linear` with the weights in the activations' dtype (cast once here)."""
    return functools.partial(F.linear, weight=weight.detach().to(dtype),
                             bias=None if bias is None else bias.detach().to(dtype))


def _product(layer: nn.Module, dtype: torch.dtype) -> Product:
    function = getattr(layer, "function", None)  # an int8 layer (quantize.Int8Linear)
    return function() if function is not None else _float_product(layer.weight, layer.bias, dtype)


def stacked_qkv(attn: nn.Module) -> tuple[Tensor, Tensor]:
    """The (weight, bias) of an attention's query, key and value as one product (..., 3 * n_state)."""
    return stack_qkv(attn.query.weight, attn.query.bias, attn.key.weight, attn.value.weight, attn.value.bias)


def stack_qkv(query: Tensor, query_bias: Tensor, key: Tensor, value: Tensor,
              value_bias: Tensor) -> tuple[Tensor, Tensor]:
    """`stacked_qkv` from the tensors themselves (a loader has them before the module exists).
    whisper's key has no bias: its third of the bias is zero."""
    return torch.cat([query, key, value]), torch.cat([query_bias, torch.zeros_like(query_bias), value_bias])


def _qkv(attn: nn.Module, dtype: torch.dtype) -> Product:
    """query, key, value stacked: one pass over h per step (and, at int8, one quantisation of h;
    per-channel weight scales make that equal to three separate int8 products)."""
    int8 = getattr(attn, "int8_qkv", None)
    return int8.function() if int8 is not None else _float_product(*stacked_qkv(attn), dtype)


_HALF_BLOCK = 4096  # vocabulary rows packed at a time: packing widens one block to float32 at a time (base: 8 MB)


@functools.lru_cache(maxsize=1)
def half_products() -> bool:
    """Whether fbgemm's product with half-precision weights runs here (it needs fbgemm and AVX2)."""
    try:
        w = torch.ops.quantized.linear_prepack_fp16(torch.ones(16, 16), None)
        return torch.equal(torch.ops.quantized.linear_dynamic_fp16(torch.ones(2, 16), w), torch.full((2, 16), 16.0))
    except (RuntimeError, AttributeError):
        return False


def _half_blocks(embedding: Tensor) -> list | None:
    """fbgemm's packed half-precision copies of a half-precision embedding, a block of rows each (None
    where fbgemm cannot pack here, e.g. under the qnnpack engine). Each widened block's heap is given
    back before the next is packed (tiny.en: 50 MB held, 73 MB without)."""
    blocks = []
    for i in range(0, embedding.shape[0], _HALF_BLOCK):
        try:
            blocks.append(torch.ops.quantized.linear_prepack_fp16(
                embedding[i:i + _HALF_BLOCK].to(torch.float32, memory_format=torch.contiguous_format), None))
        except RuntimeError:
            return None
        trim_heap()
    return blocks


class FloatProjection:
    """Logits for float hidden states: one pass over the weights for all rows (beams, best-of
    samples, positions).

    A half-precision embedding (a float32 model from a half-precision checkpoint keeps its token
    embedding so, weights.py) is multiplied by fbgemm's packed half-precision copy of it: the
    products and sums are float32 (the weights widen exactly in registers), the bytes streamed half
    of float32's, and the one kernel serves every row count. On an AMD EPYC it measured 2.3 ms for
    one row and 3.5 ms for five (base), against MKL's 4.3 and 18 ms on the float32 matrix and 5.6 ms
    for oneDNN's packed float32 copy, which was a second float32 vocabulary matrix (docs/benchmarks.md).
    The lookup table and the packed copy together take the bytes of one float32 matrix. It is packed
    a block of vocabulary rows at a time, so packing never widens the whole matrix at once.

    A float32 embedding: one or two rows multiply by its contiguous (n_state, n_vocab) transpose,
    which measured faster than `F.linear(x, embedding)` (stock whisper's `x @ W.T`) and than
    `(embedding @ x.T).T`. A model from `weights.load_model` stores its embedding as a view of that
    transpose, so this is no copy; any other model's embedding is copied once here. With more rows
    (beam search, best-of) MKL's float32 kernel turns compute-bound; oneDNN's matmul on weights
    packed for that batch streams them once, so the first such call packs them (the copy is kept,
    one more copy of the vocabulary matrix) where that measured faster on this CPU (`pack`,
    kernels.py). The sums may round differently from stock.
    """

    def __init__(self, embedding: Tensor, dtype: torch.dtype, pack: bool = True):
        self.blocks: list | None = None   # fbgemm's packed half-precision blocks
        self.packed: Tensor | None = None  # oneDNN's packed float32 copy
        if embedding.dtype == torch.float16 and dtype == torch.float32 and embedding.device.type == "cpu":
            self.blocks = _half_blocks(embedding.detach())
        if self.blocks is not None:
            self.embedding = self.matrix = None
            self.can_pack = False
            return
        self.matrix = embedding.detach().T.to(dtype, memory_format=torch.contiguous_format)
        self.embedding = self.matrix.T
        self.can_pack = (pack and self.embedding.device.type == "cpu" and dtype == torch.float32
                         and torch.backends.mkldnn.is_available())

    def __call__(self, x: Tensor) -> Tensor:
        if self.blocks is not None:
            parts = [torch.ops.quantized.linear_dynamic_fp16(x, block) for block in self.blocks]
            return parts[0] if len(parts) == 1 else torch.cat(parts, -1)
        rows = x.numel() // x.shape[-1]
        if rows < 3 or not self.can_pack:
            return x @ self.matrix
        if self.packed is None:
            self.packed = torch.ops.mkldnn._reorder_linear_weight(self.embedding, rows)
        return torch.ops.mkldnn._linear_pointwise(x, self.packed, None, "none", [None], "")


def _projection(model: Whisper, dtype: torch.dtype) -> Product:
    """Hidden states -> logits: an int8 model has its own int8 projection (quantize.py), remade here
    when the embedding it copies has changed."""
    int8 = getattr(model.decoder, "int8_projection", None)
    embedding = model.decoder.token_embedding.weight
    if int8 is None:   # packing only where it measured faster on this CPU (kernels.py)
        return FloatProjection(embedding, dtype, getattr(getattr(model, "kernels", None), "pack_projection", True))
    source = fingerprint(embedding)
    if getattr(int8, "source", None) != source:
        int8 = type(int8)(embedding, None, row_scaled=int8.row_scaled)
        int8.source = source
        model.decoder.int8_projection = int8
    return int8.function()


@torch.no_grad()
def _make_plan(model: Whisper, dtype: torch.dtype) -> DecoderPlan:
    dec = model.decoder
    blocks = tuple(
        BlockPlan(attn_ln=Norm.of(b.attn_ln), qkv=_qkv(b.attn, dtype), attn_out=_product(b.attn.out, dtype),
                  cross_ln=Norm.of(b.cross_attn_ln), cross_query=_product(b.cross_attn.query, dtype),
                  cross_out=_product(b.cross_attn.out, dtype), mlp_ln=Norm.of(b.mlp_ln),
                  fc1=_product(b.mlp[0], dtype), fc2=_product(b.mlp[2], dtype), n_head=b.attn.n_head)
        for b in dec.blocks)
    return DecoderPlan(blocks, dec.token_embedding.weight.detach(), dec.positional_embedding.detach(),
                       Norm.of(dec.ln), _projection(model, dtype), dtype)
