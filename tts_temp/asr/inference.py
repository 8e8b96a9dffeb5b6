"""A faster `whisper.decoding.Inference`: the decoder forward with a pre-allocated KV cache.

Stock whisper grows its self-attention cache with `torch.cat` through forward hooks at every
step and recomputes the cross-attention keys/values of the audio for every decode call, i.e.
for every temperature tried. Here a window is encoded once (`EncodedWindow`): the encoder
output and each layer's cross-attention K/V are computed a single time and shared by every
attempt and by word timestamps; the self-attention cache is one buffer written in place.

The forward uses the model's own modules (layer norms, projections, MLPs) in whisper's order
with the same attention call, so logits match stock whisper's and T = 0 gives the same text.
"""
from __future__ import annotations

import weakref
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor
from whisper.decoding import Inference
from whisper.model import Whisper


@dataclass
class EncodedWindow:
    """One 30 s window after the encoder: features plus per-layer cross-attention (K, V)."""

    features: Tensor  # (1, n_audio_ctx, n_audio_state)
    cross_kv: list[tuple[Tensor, Tensor]]

    @classmethod
    @torch.no_grad()
    def encode(cls, model: Whisper, mel: Tensor) -> "EncodedWindow":
        features = model.encoder(mel.unsqueeze(0) if mel.ndim == 2 else mel)
        cross = [(b.cross_attn.key(features), b.cross_attn.value(features)) for b in model.decoder.blocks]
        return cls(features, cross)


_VOCAB: "weakref.WeakKeyDictionary[Whisper, tuple[tuple, Tensor]]" = weakref.WeakKeyDictionary()


def _vocab_matrix(model: Whisper, dtype: torch.dtype) -> Tensor:
    """The output projection as a contiguous (n_state, n_vocab) matrix, made once per model.

    Multiplying by it is about twice as fast on the CPU as by the transposed view of the
    embedding that stock whisper uses (a different GEMV kernel; sums may round differently).
    """
    weight = model.decoder.token_embedding.weight
    key = (weight.data_ptr(), weight._version, dtype)
    cached = _VOCAB.get(model)
    if cached is None or cached[0] != key:
        cached = (key, weight.detach().to(dtype).T.contiguous())
        _VOCAB[model] = cached
    return cached[1]


def _project(model: Whisper, x: Tensor) -> Tensor:
    """Logits for every position of x (batch, tokens, n_state) over the vocabulary.

    One batch row (greedy) multiplies by the contiguous (n_state, n_vocab) matrix. Several rows
    (beams, best-of samples) multiply the embedding itself by the transposed rows, i.e. with the
    vocabulary as the long dimension of the product: measured about twice as fast as `x @ W.T`
    for 5 rows on the CPU (sums may round differently).
    """
    if x.shape[0] == 1:
        return x @ _vocab_matrix(model, x.dtype)
    rows = x.reshape(-1, x.shape[-1])
    weight = model.decoder.token_embedding.weight
    if weight.dtype != x.dtype:
        weight = _vocab_matrix(model, x.dtype).T
    return (weight @ rows.T).T.contiguous().view(*x.shape[:-1], -1)


def _heads(x: Tensor, n_head: int) -> Tensor:
    return x.view(*x.shape[:2], n_head, -1).permute(0, 2, 1, 3)


def _merge(x: Tensor) -> Tensor:
    return x.permute(0, 2, 1, 3).flatten(start_dim=2)


class CachedInference(Inference):
    """Decoder forward passes over a fixed window with an in-place self-attention cache."""

    def __init__(self, model: Whisper, window: EncodedWindow, initial_token_length: int):
        self.model = model
        self.window = window
        self.initial_token_length = initial_token_length
        self.keys: Tensor | None = None  # (n_layer, batch, n_text_ctx, n_state)
        self.values: Tensor | None = None
        self.length = 0  # positions already in the cache

    def _allocate(self, batch: int, dtype: torch.dtype, device: torch.device) -> None:
        d = self.model.dims
        shape = (d.n_text_layer, batch, d.n_text_ctx, d.n_text_state)
        self.keys = torch.empty(shape, dtype=dtype, device=device)
        self.values = torch.empty(shape, dtype=dtype, device=device)

    @torch.no_grad()
    def logits(self, tokens: Tensor, audio_features: Tensor) -> Tensor:
        if self.keys is None or self.keys.shape[1] != tokens.shape[0]:
            self._allocate(tokens.shape[0], self.window.features.dtype, tokens.device)
            self.length = 0
        new = tokens[:, self.length:]
        start, end = self.length, tokens.shape[1]
        dec = self.model.decoder
        x = dec.token_embedding(new) + dec.positional_embedding[start:end]
        x = x.to(self.window.features.dtype)
        for i, block in enumerate(dec.blocks):
            x = self._self_attention(i, block, x, start, end)
            x = self._cross_attention(i, block, x)
            x = x + block.mlp(block.mlp_ln(x))
        self.length = end
        x = dec.ln(x)
        return _project(self.model, x).float()

    def _self_attention(self, i: int, block, x: Tensor, start: int, end: int) -> Tensor:
        attn = block.attn
        h = block.attn_ln(x)
        q = attn.query(h)
        self.keys[i, :, start:end] = attn.key(h)
        self.values[i, :, start:end] = attn.value(h)
        k, v = self.keys[i, :, :end], self.values[i, :, :end]
        n = attn.n_head
        out = F.scaled_dot_product_attention(_heads(q, n), _heads(k, n), _heads(v, n), is_causal=end - start > 1)
        return x + attn.out(_merge(out))

    def _cross_attention(self, i: int, block, x: Tensor) -> Tensor:
        attn = block.cross_attn
        q = attn.query(block.cross_attn_ln(x))
        k, v = self.window.cross_kv[i]
        n = attn.n_head
        if q.shape[0] == 1:  # exactly stock whisper's call
            out = F.scaled_dot_product_attention(_heads(q, n), _heads(k, n), _heads(v, n))
            return x + attn.out(_merge(out))
        # Beams / best-of samples share one audio: stock broadcasts K/V over the batch, which
        # takes a slow path (~20x). Stacking the rows' queries as positions of one sequence is the
        # same attention (no mask across the audio) in one fast call; sums may round differently.
        b, t, c = q.shape
        stacked = q.reshape(1, b * t, c)
        out = F.scaled_dot_product_attention(_heads(stacked, n), _heads(k, n), _heads(v, n))
        return x + attn.out(_merge(out).reshape(b, t, c))

    def rearrange_kv_cache(self, source_indices) -> None:
        """Beam search reorders rows: copy only the filled part of the cache."""
        if self.keys is None or list(source_indices) == list(range(len(source_indices))):
            return
        idx = torch.as_tensor(source_indices, device=self.keys.device)
        n = self.length
        self.keys[:, :, :n] = self.keys[:, idx, :n]
        self.values[:, :, :n] = self.values[:, idx, :n]

    def cleanup_caching(self) -> None:
        self.keys = self.values = None
        self.length = 0
