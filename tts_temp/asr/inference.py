"""A faster `whisper.decoding.Inference`: the decoder forward with a pre-allocated KV cache.

Stock whisper grows its self-attention cache with `torch.cat` through forward hooks at every
step and recomputes the cross-attention keys/values of the audio for every decode call, i.e.
for every temperature tried. Here a window is encoded once (`EncodedWindow`): the encoder
output and each layer's cross-attention K/V are computed a single time and shared by every
attempt and by word timestamps; the self-attention cache is one buffer written in place.

The forward runs the model's own weights (resolved once into a `DecoderPlan`) through whisper's
products with the same attention call, so logits are stock whisper's up to float32 rounding (fused
products sum in another order; see decoder_plan) and T = 0 gives the same text.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor
from whisper.decoding import Inference
from whisper.model import Whisper

from tts_temp.asr.decoder_plan import DecoderPlan
from tts_temp.asr.pages import trim_heap


@dataclass
class EncodedWindow:
    """One 30 s window after the encoder: features plus per-layer cross-attention (K, V)."""

    features: Tensor  # (1, n_audio_ctx, n_audio_state)
    cross_kv: list[tuple[Tensor, Tensor]]  # per layer, (1, n_head, n_audio_ctx, head_dim)

    @classmethod
    @torch.no_grad()
    def encode(cls, model: Whisper, mel: Tensor) -> "EncodedWindow":
        features = model.encoder(mel.unsqueeze(0) if mel.ndim == 2 else mel)
        if features.device.type == "cpu":
            # the encoder's freed temporaries (tens of MB a window) would stay resident in glibc's
            # heap beside what decoding allocates; handing them back lowers a transcription's peak
            # memory (base int8 greedy, with the in-place MLP: 298-342 MB -> 281-305) for ~1 % of its time
            # (docs/benchmarks.md)
            trim_heap()
        return cls.from_features(model, features)

    @classmethod
    @torch.no_grad()
    def from_features(cls, model: Whisper, features: Tensor) -> "EncodedWindow":
        # stored per head, contiguous: attention reads them at every step without a strided copy;
        # in the model's attention dtype (int8 models: bfloat16 where it measured faster, kernels.py)
        dt = getattr(model, "attention_dtype", features.dtype)
        cross = [(_heads(b.cross_attn.key(features), b.cross_attn.n_head).to(dt).contiguous(),
                  _heads(b.cross_attn.value(features), b.cross_attn.n_head).to(dt).contiguous())
                 for b in model.decoder.blocks]
        return cls(features, cross)


def _heads(x: Tensor, n_head: int) -> Tensor:
    """(batch, positions, state) -> (batch, heads, positions, head_dim), a view (whisper's split)."""
    return x.view(*x.shape[:2], n_head, -1).transpose(1, 2)


def _merge(x: Tensor) -> Tensor:
    """The inverse of `_heads` (whisper's merge), as one tensor of (batch, positions, state)."""
    return x.transpose(1, 2).flatten(start_dim=2)


def self_attention_dtype(model: Whisper, default: torch.dtype) -> torch.dtype:
    """The self-attention cache's dtype: the model's attention dtype, except where cross-attention
    runs as two matmuls (that path is for bfloat16 cross K/V only; the cache stays float32 there)."""
    if getattr(model, "cross_attention_kernel", "sdpa") == "matmul":
        return default
    return getattr(model, "attention_dtype", default)


def _matmul_attention(q: Tensor, k: Tensor, v: Tensor, n_head: int) -> Tensor:
    """Cross-attention over bfloat16 K/V as two matmuls with a float32 softmax: half the bytes of
    float32 K/V, where SDPA's own bfloat16 kernel is slow for a few queries (kernels.py measures
    which is faster). All rows' queries stacked as positions of one sequence, as in the SDPA path.
    The scale is applied to q in float32; the scores come out of the matmul in bfloat16."""
    b, t, c = q.shape
    qh = _heads((q * (c // n_head) ** -0.5).reshape(1, b * t, c), n_head).to(k.dtype)
    weights = torch.matmul(qh, k.transpose(-1, -2)).float().softmax(dim=-1).to(v.dtype)
    return _merge(torch.matmul(weights, v)).reshape(b, t, c).float()


class CachedInference(Inference):
    """Decoder forward passes over a fixed window with an in-place self-attention cache.

    Two shortcuts on the first call (the prompt and the SOT sequence), neither of which changes
    a logit that whisper reads: rows that are all the same (the beams or best-of samples start
    from one prompt) run through the decoder once and fill every row of the cache; and given
    `sot_index`, only the SOT position (no-speech probability) and the last position (the next
    token) are projected onto the vocabulary, the only two `DecodingTask` reads. The other
    positions of that first result are left unset (`torch.empty`); without `sot_index` every
    position is projected.
    """

    def __init__(self, model: Whisper, window: EncodedWindow, initial_token_length: int,
                 sot_index: int | None = None, plan: DecoderPlan | None = None):
        self.model = model
        self.window = window
        self.initial_token_length = initial_token_length
        self.sot_index = sot_index
        self.plan = plan if plan is not None else DecoderPlan.of(model, window.features.dtype)
        # keys and values of every layer in one buffer: one write per layer and step, one copy per
        # beam reorder; (n_layer, 2, batch, n_head, n_text_ctx, head_dim): each head's keys lie
        # together, so attention reads them in one run instead of 64 values at a stride of n_state
        # (the same numbers out; fewer cache misses, docs/benchmarks.md)
        self.kv: Tensor | None = None
        self.spare: Tensor | None = None  # beam search's second buffer (rearrange_kv_cache)
        self.length = 0  # positions already in the cache
        self.common = 0  # positions every row of the cache holds alike (the shared prompt)

    def _allocate(self, batch: int, dtype: torch.dtype, device: torch.device) -> None:
        d = self.model.dims
        self.kv = torch.empty((d.n_text_layer, 2, batch, d.n_text_head, d.n_text_ctx, d.n_text_state // d.n_text_head),
                              dtype=dtype, device=device)
        self.spare = None
        self.common = 0

    @torch.no_grad()
    def logits(self, tokens: Tensor, audio_features: Tensor) -> Tensor:
        batch = tokens.shape[0]
        if self.kv is None or self.kv.shape[2] != batch:
            # the model's attention dtype (int8 models: bfloat16 where it measured faster, kernels.py)
            self._allocate(batch, self_attention_dtype(self.model, self.window.features.dtype), tokens.device)
            self.length = 0
        start, end = self.length, tokens.shape[1]
        new = tokens[:, start:]
        shared = batch > 1 and start == 0 and bool((new == new[:1]).all())
        x = self._hidden(new[:1] if shared else new, start, end)
        self.length = end
        if start == 0:
            self.common = end if shared or batch == 1 else 0
        if start > 0 or self.sot_index is None:
            logits = self.plan.project(x).float()
            return logits.expand(batch, -1, -1).contiguous() if shared else logits
        wanted = sorted({self.sot_index, end - 1})
        logits = torch.empty((batch, end, self.model.dims.n_vocab), dtype=torch.float32, device=x.device)
        logits[:, wanted] = self.plan.project(x[:, wanted]).float()
        return logits

    def _hidden(self, new: Tensor, start: int, end: int) -> Tensor:
        """The decoder's final hidden states for the new tokens; fills the cache at start:end
        (in every batch row when `new` has one row: the rows are identical).

        whisper's block, op for op: x + attn(ln(x)), x + cross_attn(ln(x)), x + mlp(ln(x)).
        """
        plan = self.plan
        x = (F.embedding(new, plan.embedding) + plan.positions[start:end]).to(plan.dtype)
        rows, length, state = x.shape
        causal = length > 1
        low = self.kv.dtype != x.dtype  # attention in a lower precision (bfloat16 for int8)
        for i, b in enumerate(plan.blocks):
            q, kv_new = b.qkv(b.attn_ln(x)).split((state, 2 * state), dim=-1)
            layer = self.kv[i]
            n = b.n_head
            # (rows, length, 2, heads, head_dim) -> (2, rows, heads, length, head_dim); broadcast
            # over the batch for one row
            layer[:, :, :, start:end] = kv_new.view(rows, length, 2, n, state // n).permute(2, 0, 3, 1, 4)
            k, v = layer[:, :rows, :, :end]
            if low:
                q = q.to(k.dtype)
            out = _merge(F.scaled_dot_product_attention(_heads(q, n), k, v, is_causal=causal))
            x = x + b.attn_out(out.to(x.dtype) if low else out)
            out = self._cross_attention(i, b.cross_query(b.cross_ln(x)), n)
            x = x + b.cross_out(out.to(x.dtype) if low else out)
            x = x + b.fc2(F.gelu(b.fc1(b.mlp_ln(x))))
        return plan.ln(x)

    def _cross_attention(self, i: int, q: Tensor, n_head: int) -> Tensor:
        k, v = self.window.cross_kv[i]
        if getattr(self.model, "cross_attention_kernel", "sdpa") == "matmul":
            return _matmul_attention(q, k, v, n_head)
        q = q.to(k.dtype)
        if q.shape[0] == 1:  # exactly stock whisper's call
            return _merge(F.scaled_dot_product_attention(_heads(q, n_head), k, v))
        # Beams / best-of samples share one audio: stock broadcasts K/V over the batch, which
        # takes a much slower path. Stacking the rows' queries as positions of one sequence is the
        # same attention (no mask across the audio) in one fast call; sums may round differently.
        b, t, c = q.shape
        out = F.scaled_dot_product_attention(_heads(q.reshape(1, b * t, c), n_head), k, v)
        return _merge(out).reshape(b, t, c)

    def rearrange_kv_cache(self, source_indices) -> None:
        """Beam search reorders rows: one gather of the filled part into a second buffer, which
        becomes the cache: faster than copying the changed rows in place, which gathers them
        first and then scatters them back (measured in docs/benchmarks.md). The shared prompt is the
        same in every row, so only the positions after it are gathered; both buffers hold the prompt
        (copied once, when the second buffer is made)."""
        if self.kv is None:
            return
        order = [int(i) for i in source_indices]
        if order == list(range(len(order))):  # most steps: no row moves
            return
        idx = torch.tensor(order, device=self.kv.device)
        c, n = self.common, self.length
        if self.spare is None:
            self.spare = torch.empty_like(self.kv)
            self.spare[..., :c, :] = self.kv[..., :c, :]
        torch.index_select(self.kv[..., c:n, :], 2, idx, out=self.spare[..., c:n, :])
        self.kv, self.spare = self.spare, self.kv

    def cleanup_caching(self) -> None:
        self.kv = self.spare = None
        self.length = self.common = 0
