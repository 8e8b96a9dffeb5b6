"""Text encoder: symbol ids -> one vector per HMM state.

Embedding, a few convolutions for local context, a BiLSTM for the whole sentence, then each phone
is expanded into `states_per_phone` states by a linear layer (OverFlow uses 2 states per phone).
"""
from __future__ import annotations

import torch
from torch import nn


class Encoder(nn.Module):
    def __init__(self, n_symbols: int, dim: int = 256, n_convs: int = 3, kernel: int = 5,
                 states_per_phone: int = 2, dropout: float = 0.1):
        super().__init__()
        self.states_per_phone = states_per_phone
        self.embedding = nn.Embedding(n_symbols, dim, padding_idx=0)
        self.convs = nn.ModuleList(
            nn.Sequential(nn.Conv1d(dim, dim, kernel, padding=kernel // 2), nn.BatchNorm1d(dim), nn.ReLU(),
                          nn.Dropout(dropout))
            for _ in range(n_convs))
        self.lstm = nn.LSTM(dim, dim // 2, batch_first=True, bidirectional=True)
        self.expand = nn.Linear(dim, dim * states_per_phone)
        self.dim = dim

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """ids (B, L), lengths (B,) -> states (B, L * states_per_phone, dim), state counts (B,)."""
        mask = (torch.arange(ids.shape[1], device=ids.device)[None] < lengths[:, None]).unsqueeze(1)
        x = self.embedding(ids).transpose(1, 2)
        for conv in self.convs:
            x = conv(x) * mask
        x = x.transpose(1, 2)
        packed = nn.utils.rnn.pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        x, _ = self.lstm(packed)
        x, _ = nn.utils.rnn.pad_packed_sequence(x, batch_first=True, total_length=ids.shape[1])
        b, l, _ = x.shape
        states = self.expand(x).reshape(b, l * self.states_per_phone, self.dim)
        return states, lengths * self.states_per_phone
