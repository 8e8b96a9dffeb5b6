"""The shared temperature math: one small set of functions that both the ASR and the TTS use.

Discrete form: p = softmax(logits / T), with optional top-k / top-p truncation. T -> 0 is argmax,
T = 1 is the model's own distribution, T > 1 is flatter. Randomness only ever comes from an
explicit `torch.Generator`, so a result is reproducible from its seed and nothing else.
"""
from __future__ import annotations

from collections.abc import Sequence

import math

import torch
from torch import Tensor

from tts_temp.errors import UserError


def check_temperature(temperature: float) -> float:
    """Refuse NaN, infinite and negative temperatures with a message meant for the user."""
    try:
        t = float(temperature)
    except (TypeError, ValueError):
        raise UserError(f"temperature must be a number, got {temperature!r}") from None
    if math.isnan(t) or math.isinf(t) or t < 0:
        raise UserError(f"temperature must be a finite number >= 0, got {temperature!r}")
    return t


def check_top_k(top_k: int | None) -> int | None:
    if top_k is not None and (int(top_k) != top_k or top_k < 1):
        raise ValueError(f"top_k must be an integer >= 1, got {top_k!r}")
    return None if top_k is None else int(top_k)


def check_top_p(top_p: float | None) -> float | None:
    if top_p is not None and not (0.0 < float(top_p) <= 1.0):  # NaN fails this test too
        raise ValueError(f"top_p must be in (0, 1], got {top_p!r}")
    return None if top_p is None else float(top_p)


def tempered_log_softmax(logits: Tensor, temperature: float) -> Tensor:
    """log softmax(logits / T) over the last axis; T = 0 puts all mass on the argmax."""
    logits = logits.float()
    if temperature == 0:
        out = torch.full_like(logits, -math.inf)
        return out.scatter_(-1, logits.argmax(dim=-1, keepdim=True), 0.0)
    return torch.log_softmax(logits / temperature, dim=-1)


def tempered_softmax(logits: Tensor, temperature: float) -> Tensor:
    return tempered_log_softmax(logits, temperature).exp()


def filter_top_k(logits: Tensor, top_k: int | None) -> Tensor:
    """Keep the k largest logits per row (ties at the k-th value are kept); others -> -inf."""
    if top_k is None or top_k >= logits.shape[-1]:
        return logits
    kth = torch.topk(logits, top_k, dim=-1).values[..., -1:]
    return logits.masked_fill(logits < kth, -math.inf)


def filter_top_p(logits: Tensor, top_p: float | None) -> Tensor:
    """Nucleus filtering: keep the smallest set of tokens whose probability reaches `top_p`.

    The most likely token is always kept, so the result is never empty.
    """
    if top_p is None or top_p >= 1.0:
        return logits
    sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
    probs = torch.softmax(sorted_logits.float(), dim=-1)
    mass_before = probs.cumsum(dim=-1) - probs  # probability of the tokens ranked above
    drop_sorted = mass_before >= top_p
    drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
    return logits.masked_fill(drop, -math.inf)


def _cdf(scaled: Tensor) -> Tensor:
    """The running sum of softmax(scaled) per row. Inverse-CDF sampling draws one uniform number per
    row instead of one per token, which is much faster than torch.multinomial over a 50k
    vocabulary on the CPU; zero-probability tokens never own an interval, so they are never drawn."""
    return torch.softmax(scaled, dim=-1).cumsum(dim=-1)


def sample_logits(
    logits: Tensor,
    temperature: float,
    generator: torch.Generator | None = None,
    top_k: int | None = None,
    top_p: float | None = None,
) -> Tensor:
    """Draw one index per row from softmax(filtered logits / T); T = 0 is the argmax.

    Filtering happens on the tempered distribution, so top-p means "the nucleus at this
    temperature". `generator` is the only source of randomness.
    """
    if temperature == 0:
        # argmax's indices (the first of tied maxima, NaN counting as the maximum), but faster on
        # the CPU (measured in docs/benchmarks.md)
        return logits.max(dim=-1).indices
    scaled = logits.float() / temperature
    cdf = _cdf(filter_top_p(filter_top_k(scaled, top_k), top_p))
    if not bool(torch.isfinite(cdf[..., -1]).all()):
        # T so small that logits / T overflowed (inf - inf is NaN inside the softmax, and the NaN
        # CDF would pick the last token): shift by the row's maximum first, so the maximum stays 0
        # and the others go to -inf, which is the limit T -> 0, the argmax (ties shared)
        logits = logits.float()
        scaled = (logits - logits.amax(dim=-1, keepdim=True)) / temperature
        cdf = _cdf(filter_top_p(filter_top_k(scaled, top_k), top_p))
    u = torch.rand(cdf.shape[:-1] + (1,), generator=generator, dtype=cdf.dtype, device=cdf.device)
    index = torch.searchsorted(cdf, u * cdf[..., -1:], right=True)
    return index.clamp_(max=cdf.shape[-1] - 1).squeeze(-1)


def entropy(logits: Tensor, temperature: float = 1.0) -> Tensor:
    """Shannon entropy (nats) of softmax(logits / T) per row; 0 at T = 0."""
    logp = tempered_log_softmax(logits, temperature)
    p = logp.exp()
    return -(p * torch.where(p > 0, logp, torch.zeros_like(logp))).sum(dim=-1)


def sample_gaussian_rows(mean: Tensor, std: Tensor, temperatures: Tensor,
                         generators: Sequence[torch.Generator | None]) -> Tensor:
    """`sample_gaussian` for a batch: row i is mean[i] + T[i] * std[i] * eps_i, eps_i drawn from
    generators[i], so each row depends on its own seed only (the same numbers, row by row, as
    calling `sample_gaussian` on each row with a tensor temperature, in a few batched ops)."""
    eps = torch.stack([torch.randn(mean.shape[1:], generator=g, dtype=mean.dtype, device=mean.device)
                       for g in generators])
    t = temperatures.to(mean.dtype).reshape(-1, *([1] * (mean.ndim - 1)))
    return mean + t * std * eps


def sample_gaussian(mean: Tensor, std: Tensor, temperature: float | Tensor,
                    generator: torch.Generator | None = None) -> Tensor:
    """The continuous form: z = mean + T * std * eps, eps ~ N(0, I) drawn from `generator`.

    T = 0 returns the mean exactly (no noise is drawn, so the generator is left untouched);
    T = 1 is the model's own spread. `temperature` may be a tensor that broadcasts per row.
    """
    if not torch.is_tensor(temperature) and temperature == 0:
        return mean.clone()
    eps = torch.randn(mean.shape, generator=generator, dtype=mean.dtype, device=mean.device)
    return mean + temperature * std * eps
