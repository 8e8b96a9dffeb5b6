"""Written forms -> the words a reader says: dates, times, money, phone numbers, years, ordinals,
titles and abbreviations, units, plain numbers.

The voice only knows phonemes of words, so anything a reader expands in their head must be
expanded here, before espeak-ng (which has its own, different number rules) and before the
sentence splitter (so "Dr. Smith" is not two sentences). Number words come from num2words (a
maintained library); this module only decides *which* reading a written form gets. Conventions,
where the written form is ambiguous (all documented in docs/tts.md):

- numeric dates are month/day/year (the voice is en-us) unless the first field cannot be a month;
- a bare four-digit number from 1100 to 2099 is read as a year ("1999" -> nineteen ninety-nine),
  as most English front ends do; write "1,500" for a quantity;
- digit runs of seven or more, or with a leading zero, and phone-style groups are read digit by digit.
The output is lower case words and clause punctuation (, . ? !) only.
"""
from __future__ import annotations

import re
import unicodedata

from num2words import num2words

MONTHS = ("january february march april may june july august september october november december").split()
_MONTH_NUMBER = {m: i for i, m in enumerate(MONTHS, 1)}
_MONTH_NUMBER.update({m[:3]: i for i, m in enumerate(MONTHS, 1)})
_MONTH_NUMBER["sept"] = 9
_MONTH_RE = (r"(?:January|February|March|April|May|June|July|August|September|October|November|December|"
             r"(?:Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sept|Sep|Oct|Nov|Dec)\.?)")

# Titles precede a name: expanded only when capitalised and before a capitalised word, dot or not.
TITLES = {"mr": "mister", "mrs": "missus", "ms": "miz", "dr": "doctor", "prof": "professor", "gen": "general",
          "capt": "captain", "col": "colonel", "lt": "lieutenant", "sgt": "sergeant", "rev": "reverend",
          "gov": "governor", "sen": "senator", "rep": "representative", "pres": "president", "fr": "father",
          "mt": "mount", "ft": "fort"}
# Other abbreviations need their dot (so "co" or "vs" as words are left alone, except "vs").
ABBREVIATIONS = {"jr": "junior", "sr": "senior", "co": "company", "corp": "corporation", "inc": "incorporated",
                 "ltd": "limited", "etc": "et cetera", "vs": "versus", "approx": "approximately",
                 "dept": "department", "univ": "university", "govt": "government", "ave": "avenue",
                 "rd": "road", "blvd": "boulevard", "st": "street", "e.g": "for example", "i.e": "that is"}
UNITS = {  # unit after a number: (singular, plural)
    "km/h": ("kilometer per hour", "kilometers per hour"), "mph": ("mile per hour", "miles per hour"),
    "km": ("kilometer", "kilometers"), "cm": ("centimeter", "centimeters"), "mm": ("millimeter", "millimeters"),
    "kg": ("kilogram", "kilograms"), "lbs": ("pound", "pounds"), "lb": ("pound", "pounds"),
    "oz": ("ounce", "ounces"), "ft": ("foot", "feet"), "mi": ("mile", "miles"), "hrs": ("hour", "hours"),
    "hr": ("hour", "hours"), "mins": ("minute", "minutes"), "min": ("minute", "minutes"),
    "secs": ("second", "seconds"), "sec": ("second", "seconds"), "°c": ("degree celsius", "degrees celsius"),
    "°f": ("degree fahrenheit", "degrees fahrenheit"), "%": ("percent", "percent"),
}
CURRENCIES = {"$": ("dollar", "dollars", "cent", "cents"), "€": ("euro", "euros", "cent", "cents"),
              "£": ("pound", "pounds", "penny", "pence")}
AM_PM = {"a": "eigh em", "p": "pee em"}  # letter names spelled so espeak-ng says the letters


def _words(text: str) -> str:
    """num2words' British "and" and hyphens -> plain US reading ("one hundred one", "twenty four")."""
    return re.sub(r"\s+", " ", re.sub(r"\band\b|,|-", " ", text)).strip()


def cardinal(n: int) -> str:
    return _words(num2words(n))


def ordinal(n: int) -> str:
    return _words(num2words(n, to="ordinal"))


def year(n: int) -> str:
    """1999 -> nineteen ninety nine, 2005 -> two thousand five, 1905 -> nineteen oh five."""
    return _words(num2words(n, to="year"))


def digits(s: str) -> str:
    return " ".join(cardinal(int(d)) for d in s if d.isdigit())


def decimal(whole: str, frac: str) -> str:
    head = cardinal(int(whole.replace(",", ""))) if whole else "zero"
    return f"{head} point {digits(frac)}"


def _plural_word(words: str) -> str:
    """nineteen ninety -> nineteen nineties (a decade)."""
    head, _, last = words.rpartition(" ")
    last = last[:-1] + "ies" if last.endswith("y") else last + "s"
    return f"{head} {last}".strip()


# --- the rules, each one written form -> words ---------------------------------------------------------------

def _title(m: re.Match) -> str:
    return TITLES[m.group(1).lower()]


def _stop(m: re.Match) -> str:
    """"." when the dot a match swallowed ("etc.", "p.m.") also ended the sentence."""
    if not m.group(0).endswith("."):
        return ""
    rest = m.string[m.end():]
    return "." if not rest.strip() or re.match(r"\s+[A-Z]", rest) else ""


def _abbreviation(m: re.Match) -> str:
    word = ABBREVIATIONS[m.group(1).lower()]
    return word + _stop(m)


def _saint(m: re.Match) -> str:
    """St. before a name is Saint, after one (Baker St.) it is Street."""
    before = m.string[: m.start()].split()
    if before and before[-1][:1].isupper() and before[-1].isalpha():
        return "street" + _stop(m)
    return "saint"


def _phone(m: re.Match) -> str:
    groups = [g for g in re.split(r"\D+", m.group(0)) if g]
    return ", ".join(digits(g) for g in groups)


def _date_words(month: int, day: int, yr: str | None) -> str:
    out = f"{MONTHS[month - 1]} {ordinal(day)}"
    if yr:
        out += ", " + (year(int(yr)) if len(yr) == 4 else _two_digit_year(yr))
    return out


def _two_digit_year(yy: str) -> str:
    return ("oh " + cardinal(int(yy))) if yy[0] == "0" and yy != "00" else cardinal(int(yy))


def _numeric_date(m: re.Match) -> str:
    a, b, yr = int(m.group(1)), int(m.group(2)), m.group(3)
    month, day = (a, b) if a <= 12 else (b, a)
    if not (1 <= month <= 12 and 1 <= day <= 31):
        return m.group(0).replace("/", " ").replace("-", " ")
    return _date_words(month, day, yr)


def _iso_date(m: re.Match) -> str:
    yr, month, day = m.group(1), int(m.group(2)), int(m.group(3))
    if not (1 <= month <= 12 and 1 <= day <= 31):
        return m.group(0).replace("-", " ")
    return _date_words(month, day, yr)


def _month(name: str) -> int:
    return _MONTH_NUMBER[name.rstrip(".").lower()[:4] if name.lower().startswith("sept") else
                         name.rstrip(".").lower()[:3]]


def _month_day(m: re.Match) -> str:
    day = int(m.group(2))
    if not 1 <= day <= 31:
        return m.group(0)
    return _date_words(_month(m.group(1)), day, m.group(3))


def _day_month(m: re.Match) -> str:
    day = int(m.group(1))
    if not 1 <= day <= 31:
        return m.group(0)
    before = m.string[: m.start()].rstrip().lower()
    the = "" if before.endswith("the") else "the "
    out = f"{the}{ordinal(day)} of {MONTHS[_month(m.group(2)) - 1]}"
    return out + (", " + year(int(m.group(3))) if m.group(3) else _stop(m))


def _clock(hour: int, minute: int, half: str | None) -> str | None:
    if not (0 <= minute <= 59 and (0 <= hour <= 23 if half is None else 1 <= hour <= 12)):
        return None
    suffix = f" {AM_PM[half.lower()]}" if half else ""
    if minute == 0:
        if half:
            return cardinal(hour) + suffix
        return f"{cardinal(hour)} o'clock" if 1 <= hour <= 12 else f"{cardinal(hour)} hundred"
    mins = f"oh {cardinal(minute)}" if minute < 10 else cardinal(minute)
    return f"{cardinal(hour)} {mins}{suffix}"


def _time(m: re.Match) -> str:
    said = _clock(int(m.group(1)), int(m.group(2)), m.group(3))
    return said + _stop(m) if said is not None else m.group(0).replace(":", " ")


def _hour_am_pm(m: re.Match) -> str:
    said = _clock(int(m.group(1)), 0, m.group(2))
    return said + _stop(m) if said is not None else m.group(0)


def _money(m: re.Match) -> str:
    one, many, sub_one, sub_many = CURRENCIES[m.group(1)]
    whole, frac, scale = m.group(2).replace(",", ""), m.group(3), m.group(4)
    if scale:  # $1.2 million -> one point two million dollars
        amount = decimal(whole, frac) if frac else cardinal(int(whole))
        return f"{amount} {scale.lower()} {many}"
    if frac and len(frac) > 2:
        return f"{decimal(whole, frac)} {many}"
    units = int(whole)
    cents = int((frac or "0").ljust(2, "0"))
    parts = []
    if units or not cents:
        parts.append(f"{cardinal(units)} {one if units == 1 else many}")
    if cents:
        parts.append(f"{cardinal(cents)} {sub_one if cents == 1 else sub_many}")
    return " and ".join(parts)


def _decade(m: re.Match) -> str:
    return _plural_word(year(int(m.group(1))))


def _short_decade(m: re.Match) -> str:
    return _plural_word(cardinal(int(m.group(1))))


def _fraction(m: re.Match) -> str:
    num, den = int(m.group(1)), int(m.group(2))
    if den == 0 or den > 100:
        return f"{cardinal(num)} over {cardinal(den)}"
    name = {2: ("half", "halves"), 4: ("quarter", "quarters")}.get(den) or (ordinal(den), ordinal(den) + "s")
    return f"{cardinal(num)} {name[0] if num == 1 else name[1]}"


def _number(m: re.Match) -> str:
    text = m.group(0)
    text = "0" + text if text.startswith(".") else text
    sign = "minus " if text.startswith("-") else ""
    text = text.lstrip("-")
    if "." in text:
        whole, frac = text.split(".", 1)
        return sign + decimal(whole, frac)
    plain = text.replace(",", "")
    if "," not in text and (len(plain) >= 7 or (len(plain) > 1 and plain[0] == "0")):
        return sign + digits(plain)
    n = int(plain)
    if "," not in text and not sign and (1100 <= n <= 2099 or 1000 <= n < 1100 and _YEAR_CUE.search(
            m.string[: m.start()])):
        return year(n)
    return sign + cardinal(n)


_YEAR_CUE = re.compile(r"\b(?:in|since|by|from|until|year|circa|before|after)\s+$", re.I)

_RULES: list[tuple[re.Pattern, object]] = [
    # titles and abbreviations first: "No. 5", and so the sentence splitter never sees their dots
    (re.compile(r"\b(" + "|".join(f"{k.capitalize()}|{k.upper()}" for k in TITLES) + r")\b\.?(?=\s+[A-Z])"),
     _title),
    (re.compile(r"\bSt\.(?=\s+[A-Z])"), _saint),
    (re.compile(r"\b([A-HJ-Z])\.(?=\s*[A-Z])"), lambda m: m.group(1)),   # initials: J. R. R. Tolkien
    (re.compile(r"\b(e\.g|i\.e|" + "|".join(k for k in ABBREVIATIONS if "." not in k) + r")\.", re.I),
     _abbreviation),
    (re.compile(r"\bvs\b", re.I), lambda m: "versus"),
    (re.compile(r"#(?=\d)|\bNo\.\s*(?=\d)", re.I), lambda m: "number "),
    # digit strings read digit by digit: (555) 123-4567, 555-123-4567, +1 555 123 4567, 555-1234
    (re.compile(r"(?:\+\d{1,3}[ .-]?)?(?:\(\d{3}\)\s?|\b\d{3}[ .-])\d{3}[ .-]\d{4}\b"), _phone),
    (re.compile(r"\b\d{3}-\d{4}\b"), _phone),
    # dates: 12/05/2024, 2024-12-05, March 3rd, 2024, 3 March 2024, the 3rd of March
    (re.compile(r"\b(\d{1,2})[/-](\d{1,2})[/-](\d{4}|\d{2})\b"), _numeric_date),
    (re.compile(r"\b(\d{4})-(\d{1,2})-(\d{1,2})\b"), _iso_date),
    (re.compile(r"\b(" + _MONTH_RE + r")\s+(\d{1,2})(?:st|nd|rd|th)?\b(?:,?\s+(\d{4})\b)?(?!:)"), _month_day),
    (re.compile(r"\b(\d{1,2})(?:st|nd|rd|th)?\s+(?:of\s+)?(" + _MONTH_RE + r")(?:,?\s+(\d{4})\b)?"), _day_month),
    (re.compile(r"\b(" + _MONTH_RE + r")(?=\s+\d{4}\b)"), lambda m: MONTHS[_month(m.group(1)) - 1]),
    # times: 7:30am, 7:30 p.m., 19:45, 7 pm
    (re.compile(r"\b(\d{1,2}):(\d{2})(?:\s*([ap])\.?\s?m\b\.?)?", re.I), _time),
    (re.compile(r"\b(\d{1,2})\s*([ap])\.?m\b\.?", re.I), _hour_am_pm),
    # money: $3.50, $1,200, $1.2 million, €5, £20.99
    (re.compile(r"([$€£])\s?(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d+))?(?:\s+(thousand|million|billion|trillion)\b)?",
                re.I), _money),
    (re.compile(r"\b(\d+)\s?¢"), lambda m: f"{cardinal(int(m.group(1)))} cent{'s' if m.group(1) != '1' else ''}"),
    # years and ordinals: the 1990s, the '90s, 21st
    (re.compile(r"\b(1[1-9]\d0|20\d0)'?s\b"), _decade),
    (re.compile(r"'(\d0)s\b"), _short_decade),
    (re.compile(r"\b(\d+)(?:st|nd|rd|th)\b", re.I), lambda m: ordinal(int(m.group(1)))),
    # units after a number (5 km, 3 lbs, 20 °C, 5%), then fractions and all remaining numbers
    (re.compile(r"(\d)\s*(" + "|".join(re.escape(u) for u in sorted(UNITS, key=len, reverse=True)) + r")(?!\w)",
                re.I), lambda m: m.group(1) + " " + _unit_words(m)),
    (re.compile(r"\b(\d+)/(\d+)\b"), _fraction),
    (re.compile(r"(?<![\w.])-?\d+(?:,\d{3})*(?:\.\d+)?|(?<![\w])\.\d+"), _number),
]


def _unit_words(m: re.Match) -> str:
    singular, plural = UNITS[m.group(2).lower()]
    # the digit before the unit is the last digit of the amount: 1 alone is singular
    start = m.start(1)
    amount = re.search(r"[\d.,]+$", m.string[:start + 1]).group(0)
    return singular if amount in ("1", "1.0") else plural


def normalise(text: str) -> str:
    """Plain lower-case words and clause punctuation; every written form above spelled out."""
    text = unicodedata.normalize("NFKC", text)
    text = text.replace("\u2019", "'").replace("\u2018", "'").replace("&", " and ")
    for pattern, rule in _RULES:
        text = pattern.sub(rule, text)
    text = re.sub(r"[\u201c\u201d\"()\[\]{}]", " ", text)
    text = re.sub(r"(?<=\w)/(?=\w)", " ", text)       # and/or -> and or
    text = re.sub(r"[;:]", ",", text)
    text = re.sub(r"[\u2013\u2014]|--", ", ", text)
    text = re.sub(r"\.{2,}|\u2026", ".", text)
    text = re.sub(r"\s+([,.?!])", r"\1", text)
    text = re.sub(r"\s+", " ", text).strip().lower()
    return text
