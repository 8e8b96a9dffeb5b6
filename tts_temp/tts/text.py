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
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

from tts_temp.errors import UserError
from tts_temp.tts.normalise import ABBREVIATIONS, TITLES, cardinal, normalise  # noqa: F401 (re-exported)

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

number_to_words = cardinal  # the name earlier versions exported


def clauses(text: str) -> list[tuple[str, str]]:
    """Split normalised text into (words, closing punctuation) pairs."""
    out = []
    for words, punct in re.findall(r"([^,.?!]+)([,.?!]*)", text):
        words = words.strip()
        if words:
            out.append((words, punct[:1] or ""))
    return out


_NOT_AN_END = set(TITLES) | set(ABBREVIATIONS) | {"no", "a.m", "p.m", "jan", "feb", "mar", "apr", "jun", "jul",
                                                   "aug", "sep", "sept", "oct", "nov", "dec"}


def _sentences(text: str) -> list[str]:
    """Split at . ? ! followed by a space, except after a title, an abbreviation or an initial."""
    out: list[str] = []
    for piece in re.split(r"(?<=[.?!])\s+", text.strip()):
        last = out[-1].split()[-1] if out else ""
        word = last[:-1].lower() if last.endswith(".") else None
        if word is not None and (word in _NOT_AN_END or (len(word) == 1 and word.isalpha() and word != "i")):
            out[-1] += " " + piece
        else:
            out.append(piece)
    return out


def split_sentences(text: str, max_words: int = 40) -> list[str]:
    """Split long input at sentence ends so each piece can be synthesised on its own.

    A sentence longer than `max_words` is split further at clause punctuation, and failing that
    every `max_words` words, so no piece runs into the synthesiser's length limit.
    """
    out: list[str] = []
    for sentence in _sentences(text):
        words = sentence.split()
        if len(words) <= max_words:
            out.append(sentence.strip())
            continue
        for clause in re.split(r"(?<=[,;:])\s+", sentence):
            cw = clause.split()
            out.extend(" ".join(cw[i:i + max_words]) for i in range(0, len(cw), max_words))
    return [p for p in out if p]


def split_spoken(spoken: str, max_chars: int) -> list[str]:
    """Split normalised text (words and , . ? ! only) into pieces of at most `max_chars` characters.

    Length is measured on the spoken form, after numbers and abbreviations are written out: a
    20-digit number is 20 words long when said. Sentence ends first, then clause punctuation, then
    word boundaries; a single word longer than the limit is cut into runs of letters. Every
    character of the input lands in exactly one piece, in order.
    """
    out: list[str] = []
    for sentence in _sentences(spoken):
        out.extend(_split_long(sentence.strip(), max(1, max_chars)))
    return [p for p in out if p]


def _split_long(text: str, max_chars: int) -> list[str]:
    if len(text) <= max_chars:
        return [text] if text else []
    for sep in (r"(?<=[,])\s+", r"\s+"):
        parts = [p for p in re.split(sep, text) if p]
        if len(parts) > 1:
            out, cur = [], ""
            for part in parts:
                if cur and len(cur) + 1 + len(part) > max_chars:
                    out.append(cur)
                    cur = part
                else:
                    cur = f"{cur} {part}" if cur else part
            out.append(cur)
            return [q for piece in out for q in _split_long(piece, max_chars)]
    return [text[i:i + max_chars] for i in range(0, len(text), max_chars)]


def halve(piece: str) -> list[str]:
    """Two pieces of about half the length (at the word boundary nearest the middle, or mid-word for
    one word); [] when the piece cannot be split any further. Used when a piece still ran into
    the length limit."""
    words = piece.split()
    if len(words) > 1:
        total, best, k = len(piece), None, 0
        for i in range(1, len(words)):
            left = len(" ".join(words[:i]))
            if best is None or abs(2 * left - total) < best:
                best, k = abs(2 * left - total), i
        return [" ".join(words[:k]), " ".join(words[k:])]
    if len(piece) > 1:
        return [piece[: len(piece) // 2], piece[len(piece) // 2:]]
    return []


@functools.lru_cache(maxsize=1)
def espeak_available() -> bool:
    return shutil.which("espeak-ng") is not None


@functools.lru_cache(maxsize=64)
def _espeak_voice_works(voice: str) -> bool:
    proc = subprocess.run(["espeak-ng", "-q", "--ipa", "-v", voice], input="a", capture_output=True, text=True,
                          check=False)
    return proc.returncode == 0


def check_espeak_voice(voice: str) -> None:
    """Refuse, at load, a voice whose espeak-ng voice is not installed (instead of failing at its first
    text). Asked of espeak-ng itself, which also resolves names its `--voices` table does not list."""
    if espeak_available() and not _espeak_voice_works(voice):
        raise UserError(f"espeak-ng has no voice {voice!r}, which this voice's phonemes need (see espeak-ng --voices)")


@functools.lru_cache(maxsize=4096)
def _espeak_ipa(words: str, voice: str) -> str:
    """IPA for one clause. The text goes on stdin, never on the command line, so a clause that starts
    with "-" ("-h", "- Buy milk") is spoken, not read as an option; a failure is one UserError line."""
    try:
        proc = subprocess.run(["espeak-ng", "-q", "--ipa", "-v", voice], input=words, capture_output=True,
                              text=True, encoding="utf-8", check=False)
    except OSError as exc:
        raise UserError(f"espeak-ng could not run on {words[:60]!r} ({exc.__class__.__name__})") from None
    if proc.returncode != 0:
        why = " ".join(proc.stderr.split())[:120] or f"exit {proc.returncode}"
        raise UserError(f"espeak-ng failed on {words[:60]!r}: {why}")
    return re.sub(r"\s+", " ", proc.stdout).strip()


@dataclass(frozen=True)
class FrontEnd:
    """How a voice turns text into symbols; stored in the checkpoint so inference matches training."""

    phonemes: bool = True  # espeak-ng IPA; False means letters
    voice: str = "en-us"

    def spoken(self, text: str) -> str:
        """The text as it will be said (numbers, abbreviations... written out): what length is measured on."""
        return normalise(text)

    def symbols(self, text: str) -> list[str]:
        """Text -> list of symbols (clause punctuation kept, unknown symbols dropped with a warning)."""
        out, dropped = self._symbols(normalise(text))
        _warn_dropped(dropped)
        return out

    def _symbols(self, spoken: str) -> tuple[list[str], set[str]]:
        """`spoken()`'s output -> (symbols, the characters dropped as unknown), without a warning; not
        normalised again (normalising twice is not always a no-op)."""
        out: list[str] = []
        dropped: set[str] = set()
        for words, punct in clauses(spoken):
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
        return out, dropped

    def ids(self, text: str) -> list[int]:
        """Text -> symbol ids; empty when nothing in the text can be pronounced."""
        return self.spoken_ids(normalise(text))

    def spoken_ids(self, spoken: str, warn: bool = True) -> list[int]:
        """`spoken()`'s output -> symbol ids. `warn=False` for a text already warned about (synthesis
        encodes each piece again per item; the user hears about a dropped symbol once)."""
        syms, dropped = self._symbols(spoken)
        if warn:
            _warn_dropped(dropped)
        return _ids(syms)

    def pieces_ids(self, pieces: Sequence[str]) -> list[list[int]]:
        """The pieces of one spoken text -> their ids, with one warning for the text naming every
        dropped symbol (not one a piece)."""
        encoded = [self._symbols(p) for p in pieces]
        _warn_dropped(set().union(*(dropped for _, dropped in encoded)))
        return [_ids(syms) for syms, _ in encoded]


def _warn_dropped(dropped: set[str]) -> None:
    if dropped:
        warnings.warn(f"dropped unknown symbols: {''.join(sorted(dropped))!r}", stacklevel=3)


def _ids(syms: list[str]) -> list[int]:
    """Symbols -> ids; empty when there is nothing but punctuation and word breaks."""
    if not any(s not in PUNCTUATION + WORD_BREAK for s in syms):
        return []
    return [_SYMBOL_ID[s] for s in syms]


_SYMBOL_ID = {s: i for i, s in enumerate(SYMBOLS)}
