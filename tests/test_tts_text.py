"""Text front end: normalisation, clause punctuation, phonemes, unknown symbols."""
import shutil

import pytest

from tts_temp.tts.text import PUNCTUATION, SYMBOLS, FrontEnd, normalise, number_to_words, split_sentences

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng (Debian) not installed")


@pytest.mark.parametrize("n, words", [(0, "zero"), (13, "thirteen"), (40, "forty"), (99, "ninety nine"),
                                      (101, "one hundred one"), (2024, "two thousand twenty four"),
                                      (1_000_000, "one million")])
def test_number_to_words(n, words):
    assert number_to_words(n) == words


def test_normalise_spells_numbers_abbreviations_and_unifies_punctuation():
    assert normalise("Dr. Smith paid $3.50; it's 1,200 miles!") == \
        "doctor smith paid three dollars and fifty cents, it's one thousand two hundred miles!"
    assert normalise("Pi is 3.14, 5% of $1.") == "pi is three point one four, five percent of one dollar."
    assert normalise("  Wait...  what\u2014now ") == "wait. what, now"


def test_split_sentences_keeps_every_word():
    text = "One two. Three four? Five! Six"
    parts = split_sentences(text)
    assert parts == ["One two.", "Three four?", "Five!", "Six"]
    assert " ".join(parts) == text


def test_very_long_sentences_are_split_without_losing_words():
    long = ", ".join(["one two three four five six seven"] * 10) + "."
    parts = split_sentences(long, max_words=20)
    assert all(len(p.split()) <= 20 for p in parts) and len(parts) > 1
    assert " ".join(parts).split() == long.split()
    run_on = " ".join(["word"] * 95)
    assert [len(p.split()) for p in split_sentences(run_on, max_words=40)] == [40, 40, 15]


def test_letters_front_end_keeps_clause_punctuation():
    fe = FrontEnd(phonemes=False)
    syms = fe.symbols("Hello, world.")
    assert "".join(syms) == "hello, world."
    assert all(0 < i < len(SYMBOLS) for i in fe.ids("Hello, world."))


def test_unknown_symbols_are_dropped_with_a_warning():
    with pytest.warns(UserWarning, match="dropped unknown symbols"):
        syms = FrontEnd(phonemes=False).symbols("caf\u00e9 \u4e2d")
    assert "".join(syms).startswith("caf")


def test_nothing_pronounceable_gives_no_ids():
    fe = FrontEnd(phonemes=False)
    assert fe.ids("... ?!") == []


@needs_espeak
def test_phonemes_are_deterministic_ipa():
    fe = FrontEnd()
    a = fe.symbols("The birch canoe slid on the smooth planks.")
    assert a == fe.symbols("The birch canoe slid on the smooth planks.")
    assert "ˈ" in a and a[-1] == "." and not any(s in "abcdefghijklmnopqrstuvwxyz" and s not in
                                                  "abdefhijklmnoprstuvwxz" for s in a)
    assert set(a) <= set(SYMBOLS)
    assert sum(s in PUNCTUATION for s in fe.symbols("One, two; three.")) == 3
