"""Beam search ranked from one top-k per step gives whisper's beams, scores and finished sequences."""
import pytest
import torch
from whisper.decoding import BeamSearchDecoder

from tts_temp.asr.beam import BatchedBeamSearchDecoder


class _Recorder:
    def __init__(self):
        self.calls = []

    def rearrange_kv_cache(self, source_indices):
        self.calls.append(list(source_indices))


@pytest.mark.parametrize("n_audio,beams,patience", [(1, 5, None), (2, 3, 2.0)])
def test_batched_update_is_whispers_update(n_audio, beams, patience):
    vocab, eot = 12, 11
    g = torch.Generator().manual_seed(n_audio * 10 + beams)
    ours = BatchedBeamSearchDecoder(beams, eot, _Recorder(), patience)
    theirs = BeamSearchDecoder(beams, eot, _Recorder(), patience)
    tokens = torch.tensor([[1, 2]] * (n_audio * beams))  # every beam starts from one prompt
    sums_ours = torch.zeros(n_audio * beams)
    sums_theirs = sums_ours.clone()
    for step in range(8):
        logits = torch.randn(n_audio * beams, vocab, generator=g) * 3
        logits[:, eot] += 2.0 if step > 2 else -10.0  # some beams end along the way
        if step == 4:
            logits[0] = logits[1]  # equal scores: ties must break the same way
        new_ours, done_ours = ours.update(tokens, logits, sums_ours)
        new_theirs, done_theirs = theirs.update(tokens.clone(), logits.clone(), sums_theirs)
        assert torch.equal(new_ours, new_theirs) and done_ours == done_theirs
        assert torch.equal(sums_ours, sums_theirs)
        assert ours.inference.calls == theirs.inference.calls
        assert ours.finished_sequences == theirs.finished_sequences
        tokens = new_ours
        if done_ours:
            break
    assert any(ours.finished_sequences)  # the comparison covered finished sequences too
    assert all(seq[-1] == eot for pool in ours.finished_sequences for seq in pool)


@pytest.mark.parametrize("n_audio", [1, 2])
def test_repeated_rows_ties_and_long_prompts_rank_as_whisper(n_audio):
    """Candidates are keyed by (row, token), not by whole sequences: rows that hold the same tokens
    at any step must still merge their candidates as whisper's sequence dict does, equal
    log-probabilities (within a row, and -inf where fewer tokens than the top-k are allowed) must
    break ties the same way, and finished sequences must carry the whole prompt."""
    beams, vocab, eot = 4, 9, 8
    g = torch.Generator().manual_seed(30 + n_audio)
    ours = BatchedBeamSearchDecoder(beams, eot, _Recorder(), 2.0)
    theirs = BeamSearchDecoder(beams, eot, _Recorder(), 2.0)
    rows = n_audio * beams
    prompt = torch.randint(0, eot, (1, 40), generator=g).repeat(rows, 1)
    tokens = prompt
    sums_ours = torch.zeros(rows)
    sums_theirs = sums_ours.clone()
    merged = 0
    for step in range(12):
        if step % 3 == 1:  # some rows become copies of others (whisper's dict merges them)
            src = torch.arange(rows)
            src[1::beams] = src[0::beams]
            if beams > 3:
                src[3::beams] = src[2::beams]
            tokens = tokens[src]
            sums_ours, sums_theirs = sums_ours[src].clone(), sums_theirs[src].clone()
            merged += 1
        logits = torch.randint(-3, 3, (rows, vocab), generator=g).float()  # many exact ties
        logits[:, eot] += 1.0 if step > 4 else -10.0
        if step % 4 == 2:
            logits[0, 2:] = -torch.inf  # fewer finite tokens than the top-k: ties at -inf
        new_ours, done_ours = ours.update(tokens, logits, sums_ours)
        new_theirs, done_theirs = theirs.update(tokens.clone(), logits.clone(), sums_theirs)
        assert torch.equal(new_ours, new_theirs) and new_ours.dtype == new_theirs.dtype
        assert done_ours == done_theirs
        assert torch.equal(sums_ours, sums_theirs)
        assert ours.inference.calls == theirs.inference.calls
        assert ours.finished_sequences == theirs.finished_sequences
        assert [list(p) for p in ours.finished_sequences] == [list(p) for p in theirs.finished_sequences]
        tokens = new_ours
        if done_ours or tokens.shape[0] != rows:
            break
    assert merged > 0 and any(ours.finished_sequences)
    assert all(seq[:40] == tuple(prompt[0].tolist()) for pool in ours.finished_sequences for seq in pool)


@pytest.mark.parametrize("n", [51864, 51865, 1000, 40])
def test_chunked_top_k_is_topk(n):
    """The chunked top-k returns `topk`'s values and indices, ties, -inf and NaN included (where
    its own answer could differ from topk's, the row goes to topk)."""
    from tts_temp.asr.beam import top_k
    g = torch.Generator().manual_seed(n)
    cases = [torch.randn(5, n, generator=g) * 4,
             torch.randint(-4, 4, (5, n), generator=g).float(),  # ties everywhere
             torch.randn(5, n, generator=g)]
    cases[2][0, :] = -torch.inf
    cases[2][0, 7] = 1.0  # one finite value: the rest of its top-k are -inf ties
    cases[2][1, 3:n:max(1, n // 9)] = 9.0  # equal maxima in several chunks
    cases[2][2, n // 2] = torch.nan
    cases[2][3, 1], cases[2][3, -1] = 50.0, 50.0  # a tie at the top, first and last chunk
    cases[2][4, : n - 3] = -torch.inf  # every chunk but the last all -inf: chunk maxima tie
    cases.append(cases[2].clone())
    cases[3][4, -3:] = torch.tensor([2.0, 1.0, 3.0])  # ... with fewer finite values than k
    for x in cases:
        for k in (1, 6, 11):
            want, got = x.topk(k), top_k(x, k)
            assert got[1] == want[1].tolist(), (k, got[1], want[1])
            assert torch.equal(got[0], want[0]) or torch.equal(got[0].isnan(), want[0].isnan())
