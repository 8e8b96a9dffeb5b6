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
