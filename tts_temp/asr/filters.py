"""whisper's logit filters, made cheaper per decoding step; the same logits out.

Timestamp rules, for all rows of a step at once.

`whisper.decoding.ApplyTimestampRules.apply` walks the rows one at a time with about fifteen
small tensor calls each (a masked select for the row's timestamps, scalar tensors as slice
bounds) and then one logsumexp and one max per row: a visible share of a short int8 decoding
step, more with five rows (beam search, best-of; measured in docs/benchmarks.md). Here the token
rules read the rows as Python lists and the "timestamps outweigh every text token" rule is one
reduction for all rows. The rules, their order and the arithmetic are whisper's: a test feeds
both the same random steps and compares the filtered logits bit for bit.

The rule's log-probabilities are those beam search takes next (its `log_softmax` of the same
logits): `log_softmax` hands beam search the rules' tensor instead of a second pass over the
vocabulary, with the rows whose text the rules masked after computing it computed again.
That holds only where nothing writes the logits between the rules and the decoder: whisper's loop
calls `decoder.update` right after the last filter, so the task shares them only when the rules
are the last filter (the version counter cannot tell: tensors made under inference mode have none).

Suppressed tokens: whisper turns its Python list into an index tensor at every step; here the
tensor is made once (on the logits' device) and filled in place.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor
from whisper.decoding import ApplyTimestampRules, LogitFilter, SuppressTokens


class BatchedTimestampRules(ApplyTimestampRules):
    # the logits the last `apply` filtered, their log_softmax as it computed it, and the rows whose
    # text it masked after that (their log-probabilities are computed again when asked for)
    _last: tuple[Tensor, Tensor, list[int]] | None = None

    @classmethod
    def like(cls, rules: ApplyTimestampRules) -> "BatchedTimestampRules":
        return cls(rules.tokenizer, rules.sample_begin, rules.max_initial_timestamp_index)

    def apply(self, logits: Tensor, tokens: Tensor) -> None:
        tok = self.tokenizer
        first = tok.timestamp_begin  # the first timestamp token
        if tok.no_timestamps is not None:  # handled by without_timestamps
            logits[:, tok.no_timestamps] = -math.inf

        # timestamps come in pairs, except right before EOT, and never go back in time
        for k, row in enumerate(tokens[:, self.sample_begin:].tolist()):
            last_was_timestamp = len(row) >= 1 and row[-1] >= first
            penultimate_was_timestamp = len(row) < 2 or row[-2] >= first
            if last_was_timestamp:
                if penultimate_was_timestamp:  # must be text now
                    logits[k, first:] = -math.inf
                else:  # must be a timestamp (or EOT) now
                    logits[k, :tok.eot] = -math.inf
            stamps = [t for t in row if t >= first]
            if stamps:
                # no earlier timestamp; a segment of nonzero length unless this closes the pair
                bound = stamps[-1] if last_was_timestamp and not penultimate_was_timestamp else stamps[-1] + 1
                logits[k, first:bound] = -math.inf

        if tokens.shape[1] == self.sample_begin:  # the first sampled token is a timestamp
            logits[:, :first] = -math.inf
            if self.max_initial_timestamp_index is not None:
                logits[:, first + self.max_initial_timestamp_index + 1:] = -math.inf

        # sample a timestamp when their total probability beats every single text token
        logprobs = F.log_softmax(logits.float(), dim=-1)
        # one reduction for all rows; each row sums as whisper's 1-D slice does, bit for bit (tests;
        # 1,501 values are below the size at which torch splits one reduction over threads)
        stamps_logprob = logprobs[:, first:].logsumexp(dim=-1)
        best_text = logprobs[:, :first].amax(dim=-1)
        forced = [k for k, f in enumerate((stamps_logprob > best_text).tolist()) if f]
        for k in forced:
            logits[k, :first] = -math.inf
        self._last = (logits, logprobs, forced)

    def log_softmax(self, logits: Tensor) -> Tensor:
        """`F.log_softmax(logits.float(), dim=-1)`: the tensor `apply` computed when `logits` is the
        one it last filtered (for the filter that runs last, see above)."""
        last = self._last
        if last is None or last[0] is not logits:
            return F.log_softmax(logits.float(), dim=-1)
        logits, logprobs, forced = last
        if forced:  # the masked rows' again, on their own (a row's do not depend on the others)
            again = torch.tensor(forced, device=logits.device)
            logprobs[again] = F.log_softmax(logits[again].float(), dim=-1)
            self._last = (logits, logprobs, [])
        return logprobs


class IndexedSuppressTokens(SuppressTokens):
    def __init__(self, suppress_tokens):
        super().__init__(suppress_tokens)
        self._index: Tensor | None = None

    def apply(self, logits: Tensor, tokens: Tensor) -> None:
        if self._index is None or self._index.device != logits.device:
            self._index = torch.tensor(self.suppress_tokens, dtype=torch.long, device=logits.device)
        logits.index_fill_(-1, self._index, -math.inf)


def fast_equivalents(filters: list[LogitFilter]) -> list[LogitFilter]:
    """whisper's filters with the per-step costly ones swapped for the equivalents above."""
    def swap(f: LogitFilter) -> LogitFilter:
        if type(f) is ApplyTimestampRules:
            return BatchedTimestampRules.like(f)
        if type(f) is SuppressTokens:
            return IndexedSuppressTokens(f.suppress_tokens)
        return f
    return [swap(f) for f in filters]
