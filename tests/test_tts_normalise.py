"""Text normalisation: the written forms a user types become the words a reader says (issue 12)."""
import pytest

from tts_temp.tts.normalise import cardinal, ordinal, year
from tts_temp.tts.text import normalise, split_sentences


@pytest.mark.parametrize("text, said", [
    # the two sentences
    ("On 12/05/2024 Dr. Smith paid $3.50 for 2 coffees at 7:30am.",
     "on december fifth, twenty twenty four doctor smith paid three dollars and fifty cents for two coffees "
     "at seven thirty eigh em."),
    ("Mr. Jones bought 3 apples for $1.20 each.", "mister jones bought three apples for one dollar and twenty cents each."),
    # dates, numeric and written
    ("Due 2024-01-15.", "due january fifteenth, twenty twenty four."),
    ("Due 25/12/2023.", "due december twenty fifth, twenty twenty three."),
    ("Due 1/2/05.", "due january second, oh five."),
    ("Call before March 3rd, 2024.", "call before march third, twenty twenty four."),
    ("Born on 3 March 1999.", "born on the third of march, nineteen ninety nine."),
    ("Born on the 3rd of March.", "born on the third of march."),
    ("On Jan. 5, 2020 it began.", "on january fifth, twenty twenty it began."),
    ("In May 1905 it rained.", "in may nineteen oh five it rained."),
    # times
    ("At 10 p.m. we left.", "at ten pee em we left."),
    ("We met at 19:45 and 7:05 pm.", "we met at nineteen forty five and seven oh five pee em."),
    ("It starts at 9:00.", "it starts at nine o'clock."),
    # money
    ("Pay $0.99 or $1 or $1,200.", "pay ninety nine cents or one dollar or one thousand two hundred dollars."),
    ("It cost €5.50, £1.01 and 50¢.", "it cost five euros and fifty cents, one pound and one penny and fifty cents."),
    ("Profit was $1.2 million.", "profit was one point two million dollars."),
    # ordinals, years, decades
    ("She finished 21st of 102.", "she finished twenty first of one hundred two."),
    ("In 1066 and 2024, 1,500 men.", "in ten sixty six and twenty twenty four, one thousand five hundred men."),
    ("The 1990s and the '80s.", "the nineteen nineties and the eighties."),
    # phone-style digit strings and codes
    ("Call (555) 123-4567 or 555-1234.",
     "call five five five, one two three, four five six seven or five five five, one two three four."),
    ("Agent 007, id 12345678.", "agent zero zero seven, id one two three four five six seven eight."),
    # titles and abbreviations
    ("Mrs. Brown met Prof. White in St. Louis.", "missus brown met professor white in saint louis."),
    ("He lives on Baker St. in London.", "he lives on baker street in london."),
    ("Cats vs. dogs, e.g. mine, etc.", "cats versus dogs, for example mine, et cetera."),
    ("J. R. R. Tolkien wrote it.", "j r r tolkien wrote it."),
    ("Go to No. 5, I said no.", "go to number five, i said no."),
    # units, percent, fractions, decimals, signs
    ("It weighs 3 lbs, 1 km away, 5% off.", "it weighs three pounds, one kilometer away, five percent off."),
    ("Add 1/2 and 3/4 and 2/3.", "add one half and three quarters and two thirds."),
    ("Pi is 3.14, -5 and .25.", "pi is three point one four, minus five and zero point two five."),
])
def test_written_forms_become_words(text, said):
    assert normalise(text) == said


def test_output_is_only_words_and_clause_punctuation():
    text = "On 12/05/2024 at 7:30am, Dr. Smith (tel. 555-123-4567) paid $3.50 & 5% tax; 2/3 of 1,200 in the '90s!"
    out = normalise(text)
    assert set(out) <= set("abcdefghijklmnopqrstuvwxyz' ,.?!"), out
    assert normalise(out) == out  # idempotent: normalising spoken words changes nothing


def test_number_words_come_from_num2words_in_us_style():
    assert cardinal(101) == "one hundred one" and cardinal(1_000_001) == "one million one"
    assert ordinal(42) == "forty second" and year(2005) == "two thousand five" and year(1905) == "nineteen oh five"


def test_titles_and_initials_do_not_end_a_sentence():
    assert split_sentences("Dr. Smith met Mr. J. Jones. Then they left.") == \
        ["Dr. Smith met Mr. J. Jones.", "Then they left."]
    assert split_sentences("So did I. Then he came at 7 p.m. today.") == ["So did I.", "Then he came at 7 p.m. today."]


def test_a_swallowed_abbreviation_dot_still_ends_the_sentence():
    assert normalise("It was the 5th of Jan. Then spring.") == "it was the fifth of january. then spring."
    assert normalise("We stopped at 10 p.m.") == "we stopped at ten pee em."


def test_titles_only_when_capitalised_before_a_name():
    assert normalise("Dr Who met Gen. Lee and MR. T.") == "doctor who met general lee and mister t."
    assert normalise("The gen Z rep Jones is 6 ft Tall.") == "the gen z rep jones is six feet tall."
