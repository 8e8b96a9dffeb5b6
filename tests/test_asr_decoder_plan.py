"""The decoder plan's logits are stock whisper's up to float32 rounding, not bit for bit.

Stock: `model.decoder(tokens, features)` over the whole greedy transcript at once. Ours: the
cached, planned decoder one step at a time, as the window loop runs it. The gap is the size of
float32 rounding in sums of a few hundred products (docs/benchmarks.md has the measured values);
the bound here is a few times that, far below what could move a token.
"""
from __future__ import annotations

import pytest
import torch
import whisper
from whisper.tokenizer import get_tokenizer

from asr_fixtures import model, window_mel
from tts_temp.asr.inference import CachedInference, EncodedWindow

BOUND = 2e-4  # absolute, on float32 logits of magnitude ~40


@pytest.mark.parametrize("name", ["jfk", "librivox_sense_0880", "librivox_sense_0930"])
def test_planned_logits_are_stocks_to_rounding(name):
    m, mel = model(), window_mel(name)
    tokenizer = get_tokenizer(m.is_multilingual)
    sot = list(tokenizer.sot_sequence)
    with torch.no_grad():
        heard = whisper.decode(m, mel, whisper.DecodingOptions(temperature=0.0, fp16=False, language="en"))
        tokens = torch.tensor([sot + heard.tokens])
        window = EncodedWindow.encode(m, mel)
        stock = m.decoder(tokens, window.features)
        inference = CachedInference(m, window, len(sot))
        steps = [inference.logits(tokens[:, :len(sot)], window.features)]  # the SOT sequence, then token by token
        steps += [inference.logits(tokens[:, :i + 1], window.features) for i in range(len(sot), tokens.shape[1])]
        ours = torch.cat(steps, dim=1)
    gap = float((ours - stock).abs().max())
    print(f"{name}: {tokens.shape[1]} positions, max |ours - stock| = {gap:.2e}")
    assert ours.shape == stock.shape and gap < BOUND
    assert torch.equal(ours.argmax(-1), stock.argmax(-1))
