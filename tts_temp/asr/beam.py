"""whisper's beam search with one top-k for all beams per step instead of one per beam.

whisper's `BeamSearchDecoder.update` ranks candidates the way this does, but it asks each beam
for its top-k separately and adds every candidate's log-probability to the beam's sum as a
one-element tensor (`.item()` each): many small calls per step with five beams, a visible
share of a beam-5 transcription at int8 (docs/benchmarks.md). Here the top-k, the sums (still in float32, so every
score is the very number whisper computes) and the move to Python happen once per step; the
ranking (dict insertion order, stable sort, the same tie-breaks) and the bookkeeping of finished
sequences are whisper's, so beam search returns the same tokens.

whisper keys each candidate by its whole sequence (prompt included), a tuple of a few hundred
tokens built and hashed for every candidate at every step. Two candidates are the same sequence
exactly when their rows hold the same tokens and they add the same token, so here a candidate is
keyed by (the first row with its row's tokens, token): the same dict, the same order, the same
merging of repeated sequences, and only the finished sequences become tuples. The kept rows are
gathered from the tokens tensor instead of rebuilt from Python lists.
"""
from __future__ import annotations

import functools
from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor
from whisper.decoding import BeamSearchDecoder


def _log_softmax(logits: Tensor) -> Tensor:
    return F.log_softmax(logits.float(), dim=-1)


@functools.lru_cache(maxsize=None)
def _chunk_size(n: int, k: int) -> int | None:
    """The smallest divisor of n of at least 256 that leaves more than k chunks (None if none)."""
    return next((size for size in range(256, n // (k + 1) + 1) if n % size == 0), None)


def top_k(x: Tensor, k: int) -> tuple[Tensor, list[list[int]]]:
    """`x.topk(k)` of each row of a 2-D tensor (the indices as Python lists, which beam search
    wants), without partly sorting every row whole.

    torch's CPU top-k copies each row into (value, index) pairs before sorting: the largest
    cost of a beam step's ranking over the vocabulary. Here each row is split into chunks, the
    k chunks with the largest maxima are gathered, and the top-k is taken among them. Where that
    answer is the only one (the largest maximum left out below the k-th value found, and the
    first k + 1 values found strictly decreasing: no ties, no NaN), it is what `topk` returns; any
    other row is ranked by `topk` itself, so ties break exactly as before.
    """
    rows, n = x.shape
    size = _chunk_size(n, k)
    if size is None or not x.is_contiguous() or rows == 0:
        values, ids = x.topk(k)
        return values, ids.tolist()
    count = n // size
    best, which = x.view(rows, count, size).amax(dim=-1).topk(k + 1)
    # the chosen chunks, as rows of (rows * count, size): one copy of whole chunks
    first = torch.arange(0, rows * count, count, device=x.device)[:, None]
    picked = x.view(rows * count, size).index_select(0, (which[:, :k] + first).flatten()).view(rows, k * size)
    values, at = picked.topk(k + 1)
    ids, unsure = [], []
    for r, (b, v, c, a) in enumerate(zip(best.tolist(), values.tolist(), which.tolist(), at.tolist())):
        if not (b[k] < v[k - 1] and all(v[i] > v[i + 1] for i in range(k))):
            unsure.append(r)
        ids.append([c[j // size] * size + j % size for j in a[:k]])
    values = values[:, :k]
    if unsure:
        again = torch.tensor(unsure, device=x.device)
        values = values.clone()
        values[again], sure_ids = x.index_select(0, again).topk(k)
        for r, row_ids in zip(unsure, sure_ids.tolist()):
            ids[r] = row_ids
    return values, ids


class BatchedBeamSearchDecoder(BeamSearchDecoder):
    def __init__(self, beam_size: int, eot: int, inference, patience: float | None = None,
                 log_softmax: Callable[[Tensor], Tensor] = _log_softmax):
        super().__init__(beam_size, eot, inference, patience)
        # the step's log-probabilities; the timestamp rules hand over the ones they computed
        # for these very logits (filters.BatchedTimestampRules.log_softmax)
        self.log_softmax = log_softmax

    def update(self, tokens: Tensor, logits: Tensor, sum_logprobs: Tensor) -> tuple[Tensor, bool]:
        beams = self.beam_size
        if tokens.shape[0] % beams != 0:
            raise ValueError(f"{tokens.shape}[0] % {beams} != 0")
        n_audio = tokens.shape[0] // beams
        if self.finished_sequences is None:
            self.finished_sequences = [{} for _ in range(n_audio)]

        top_values, top_ids = top_k(self.log_softmax(logits), beams + 1)
        # float32 sums, then Python floats: the numbers whisper's per-candidate `.item()` gives
        totals = (sum_logprobs[:, None] + top_values).tolist()
        prefixes = tokens.tolist()
        first_row: dict[tuple, int] = {}
        same_as = [first_row.setdefault(tuple(p), row) for row, p in enumerate(prefixes)]

        kept_from: list[int] = []
        kept_tokens: list[int] = []
        kept_scores: list[float] = []
        ended_now: list[dict[tuple[int, int], tuple[float, int]]] = []
        for audio in range(n_audio):
            rows = range(audio * beams, (audio + 1) * beams)
            # (first row with this prefix, token) -> (score, source row): whisper's dict of
            # sequences; a repeated sequence keeps its first place, takes the later row's numbers
            candidates: dict[tuple[int, int], tuple[float, int]] = {}
            for row in rows:
                prefix = same_as[row]
                for score, token in zip(totals[row], top_ids[row]):
                    candidates[prefix, token] = (score, row)
            ended: dict[tuple[int, int], tuple[float, int]] = {}
            alive = 0
            for key in sorted(candidates, key=lambda c: candidates[c][0], reverse=True):
                score, row = candidates[key]
                if key[1] == self.eot:
                    ended[key] = (score, row)
                    continue
                kept_scores.append(score)
                kept_from.append(row)
                kept_tokens.append(key[1])
                alive += 1
                if alive == beams:
                    break
            ended_now.append(ended)

        n = len(kept_from)
        if n:
            sum_logprobs[:n] = torch.tensor(kept_scores, dtype=sum_logprobs.dtype, device=sum_logprobs.device)
        self.inference.rearrange_kv_cache(kept_from)
        for pool, ended in zip(self.finished_sequences, ended_now):
            for key in sorted(ended, key=lambda c: ended[c][0], reverse=True):
                if len(pool) >= self.max_candidates:
                    break
                score, row = ended[key]
                pool[tuple(prefixes[row]) + (key[1],)] = score
        done = all(len(pool) >= self.max_candidates for pool in self.finished_sequences)
        return self._kept(tokens, kept_from, kept_tokens), done

    @staticmethod
    def _kept(tokens: Tensor, kept_from: list[int], kept_tokens: list[int]) -> Tensor:
        """The kept sequences as whisper's `torch.tensor(next_tokens)` makes them (int64)."""
        if not kept_from:
            return torch.tensor([], device=tokens.device)
        source = torch.tensor(kept_from, device=tokens.device)
        last = torch.tensor(kept_tokens, device=tokens.device)[:, None]
        return torch.cat([tokens.index_select(0, source).long(), last], dim=1)
