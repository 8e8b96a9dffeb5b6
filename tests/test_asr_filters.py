"""The batched timestamp rules filter logits exactly as whisper's ApplyTimestampRules does."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from whisper.decoding import ApplyTimestampRules, SuppressTokens
from whisper.tokenizer import get_tokenizer

from tts_temp.asr.filters import BatchedTimestampRules, IndexedSuppressTokens


def _random_step(gen: torch.Generator, tokenizer, rows: int, sample_begin: int, length: int):
    """Rows of prompt + sampled tokens mixing text, timestamps (in pairs, single, rising or not)
    and EOT, and logits where timestamps sometimes outweigh the text."""
    first = tokenizer.timestamp_begin
    kinds = torch.randint(0, 3, (rows, length), generator=gen)
    text = torch.randint(0, tokenizer.eot, (rows, length), generator=gen)
    stamps = first + torch.randint(0, 1501, (rows, length), generator=gen)
    tokens = torch.where(kinds == 0, stamps, text)
    tokens[:, :sample_begin] = torch.tensor(list(tokenizer.sot_sequence))[:sample_begin]
    n_vocab = first + 1501
    logits = torch.randn(rows, n_vocab, generator=gen) * 3
    boost = torch.rand(rows, generator=gen) < 0.5
    logits[boost, first:] += 4.0  # the rule that forces a timestamp fires on some rows
    return logits, tokens


@pytest.mark.parametrize("rows", [1, 5])
@pytest.mark.parametrize("max_initial", [None, 50])
def test_batched_timestamp_rules_are_whispers_bit_for_bit(rows, max_initial):
    tokenizer = get_tokenizer(multilingual=False)
    sample_begin = len(tokenizer.sot_sequence_including_notimestamps) - 1
    stock = ApplyTimestampRules(tokenizer, sample_begin, max_initial)
    ours = BatchedTimestampRules.like(stock)
    gen = torch.Generator().manual_seed(rows)
    forced = 0
    for length in [sample_begin, sample_begin + 1, sample_begin + 2, *range(sample_begin + 3, sample_begin + 40, 3)]:
        for _ in range(6):
            logits, tokens = _random_step(gen, tokenizer, rows, sample_begin, length)
            want, got = logits.clone(), logits.clone()
            stock.apply(want, tokens)
            ours.apply(got, tokens)
            assert torch.equal(got, want), (length, tokens)
            forced += int((want[:, :tokenizer.timestamp_begin] == -torch.inf).all(dim=-1).sum())
    assert forced > 0  # the steps exercised the rules that mask all text


def test_indexed_suppress_tokens_is_whispers():
    suppress = [1, 7, 220, 50256, 50361]
    logits = torch.randn(3, 51864, generator=torch.Generator().manual_seed(5))
    want, got = logits.clone(), logits.clone()
    SuppressTokens(suppress).apply(want, None)
    IndexedSuppressTokens(suppress).apply(got, None)
    assert torch.equal(got, want) and bool((got[:, suppress] == -torch.inf).all())


def test_window_task_uses_the_faster_filters():
    from whisper.decoding import DecodingOptions
    from asr_fixtures import model
    from tts_temp.asr.inference import EncodedWindow
    from tts_temp.asr.sampler import SamplingOptions
    from tts_temp.asr.transcribe import _WindowTask
    m = model()
    window = EncodedWindow.encode(m, torch.zeros(m.dims.n_mels, 3000))
    task = _WindowTask(m, DecodingOptions(temperature=0.0), window, SamplingOptions())
    kinds = {type(f) for f in task.logit_filters}
    assert {BatchedTimestampRules, IndexedSuppressTokens} <= kinds
    assert not kinds & {ApplyTimestampRules, SuppressTokens}
    # beam search takes the rules' log-probabilities: they run last, right before it
    beam = _WindowTask(m, DecodingOptions(temperature=0.0, beam_size=5), window, SamplingOptions())
    assert isinstance(beam.logit_filters[-1], BatchedTimestampRules)
    assert beam.decoder.log_softmax == beam.logit_filters[-1].log_softmax


@pytest.mark.parametrize("rows", [1, 5])
def test_rules_hand_over_the_log_softmax_of_the_logits_they_left(rows):
    """The log-probabilities the rules give beam search are log_softmax of the filtered logits,
    bit for bit, whether or not a row had its text masked after the rules computed theirs (those
    rows are computed again on their own); other logits get their own."""
    tokenizer = get_tokenizer(multilingual=False)
    sample_begin = len(tokenizer.sot_sequence_including_notimestamps) - 1
    rules = BatchedTimestampRules(tokenizer, sample_begin, 50)
    gen = torch.Generator().manual_seed(10 + rows)
    shared = forced = 0
    for length in range(sample_begin, sample_begin + 30):
        logits, tokens = _random_step(gen, tokenizer, rows, sample_begin, length)
        rules.apply(logits, tokens)
        got = rules.log_softmax(logits)
        assert torch.equal(got, F.log_softmax(logits, dim=-1))
        shared += got is rules._last[1]
        forced += bool((logits[:, :tokenizer.timestamp_begin] == -torch.inf).all(dim=-1).any())
        other = logits.clone()
        other[:, 0] += 1.0
        assert torch.equal(rules.log_softmax(other), F.log_softmax(other, dim=-1))
    assert shared == 30 and forced > 0  # every step handed over, masked rows among them


def test_one_logsumexp_for_all_rows_is_whispers_row_by_row():
    """The rules reduce the timestamps of all rows in one call; whisper reduces each row's 1-D
    slice. The sums must be the same bit for bit, or a near tie could flip the forced timestamp."""
    first = 50363
    gen = torch.Generator().manual_seed(3)
    for scale in (0.5, 1.0, 3.0, 8.0):
        logits = torch.randn(64, first + 1501, generator=gen) * scale
        logits[::3, first:] += 3.0
        logprobs = F.log_softmax(logits, dim=-1)
        rows = torch.stack([r.logsumexp(dim=-1) for r in logprobs[:, first:]])
        assert torch.equal(logprobs[:, first:].logsumexp(dim=-1), rows)
