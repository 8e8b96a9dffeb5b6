"""The encoder's attention, computed one fixed way, never chosen by whisper's process-wide flag.

Why: whisper picks between SDPA and its explicit softmax (which returns the attention weights)
by reading `MultiHeadAttention.use_sdpa`, a class attribute that its word alignment flips for
the whole process (`disable_sdpa()`). With several threads, one thread's word timestamps would
change another thread's encoder output (the explicit path rounds differently, and an int8
model's bfloat16 encoder attention would silently run in float32). The encoder never needs the
weights, so its attention always runs SDPA (stock whisper's default path). The decoder's modules
stay whisper's: only language detection and word alignment run them, and transcribe holds one
lock around both (transcribe.py), so the flag is never flipped under another of our forwards.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from whisper.model import MultiHeadAttention


class EncoderAttention(MultiHeadAttention):
    """whisper's attention, always through SDPA; `attention_dtype` (None: the input's) is what the
    product runs in (bfloat16 for an int8 model's encoder, see quantize.py)."""

    attention_dtype: torch.dtype | None = None

    def qkv_attention(self, q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None = None):
        n_ctx = q.shape[1]
        dtype = q.dtype
        q, k, v = (x.view(*x.shape[:2], self.n_head, -1).permute(0, 2, 1, 3) for x in (q, k, v))
        dt = self.attention_dtype
        if dt is not None and dt != dtype:
            q, k, v = q.to(dt), k.to(dt), v.to(dt)
        a = F.scaled_dot_product_attention(q, k, v, is_causal=mask is not None and n_ctx > 1)
        return a.permute(0, 2, 1, 3).flatten(start_dim=2).to(dtype), None


def adopt(model: nn.Module) -> nn.Module:
    """Make the encoder's whisper attention modules `EncoderAttention` (in place, idempotent)."""
    for module in model.encoder.modules():
        if type(module) is MultiHeadAttention:
            module.__class__ = EncoderAttention
    return model
