"""How far a transcript is from its reference: WER and CER after Whisper's English normaliser.

The one definition of these scores, below both halves of the project: the sweeps in `compare` and
the verified synthesis in `roundtrip` must judge a round trip the same way.

- WER / CER: Levenshtein distance over words / characters divided by the reference length, after
  Whisper's English text normaliser on both sides (so "Mr." vs "mister" or a comma is not an error).
"""
from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache


def edit_distance(ref: Sequence, hyp: Sequence) -> int:
    """Levenshtein distance (substitutions, insertions, deletions all cost 1), two-row DP."""
    prev = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        cur = [i] + [0] * len(hyp)
        for j, h in enumerate(hyp, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (r != h))
        prev = cur
    return prev[-1]


@lru_cache(maxsize=1)
def _normaliser():
    from whisper.normalizers import EnglishTextNormalizer

    return EnglishTextNormalizer()


def normalise(text: str) -> str:
    """Whisper's English normaliser: lower case, no punctuation, spelled-out standard forms."""
    return " ".join(_normaliser()(text or "").split())


def error_rate(ref: Sequence, hyp: Sequence) -> float:
    """Edits / reference length. An empty reference gives 0 for an empty hypothesis and
    1 per inserted unit otherwise (so the rate stays finite and still counts the insertions)."""
    return edit_distance(ref, hyp) / max(1, len(ref))


def wer(reference: str, hypothesis: str) -> float:
    return error_rate(normalise(reference).split(), normalise(hypothesis).split())


def cer(reference: str, hypothesis: str) -> float:
    """Characters of the normalised texts, spaces included (words are separated by one space)."""
    return error_rate(list(normalise(reference)), list(normalise(hypothesis)))
