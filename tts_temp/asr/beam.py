"""whisper's beam search with one top-k for all beams per step instead of one per beam.

whisper's `BeamSearchDecoder.update` ranks candidates the way this does, but it asks each beam
for its top-k separately and adds every candidate's log-probability to the beam's sum as a
one-element tensor (`.item()` each): many small calls per step with five beams, a visible
share of a beam-5 transcription at int8 (docs/benchmarks.md). Here the top-k, the sums (still in float32, so every
score is the very number whisper computes) and the move to Python happen once per step; the
ranking (dict insertion order, stable sort, the same tie-breaks) and the bookkeeping of finished
sequences are whisper's, so beam search returns the same tokens.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor
from whisper.decoding import BeamSearchDecoder


class BatchedBeamSearchDecoder(BeamSearchDecoder):
    def update(self, tokens: Tensor, logits: Tensor, sum_logprobs: Tensor) -> tuple[Tensor, bool]:
        beams = self.beam_size
        if tokens.shape[0] % beams != 0:
            raise ValueError(f"{tokens.shape}[0] % {beams} != 0")
        n_audio = tokens.shape[0] // beams
        if self.finished_sequences is None:
            self.finished_sequences = [{} for _ in range(n_audio)]

        top_values, top_ids = F.log_softmax(logits.float(), dim=-1).topk(beams + 1)
        # float32 sums, then Python floats: the numbers whisper's per-candidate `.item()` gives
        totals = (sum_logprobs[:, None] + top_values).tolist()
        top_ids, prefixes = top_ids.tolist(), tokens.tolist()

        kept: list[list[int]] = []
        kept_from: list[int] = []
        ended_now: list[dict[tuple, float]] = []
        for audio in range(n_audio):
            rows = range(audio * beams, (audio + 1) * beams)
            # sequence -> (score, source row); a repeated sequence keeps its first place, takes the
            # later row's numbers (as whisper's two dicts do)
            candidates: dict[tuple, tuple[float, int]] = {}
            for row in rows:
                for score, token in zip(totals[row], top_ids[row]):
                    candidates[tuple(prefixes[row] + [token])] = (score, row)
            ended: dict[tuple, float] = {}
            alive = 0
            for seq in sorted(candidates, key=lambda c: candidates[c][0], reverse=True):
                score, row = candidates[seq]
                if seq[-1] == self.eot:
                    ended[seq] = score
                    continue
                sum_logprobs[len(kept)] = score
                kept.append(list(seq))
                kept_from.append(row)
                alive += 1
                if alive == beams:
                    break
            ended_now.append(ended)

        self.inference.rearrange_kv_cache(kept_from)
        for pool, ended in zip(self.finished_sequences, ended_now):
            for seq in sorted(ended, key=ended.get, reverse=True):
                if len(pool) >= self.max_candidates:
                    break
                pool[seq] = ended[seq]
        done = all(len(pool) >= self.max_candidates for pool in self.finished_sequences)
        return torch.tensor(kept, device=tokens.device), done
