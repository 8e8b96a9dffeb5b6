"""Issue 18.9: the normaliser on any string. Property-based (hypothesis): it never crashes, and it never
leaves a digit or a currency sign in the spoken text (glued to a word or not), so nothing reaches
espeak-ng that espeak-ng would read by its own, different rules."""
import string

import pytest
import unicodedata

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tts_temp.tts.normalise import normalise

# text that looks like what users type: digits, signs, letters, punctuation, the forms the rules read
PIECES = st.sampled_from(["$", "€", "£", "¥", "₹", "₿", "¢", "%", "/", ".", ",", "-", ":", "'", " ", "  ", "½", "¾",
                          "1e6", "4K", "3x", "bn", "k", "Mr.", "Co.", "Ltd.", "U.S.", "St.", "No.", "#", "am", "p.m.",
                          "1,0000", "10 000", "24/7", "12/05", "0", "007", "1999", "2024-12-05", "7:30", "°C", "km",
                          "\u00a0", "\u2009", "\u2044", "١٢", "²", "①", "𝟏", "–", "…", "e.g.", "th", "s", "'90s"])
MESSY = st.lists(st.one_of(PIECES, st.text(string.ascii_letters + string.digits, max_size=6),
                           st.integers(-10**25, 10**25).map(str), st.floats(allow_nan=False).map(str)),
                 max_size=12).map("".join)


def _leftovers(spoken: str) -> list[str]:
    return [c for c in spoken if unicodedata.category(c) in ("Nd", "Sc") or c.isdigit()]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.text(max_size=60), MESSY))
@example("1e6 4K 3x $1.5bn $.50 ¥500 24/7 50/50 12/05 ½ 1,0000 10 000")
@example("Change: -$5.")
@example("I paid $ for it, 5€ and ₿")
@example("⓵")
def test_any_string_is_spoken_without_digits_or_currency_signs(text):
    spoken = normalise(text)
    assert isinstance(spoken, str)
    assert not _leftovers(spoken), (text, spoken)
    assert spoken == spoken.strip() and "  " not in spoken


# every code point that is a digit, a number or a currency sign, alone and glued to letters and digits:
# exhaustive, so CI never meets one of them only by chance (⓵ was found that way)
NUMERIC_CHARS = [chr(c) for c in range(0x110000) if chr(c).isnumeric() or unicodedata.category(chr(c)) == "Sc"]


def test_every_digit_number_and_currency_code_point_is_spoken():
    for c in NUMERIC_CHARS:
        for text in (c, f"a{c}b", f"5{c}", f"{c}5", c * 3):
            spoken = normalise(text)
            assert not _leftovers(spoken), (text, spoken)


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=0, max_value=10**30), st.sampled_from(["", "$", "€", "£", "¥"]),
       st.sampled_from(["", "x", "K", "bn", "e6", "abc", "th"]))
def test_numbers_glued_to_words_are_said_apart(n, sign, suffix):
    spoken = normalise(f"{sign}{n}{suffix}")
    assert not _leftovers(spoken)
    for word in spoken.replace(",", " ").replace(".", " ").split():
        assert word.isalpha() or "'" in word, (n, sign, suffix, spoken)


@pytest.mark.parametrize("text, said", [
    ("1e6", "one e six"), ("4K", "four k"), ("3x", "three x"), ("mp3", "mp three"),
    ("$1.5bn", "one point five billion dollars"), ("€20k", "twenty thousand euros"),
    ("$.50", "fifty cents"), ("¥500", "five hundred yen"), ("5€", "five euros"), ("-$5", "minus five dollars"),
    ("I paid $ for it", "i paid dollars for it"),
    ("24/7", "twenty four seven"), ("50/50", "fifty fifty"), ("12/05", "december fifth"),
    ("3/4", "three quarters"), ("½", "one half"), ("2½ cups", "two and one half cups"),
    ("1,0000", "one, zero zero zero zero"), ("10 000", "ten thousand"), ("10\u00a0000 people", "ten thousand people"),
    ("Co. Ltd. is here.", "company limited is here."), ("Mr. and Mrs. Smith", "mister and missus smith"),
    ("The U.S. Army came.", "the u s army came."),
])
def test_issue_18_cases(text, said):
    assert normalise(text) == said


def test_an_acronym_does_not_end_the_sentence():
    from tts_temp.tts.text import split_spoken

    assert split_spoken(normalise("The U.S. Army came. Then it left."), 200) == ["the u s army came.", "then it left."]
    assert split_spoken(normalise("Co. Ltd. is here. Mr. and Mrs. Smith too."), 200) == \
        ["company limited is here.", "mister and missus smith too."]
