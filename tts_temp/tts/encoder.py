"""Text encoder: symbol ids -> one vector per HMM state, for tts_temp's voices and Coqui's alike.

Embedding, a few convolutions for local context, a BiLSTM for the whole sentence, then each phone
becomes `states_per_phone` states (OverFlow uses 2 states per phone) in one of two ways:
- `split_lstm=False` (tts_temp's voices): a linear layer expands the BiLSTM's output;
- `split_lstm=True` (Coqui's): the BiLSTM is `states_per_phone` times as wide and its output is cut
  into the states.
`mask_padding` zeroes padded positions after every convolution, so an item's states never depend on
the batch it is in; Coqui's encoder does not, and the port keeps that for parity.
"""
from __future__ import annotations

import re

import torch
from torch import nn


class Encoder(nn.Module):
    def __init__(self, n_symbols: int, dim: int = 256, n_convs: int = 3, kernel: int = 5,
                 states_per_phone: int = 2, dropout: float = 0.1, split_lstm: bool = False,
                 mask_padding: bool = True):
        super().__init__()
        self.states_per_phone = states_per_phone
        self.mask_padding = mask_padding
        self.embedding = nn.Embedding(n_symbols, dim, padding_idx=0)
        self.convs = nn.ModuleList(
            nn.Sequential(nn.Conv1d(dim, dim, kernel, padding=kernel // 2), nn.BatchNorm1d(dim), nn.ReLU(),
                          nn.Dropout(dropout))
            for _ in range(n_convs))
        width = states_per_phone if split_lstm else 1
        self.lstm = nn.LSTM(dim, (dim // 2) * width, batch_first=True, bidirectional=True)
        self.expand = None if split_lstm else nn.Linear(dim, dim * states_per_phone)
        self.dim = dim

    @property
    def n_symbols(self) -> int:
        return self.embedding.num_embeddings

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """ids (B, L), lengths (B,) -> states (B, L * states_per_phone, dim), state counts (B,)."""
        x = self.embedding(ids).transpose(1, 2)
        mask = (torch.arange(ids.shape[1], device=ids.device)[None] < lengths[:, None]).unsqueeze(1)
        for conv in self.convs:
            x = conv(x) * mask if self.mask_padding else conv(x)
        x = x.transpose(1, 2)
        packed = nn.utils.rnn.pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        x, _ = self.lstm(packed)
        x, _ = nn.utils.rnn.pad_packed_sequence(x, batch_first=True, total_length=ids.shape[1])
        b, l, _ = x.shape
        states = x if self.expand is None else self.expand(x)
        return states.reshape(b, l * self.states_per_phone, self.dim), lengths * self.states_per_phone


# Coqui's encoder keys -> Encoder's.
_COQUI_ENCODER_NAMES = [(r"^encoder\.emb\.", "encoder.embedding."),
                        (r"^encoder\.convolutions\.(\d+)\.convolution1d\.", r"encoder.convs.\1.0."),
                        (r"^encoder\.convolutions\.(\d+)\.batch_normalization\.", r"encoder.convs.\1.1.")]


def coqui_encoder_key(key: str) -> str:
    """One key of a Coqui OverFlow state dict -> the key of the same tensor in an `encoder` Encoder
    (keys outside the encoder come back unchanged)."""
    for pattern, repl in _COQUI_ENCODER_NAMES:
        key = re.sub(pattern, repl, key)
    return key
