"""Coqui-TTS's tokenizer for one model config: cleaners, espeak-ng phonemes, the symbol table, ids.

Written from the behaviour of coqui-tts 0.28 (`TTS/tts/utils/text/`): the same cleaner pipelines
(NFC, lower case, times, numbers through `inflect`, abbreviations, symbol replacement), espeak-ng
called as Coqui calls it (`-q -b 1 -v LANG --ipa=1 -f FILE`, punctuation split off first and put
back after), the same vocabulary order (pad, eos, bos, blank, sorted characters, punctuation),
blanks between symbols (`add_blank`) and bos/eos around them (`enable_eos_bos_chars`).
One deliberate difference: Coqui drops symbols its table lacks with a log line; here that is an
error naming them, because the model would otherwise silently say something else.
"""
from __future__ import annotations

import functools
import re
import shutil
import subprocess
import tempfile
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tts_temp.errors import UserError

PAD, EOS, BOS, BLANK = "<PAD>", "<EOS>", "<BOS>", "<BLNK>"
GRAPHEMES = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
PUNCTUATIONS = "!'(),-.:;? "
IPA = ("iyɨʉɯuɪʏʊeøɘəɵɤoɛœɜɞʌɔæɐaɶɑɒᵻ" "ʘɓǀɗǃʄǂɠǁʛ"
       "pbtdʈɖcɟkɡqɢʔɴŋɲɳnɱmʙrʀⱱɾɽɸβfvθðszʃʒʂʐçʝxɣχʁħʕhɦɬɮʋɹɻjɰlɭʎʟ" "ˈˌːˑ" "ʍwɥʜʢʡɕʑɺɧʲ" "̃ɚ˞ɫ")
PHONEMIZER_PUNCTUATIONS = ';:,.!?¡¿—…"«»“”'
_CLASS_PREFIX = "TTS.tts.utils.text.characters."

# ---------------------------------------------------------------- cleaners (English)

ABBREVIATIONS_EN = [(re.compile(rf"\b{a}\.", re.IGNORECASE), b) for a, b in [
    ("mrs", "misess"), ("mr", "mister"), ("dr", "doctor"), ("st", "saint"), ("co", "company"), ("jr", "junior"),
    ("maj", "major"), ("gen", "general"), ("drs", "doctors"), ("rev", "reverend"), ("lt", "lieutenant"),
    ("hon", "honorable"), ("sgt", "sergeant"), ("capt", "captain"), ("esq", "esquire"), ("ltd", "limited"),
    ("col", "colonel"), ("ft", "fort")]]

# Coqui's pattern, kept as it behaves: its a.m./p.m. alternatives carry doubled backslashes inside a
# raw string, so they only match "am" and "pm" (a dotted "a.m." is left to the other rules).
_TIME_RE = re.compile(r"""\b
                          ((0?[0-9])|(1[0-1])|(1[2-9])|(2[0-3]))  # hours
                          :
                          ([0-5][0-9])                            # minutes
                          \s*(a\\.m\\.|am|pm|p\\.m\\.|a\\.m|p\\.m)? # am/pm
                          \b""", re.IGNORECASE | re.VERBOSE)
_COMMA_NUMBER_RE = re.compile(r"([0-9][0-9\,]+[0-9])")
_DECIMAL_NUMBER_RE = re.compile(r"([0-9]+\.[0-9]+)")
_CURRENCY_RE = re.compile(r"(£|\$|¥)([0-9\,\.]*[0-9]+)")
_ORDINAL_RE = re.compile(r"[0-9]+(st|nd|rd|th)")
_NUMBER_RE = re.compile(r"-?[0-9]+")
_CURRENCIES = {
    "$": {0.01: "cent", 0.02: "cents", 1: "dollar", 2: "dollars"},
    "£": {0.01: "penny", 0.02: "pence", 1: "pound sterling", 2: "pounds sterling"},
    "¥": {0.02: "sen", 2: "yen"},
}


@functools.cache
def _inflect():
    import inflect

    return inflect.engine()


def _currency(m: re.Match) -> str:
    value, unit = m.group(2), _CURRENCIES[m.group(1)]
    parts = value.replace(",", "").split(".")
    if len(parts) > 2:
        return f"{value} {unit[2]}"
    words = []
    whole = int(parts[0]) if parts[0] else 0
    if whole > 0:
        words.append(f"{whole} {unit.get(whole, unit[2])}")
    cents = int(parts[1]) if len(parts) > 1 and parts[1] else 0
    if cents > 0:
        words.append(f"{cents} {unit.get(cents / 100, unit[0.02])}")
    return " ".join(words) if words else f"zero {unit[2]}"


def _number(m: re.Match) -> str:
    import inflect

    eng, num = _inflect(), int(m.group(0))
    if 1000 < num < 3000:  # years: "nineteen eighty-four", "two thousand five"
        if num == 2000:
            return "two thousand"
        if 2000 < num < 2010:
            return "two thousand " + eng.number_to_words(num % 100)
        if num % 100 == 0:
            return eng.number_to_words(num // 100) + " hundred"
        return eng.number_to_words(num, andword="", zero="oh", group=2).replace(", ", " ")
    try:
        return eng.number_to_words(num, andword="")
    except inflect.NumOutOfRangeError:
        return eng.number_to_words(num, group=1).replace(", ", " ")


def normalize_numbers(text: str) -> str:
    text = _COMMA_NUMBER_RE.sub(lambda m: m.group(1).replace(",", ""), text)
    text = _CURRENCY_RE.sub(_currency, text)
    text = _DECIMAL_NUMBER_RE.sub(lambda m: m.group(1).replace(".", " point "), text)
    text = _ORDINAL_RE.sub(lambda m: _inflect().number_to_words(m.group(0)), text)
    return _NUMBER_RE.sub(_number, text)


def _time(m: re.Match) -> str:
    hour = int(m.group(1))
    past_noon = hour >= 12
    if hour > 12:
        hour -= 12
    elif hour == 0:
        hour, past_noon = 12, True
    words = [_inflect().number_to_words(hour)]
    minute = int(m.group(6))
    if minute > 0:
        if minute < 10:
            words.append("oh")
        words.append(_inflect().number_to_words(minute))
    if m.group(7) is None:
        words.append("p m" if past_noon else "a m")
    else:
        words.extend(m.group(7).replace(".", ""))
    return " ".join(words)


def expand_abbreviations(text: str, lang: str | None) -> str:
    if lang in ("fr", "it"):
        raise UserError(f"Coqui's {lang} abbreviation list is not ported; only English is")
    if lang != "en":
        return text  # Coqui leaves text of other languages as it is
    for pattern, spoken in ABBREVIATIONS_EN:
        text = pattern.sub(spoken, text)
    return text


def replace_symbols(text: str, lang: str | None) -> str:
    if lang != "el":
        text = text.replace(";", ",")
    text = text.replace("-", " ") if lang != "ca" else text.replace("-", "")
    text = text.replace(":", ",")
    if lang == "en":
        text = text.replace("&", " and ")
    elif lang == "fr":
        text = text.replace("&", " et ")
    elif lang in ("it", "pt"):
        text = text.replace("&", " e ")
    elif lang == "ca":
        text = text.replace("&", " i ").replace("'", "")
    return text


def _nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def _aux(text: str) -> str:
    return re.sub(r"[\<\>\(\)\[\]\"]+", "", text)


def _collapse(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def english_cleaners(text: str, lang: str | None) -> str:
    text = _TIME_RE.sub(_time, _nfc(text).lower())
    return _collapse(_aux(replace_symbols(expand_abbreviations(normalize_numbers(text), lang), lang)))


def phoneme_cleaners(text: str, lang: str | None) -> str:
    text = expand_abbreviations(normalize_numbers(_nfc(text)), lang)
    return _collapse(_aux(replace_symbols(text, lang)))


def basic_cleaners(text: str, lang: str | None) -> str:
    return _collapse(_nfc(text).lower())


def multilingual_cleaners(text: str, lang: str | None) -> str:
    return _collapse(_aux(replace_symbols(_nfc(text).lower(), lang)))


def multilingual_phoneme_cleaners(text: str, lang: str | None) -> str:
    return _collapse(_aux(replace_symbols(_nfc(text), lang)))


def no_cleaners(text: str, lang: str | None) -> str:
    return text.replace("\n", "")


CLEANERS = {"english_cleaners": english_cleaners, "phoneme_cleaners": phoneme_cleaners,
            "basic_cleaners": basic_cleaners, "transliteration_cleaners": basic_cleaners,
            "basic_german_cleaners": basic_cleaners, "multilingual_cleaners": multilingual_cleaners,
            "multilingual_phoneme_cleaners": multilingual_phoneme_cleaners, "no_cleaners": no_cleaners}

# ---------------------------------------------------------------- punctuation and espeak-ng


def split_punctuation(text: str, puncs: str = PHONEMIZER_PUNCTUATIONS) -> tuple[list[str], list[tuple[str, str]]]:
    """Coqui's Punctuation.strip_to_restore: the word runs between punctuation, and each
    punctuation run with its position ("begin", "middle", "end")."""
    puncs = "".join(dict.fromkeys(puncs))
    pattern = re.compile(rf"(\s*[{re.escape(puncs)}]+\s*)+")
    matches = list(pattern.finditer(text))
    if not matches:
        return [text], []
    if len(matches) == 1 and matches[0].group() == text:
        return [], [(text, "begin")]
    marks = []
    for m in matches:
        pos = "middle"
        if m == matches[0] and text.startswith(m.group()):
            pos = "begin"
        elif m == matches[-1] and text.endswith(m.group()):
            pos = "end"
        marks.append((m.group(), pos))
    pieces = []
    for i, (mark, _) in enumerate(marks):
        prefix, *rest = text.split(mark)
        text = mark.join(rest)
        if prefix == "":
            continue
        pieces.append(prefix)
        if i == len(marks) - 1 and text:
            pieces.append(text)
    return pieces, marks


def _restore(pieces: list[str], marks: list[tuple[str, str]]) -> list[str]:
    if not marks:
        return pieces
    if not pieces:
        return ["".join(m for m, _ in marks)]
    (mark, pos), rest = marks[0], marks[1:]
    if pos == "begin":
        return _restore([mark + pieces[0]] + pieces[1:], rest)
    if pos == "end":
        return [pieces[0] + mark] + _restore(pieces[1:], rest)
    if len(pieces) == 1:
        return _restore([pieces[0] + mark], rest)
    return _restore([pieces[0] + mark + pieces[1]] + pieces[2:], rest)


def restore_punctuation(pieces: list[str], marks: list[tuple[str, str]]) -> str:
    """Coqui's Punctuation.restore; its phonemizer keeps the first piece of the result."""
    out = _restore(pieces, marks)
    return out[0] if out else ""


@functools.cache
def espeak_voices() -> frozenset[str]:
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise UserError("this Coqui model uses phonemes: install espeak-ng (Debian package espeak-ng)")
    out = subprocess.run([exe, "--voices"], capture_output=True, text=True, check=True).stdout
    return frozenset(line.split()[1] for line in out.strip().splitlines()[1:] if len(line.split()) > 1)


@dataclass(frozen=True)
class ESpeakPhonemizer:
    """espeak-ng as Coqui's ESpeak backend runs it (keep_puncs=True, no separator, no ties)."""

    language: str

    @classmethod
    def for_language(cls, language: str) -> "ESpeakPhonemizer":
        language = {"en": "en-us", "zh-cn": "cmn"}.get(language, language)
        if language not in espeak_voices():
            raise UserError(f"espeak-ng has no voice for phoneme_language {language!r}")
        return cls(language)

    def _espeak(self, text: str) -> str:
        with tempfile.NamedTemporaryFile("w+t", delete=False, encoding="utf8") as tmp:
            tmp.write(text)
        try:
            res = subprocess.run(["espeak-ng", "-q", "-b", "1", "-v", self.language, "--ipa=1", "-f", tmp.name],
                                 capture_output=True, encoding="utf8", check=False)
        except OSError as exc:
            raise UserError(f"espeak-ng could not run on {text[:60]!r} ({exc.__class__.__name__})") from None
        finally:
            Path(tmp.name).unlink()
        if res.returncode != 0:
            why = " ".join(res.stderr.split())[:120] or f"exit {res.returncode}"
            raise UserError(f"espeak-ng failed on {text[:60]!r}: {why}")
        # espeak-ng may mark a language switch as "(en)"; Coqui removes those and joins the lines
        lines = [re.sub(r"\(.+?\)", "", l.strip()).strip() for l in res.stdout.strip().split("\n") if l.strip()]
        return "".join(lines).replace("_", "")

    def phonemize(self, text: str) -> str:
        pieces, marks = split_punctuation(text.strip())
        return restore_punctuation([self._espeak(p) for p in pieces], marks)


# ---------------------------------------------------------------- the symbol table and ids


@dataclass(frozen=True)
class Vocabulary:
    symbols: tuple[str, ...]
    pad: str | None
    blank: str | None
    bos: str | None
    eos: str | None

    def id_of(self, special: str | None) -> int:
        return self.index[special] if special else len(self.symbols)

    @functools.cached_property
    def index(self) -> dict[str, int]:
        return {s: i for i, s in enumerate(self.symbols)}


def build_vocabulary(chars: dict | None, use_phonemes: bool) -> Vocabulary:
    """Coqui's character classes (Graphemes, IPAPhonemes, BaseCharacters, BaseVocabulary) from config."""
    if not chars:
        chars = {"characters": IPA if use_phonemes else GRAPHEMES, "punctuations": PUNCTUATIONS,
                 "pad": PAD, "eos": EOS, "bos": BOS, "blank": BLANK, "is_unique": False, "is_sorted": True}
    cls = chars.get("characters_class") or (_CLASS_PREFIX + ("IPAPhonemes" if use_phonemes else "Graphemes"))
    name = cls.removeprefix(_CLASS_PREFIX)
    specials = {k: chars.get(k) for k in ("pad", "blank", "bos", "eos")}
    if name == "BaseVocabulary":
        if not chars.get("vocab_dict"):
            raise UserError("config: characters.vocab_dict is missing")
        return Vocabulary(tuple(chars["vocab_dict"]), **specials)
    if name not in ("IPAPhonemes", "Graphemes", "BaseCharacters"):
        raise UserError(f"config: character class {cls!r} is not supported")
    main = chars.get("characters") or ""
    if name == "IPAPhonemes" and chars.get("phonemes") is not None:
        main = chars["phonemes"]
    main = list(main)
    if chars.get("is_unique"):
        if not chars.get("is_sorted", True):
            raise UserError("config: characters.is_unique without is_sorted has no fixed order")
        main = list(set(main))
    if chars.get("is_sorted", True):
        main = sorted(main)
    head = [s for s in (specials["pad"], specials["eos"], specials["bos"], specials["blank"]) if s]
    return Vocabulary(tuple(head + main + list(chars.get("punctuations") or "")), **specials)


def config_language(cfg: dict) -> str | None:
    """The language Coqui's single-language models pass to the tokenizer (its LanguageManager)."""
    languages = list(cfg.get("languages") or [])
    if not languages:
        languages = sorted({d.get("language") for d in cfg.get("datasets") or [] if d.get("language")})
    if not languages and cfg.get("phoneme_language"):
        languages = [cfg["phoneme_language"]]
    if not languages:
        languages = ["en"]
    return languages[0] if len(languages) == 1 else None


@dataclass
class CoquiTokenizer:
    vocab: Vocabulary
    cleaner: str | None = None
    language: str | None = None
    phonemizer: ESpeakPhonemizer | None = None
    add_blank: bool = False
    use_eos_bos: bool = False

    @classmethod
    def from_config(cls, cfg: dict) -> "CoquiTokenizer":
        cleaner = cfg.get("text_cleaner")
        if cleaner is not None and cleaner not in CLEANERS:
            raise UserError(f"config: text_cleaner {cleaner!r} is not supported ({', '.join(CLEANERS)})")
        use_phonemes = bool(cfg.get("use_phonemes"))
        phonemizer = None
        if use_phonemes:
            if cfg.get("phonemizer") not in (None, "", "espeak"):
                raise UserError(f"config: phonemizer {cfg['phonemizer']!r} is not supported (only espeak)")
            if not cfg.get("phoneme_language"):
                raise UserError("config: use_phonemes without phoneme_language")
            phonemizer = ESpeakPhonemizer.for_language(cfg["phoneme_language"])
        return cls(build_vocabulary(cfg.get("characters"), use_phonemes), cleaner, config_language(cfg),
                   phonemizer, bool(cfg.get("add_blank")), bool(cfg.get("enable_eos_bos_chars")))

    def symbols(self, text: str) -> str:
        """Cleaned (and phonemised) text: the string whose characters become ids."""
        if self.cleaner is not None:
            text = CLEANERS[self.cleaner](text, None if self.language is None else self.language.split("-")[0])
        if self.phonemizer is not None:
            text = self.phonemizer.phonemize(text)
        return text

    def spoken(self, text: str) -> str:
        """The text that length is measured on: Coqui's cleaners run in `ids`, on each piece, as in Coqui."""
        return text

    def spoken_ids(self, spoken: str, warn: bool = True) -> list[int]:
        """`warn` is FrontEnd's: this tokenizer never warns (a symbol it lacks is a UserError)."""
        return self.ids(spoken)

    def pieces_ids(self, pieces: Sequence[str]) -> list[list[int]]:
        return [self.ids(p) for p in pieces]

    def ids(self, text: str) -> list[int]:
        symbols = self.symbols(text)
        missing = sorted({c for c in symbols if c not in self.vocab.index})
        if missing:
            raise UserError(f"the model's symbol table lacks {''.join(missing)!r} (from {text[:40]!r})")
        ids = [self.vocab.index[c] for c in symbols]
        if not ids:
            return []
        if self.add_blank:
            blank = self.vocab.id_of(self.vocab.blank)
            ids = [x for i in ids for x in (blank, i)] + [blank]
        if self.use_eos_bos:
            ids = [self.vocab.id_of(self.vocab.bos), *ids, self.vocab.id_of(self.vocab.eos)]
        return ids
