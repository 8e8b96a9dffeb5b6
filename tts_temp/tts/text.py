"""Text front end: normalise, split into clauses, phonemise with espeak-ng, map to symbol ids.

espeak-ng is called once per clause with a fixed voice and no randomness, so the same text always
gives the same ids. Clause punctuation becomes a symbol of its own (pauses and phrase-final
intonation are learnt from it). When espeak-ng is missing the letters themselves are used, so a
voice trained on letters still speaks; a voice trained on phonemes refuses to run without it.
"""
from __future__ import annotations

import functools
import re
import shutil
import subprocess
import unicodedata
import warnings
from dataclasses import dataclass

from tts_temp.errors import UserError

PAD = "_"
PUNCTUATION = ",.?!"
WORD_BREAK = " "
# IPA symbols espeak-ng's en-us voice produces (plus a few from other English voices).
IPA = (
    "abdefhijklmnoprstuvwxz"
    "æçðŋɐɑɒɔəɚɛɜɝɡɪɬɹɾʃʊʌʒʔθχᵻʲʍɫɨʉøœɯ"
    "ˈˌːˑ\u0329"
)
LETTERS = "abcdefghijklmnopqrstuvwxyz'"
# Order matters: ids are positions in this tuple and are stored in every checkpoint.
SYMBOLS: tuple[str, ...] = tuple(dict.fromkeys(PAD + PUNCTUATION + WORD_BREAK + IPA + LETTERS))

_ABBREVIATIONS = {
    "mr": "mister", "mrs": "missus", "ms": "miss", "dr": "doctor", "st": "saint", "jr": "junior",
    "sr": "senior", "co": "company", "ltd": "limited", "vs": "versus", "etc": "et cetera",
    "gen": "general", "capt": "captain", "prof": "professor", "mt": "mount",
}
_ONES = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
         "fifteen sixteen seventeen eighteen nineteen").split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()


def number_to_words(n: int) -> str:
    """Spell a non-negative integer in English words (enough for a TTS front end)."""
    if n < 20:
        return _ONES[n]
    if n < 100:
        return _TENS[n // 10] + ("" if n % 10 == 0 else " " + _ONES[n % 10])
    if n < 1000:
        rest = n % 100
        return _ONES[n // 100] + " hundred" + ("" if rest == 0 else " " + number_to_words(rest))
    for size, name in ((10**9, "billion"), (10**6, "million"), (1000, "thousand")):
        if n >= size:
            rest = n % size
            head = number_to_words(n // size) + " " + name
            return head + ("" if rest == 0 else " " + number_to_words(rest))
    raise AssertionError("unreachable")


def _spell_number(match: re.Match) -> str:
    text = match.group(0).replace(",", "")
    if "." in text:
        whole, frac = text.split(".", 1)
        return number_to_words(int(whole)) + " point " + " ".join(_ONES[int(d)] for d in frac)
    if len(text) > 12:
        return " ".join(_ONES[int(d)] for d in text)
    return number_to_words(int(text))


def _spell_dollars(match: re.Match) -> str:
    dollars, cents = int(match.group(1)), int(match.group(2) or 0)
    out = f"{number_to_words(dollars)} dollar{'s' if dollars != 1 else ''}"
    if cents:
        out += f" and {number_to_words(cents)} cent{'s' if cents != 1 else ''}"
    return out


def normalise(text: str) -> str:
    """Plain lower-case words and clause punctuation; numbers and abbreviations spelled out."""
    text = unicodedata.normalize("NFKC", text)
    text = text.replace("\u2019", "'").replace("\u2018", "'").replace("&", " and ")
    text = re.sub(r"[\u201c\u201d\"()\[\]{}]", " ", text)
    text = re.sub(r"\b([A-Za-z]+)\.(?=\s+[A-Z0-9])",
                  lambda m: _ABBREVIATIONS.get(m.group(1).lower(), m.group(0)), text)
    text = re.sub(r"\$(\d+)(?:\.(\d\d))?\b", _spell_dollars, text)
    text = re.sub(r"(\d)\s*%", r"\1 percent", text)
    text = re.sub(r"\d+(?:,\d{3})*(?:\.\d+)?", _spell_number, text)
    text = re.sub(r"[;:]", ",", text)
    text = re.sub(r"[\u2013\u2014]|--", ", ", text)
    text = re.sub(r"\.{2,}|\u2026", ".", text)
    text = re.sub(r"\s+", " ", text).strip().lower()
    return text


def clauses(text: str) -> list[tuple[str, str]]:
    """Split normalised text into (words, closing punctuation) pairs."""
    out = []
    for words, punct in re.findall(r"([^,.?!]+)([,.?!]*)", text):
        words = words.strip()
        if words:
            out.append((words, punct[:1] or ""))
    return out


def split_sentences(text: str, max_words: int = 40) -> list[str]:
    """Split long input at sentence ends so each piece can be synthesised on its own.

    A sentence longer than `max_words` is split further at clause punctuation, and failing that
    every `max_words` words, so no piece runs into the synthesiser's length limit.
    """
    out: list[str] = []
    for sentence in re.split(r"(?<=[.?!])\s+", text.strip()):
        words = sentence.split()
        if len(words) <= max_words:
            out.append(sentence.strip())
            continue
        for clause in re.split(r"(?<=[,;:])\s+", sentence):
            cw = clause.split()
            out.extend(" ".join(cw[i:i + max_words]) for i in range(0, len(cw), max_words))
    return [p for p in out if p]


@functools.lru_cache(maxsize=1)
def espeak_available() -> bool:
    return shutil.which("espeak-ng") is not None


@functools.lru_cache(maxsize=4096)
def _espeak_ipa(words: str, voice: str) -> str:
    proc = subprocess.run(["espeak-ng", "-q", "--ipa", "-v", voice, words], capture_output=True, text=True,
                          check=True)
    return re.sub(r"\s+", " ", proc.stdout).strip()


@dataclass(frozen=True)
class FrontEnd:
    """How a voice turns text into symbols; stored in the checkpoint so inference matches training."""

    phonemes: bool = True  # espeak-ng IPA; False means letters
    voice: str = "en-us"

    def symbols(self, text: str) -> list[str]:
        """Text -> list of symbols (clause punctuation kept, unknown symbols dropped with a warning)."""
        out: list[str] = []
        dropped: set[str] = set()
        for words, punct in clauses(normalise(text)):
            if self.phonemes:
                if not espeak_available():
                    raise UserError("this voice needs espeak-ng (Debian package espeak-ng)")
                words = _espeak_ipa(words, self.voice)
            if out:
                out.append(WORD_BREAK)
            for ch in words:
                if ch in _SYMBOL_ID:
                    out.append(ch)
                else:
                    dropped.add(ch)
            if punct:
                out.append(punct)
        if dropped:
            warnings.warn(f"dropped unknown symbols: {''.join(sorted(dropped))!r}", stacklevel=2)
        return out

    def ids(self, text: str) -> list[int]:
        """Text -> symbol ids; empty when nothing in the text can be pronounced."""
        syms = self.symbols(text)
        if not any(s not in PUNCTUATION + WORD_BREAK for s in syms):
            return []
        return [_SYMBOL_ID[s] for s in syms]


_SYMBOL_ID = {s: i for i, s in enumerate(SYMBOLS)}
