"""A token sampler that plugs into openai-whisper's decoding as a `TokenDecoder`.

Whisper's own GreedyDecoder samples with `Categorical`, i.e. from the global RNG, and has no
top-k/top-p. This one takes its randomness from an explicit `torch.Generator`, so a sampled
transcript is reproducible bit for bit from its seed. Truncation (top-k, top-p) happens only
inside the draw: the log-probabilities that score an attempt stay the model's own (after
whisper's logit filters), so `avg_logprob` keeps whisper's meaning at every temperature.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor
from whisper.decoding import TokenDecoder

from tts_temp.sampling.seeds import check_seed
from tts_temp.sampling.temperature import check_temperature, check_top_k, check_top_p, sample_logits


@dataclass(frozen=True)
class SamplingOptions:
    """How one attempt draws its tokens; T = 0 is argmax (or beam search, if asked for)."""

    temperature: float = 0.0
    top_k: int | None = None
    top_p: float | None = None
    seed: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "temperature", check_temperature(self.temperature))
        object.__setattr__(self, "top_k", check_top_k(self.top_k))
        object.__setattr__(self, "top_p", check_top_p(self.top_p))
        if self.seed is not None:   # every path (keywords, a user's own options, the grid) comes through here
            object.__setattr__(self, "seed", check_seed(self.seed))

    def generator(self, device: torch.device | str = "cpu") -> torch.Generator:
        """A generator on the device the draws happen on (torch refuses a CPU generator for CUDA draws)."""
        gen = torch.Generator(device=device)
        if self.seed is not None:
            gen.manual_seed(self.seed)
        else:
            gen.seed()
        return gen


class SeededSampler(TokenDecoder):
    """Greedy at T = 0, otherwise a seeded draw from softmax(filtered logits / T) per row."""

    def __init__(self, options: SamplingOptions, eot: int, generator: torch.Generator | None = None):
        self.options = options
        self.eot = eot
        self.generator = generator  # made on the logits' device at the first draw, unless given

    def generator_for(self, logits: Tensor) -> torch.Generator:
        if self.generator is None or self.generator.device != logits.device:
            self.generator = self.options.generator(logits.device)
        return self.generator

    def update(self, tokens: Tensor, logits: Tensor, sum_logprobs: Tensor) -> tuple[Tensor, bool]:
        o = self.options
        next_tokens = sample_logits(logits, o.temperature, self.generator_for(logits), o.top_k, o.top_p)
        logprobs = F.log_softmax(logits.float(), dim=-1)
        chosen = logprobs.gather(-1, next_tokens[:, None])[:, 0]
        finished = tokens[:, -1] == self.eot
        sum_logprobs += chosen * ~finished  # a finished row keeps its score
        next_tokens = next_tokens.masked_fill(finished, self.eot)
        tokens = torch.cat([tokens, next_tokens[:, None]], dim=-1)
        return tokens, bool((next_tokens == self.eot).all())

    def finalize(self, tokens: Tensor, sum_logprobs: Tensor):
        # guarantee an EOT at the end of every row, so the caller can cut there
        return F.pad(tokens, (0, 1), value=self.eot), sum_logprobs.tolist()
