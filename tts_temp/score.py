"""How far a transcript is from its reference: WER and CER after Whisper's English normaliser.

The one definition of these scores, below both halves of the project: the sweeps in `compare` and
the verified synthesis in `verify` must judge a round trip the same way.

- WER / CER: Levenshtein distance (RapidFuzz) over words / characters divided by the reference length, after
  Whisper's English text normaliser on both sides (so "Mr." vs "mister" or a comma is not an error).
"""
from __future__ import annotations

import threading
import warnings
from collections.abc import Sequence
from functools import lru_cache

_BUILD = threading.Lock()


def edit_distance(ref: Sequence, hyp: Sequence) -> int:
    """Levenshtein distance (substitutions, insertions, deletions all cost 1) over any sequences of
    hashables: characters of a string or words of a list. RapidFuzz's C++ implementation, so WER
    over thousands of sweep items costs milliseconds."""
    from rapidfuzz.distance import Levenshtein

    return Levenshtein.distance(ref, hyp)


@lru_cache(maxsize=1)
def _normaliser():
    """Built once. whisper's EnglishSpellingNormalizer reads its spelling table with
    `json.load(open(path))` and leaves the file to the garbage collector, which prints a
    ResourceWarning (the leak is inside whisper, so it is silenced here, around that one call only)."""
    from whisper.normalizers import EnglishTextNormalizer

    with _BUILD, warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=ResourceWarning)
        return EnglishTextNormalizer()


def whisper_normalise(text: str) -> str:
    """Whisper's English normaliser: lower case, no punctuation, spelled-out standard forms."""
    return " ".join(_normaliser()(text or "").split())


def error_rate(ref: Sequence, hyp: Sequence) -> float:
    """Edits / reference length. An empty reference gives 0 for an empty hypothesis and
    1 per inserted unit otherwise (so the rate stays finite and still counts the insertions)."""
    return edit_distance(ref, hyp) / max(1, len(ref))


def wer(reference: str, hypothesis: str) -> float:
    return error_rate(whisper_normalise(reference).split(), whisper_normalise(hypothesis).split())


def cer(reference: str, hypothesis: str) -> float:
    """Characters of the normalised texts, spaces included (words are separated by one space)."""
    return error_rate(list(whisper_normalise(reference)), list(whisper_normalise(hypothesis)))
