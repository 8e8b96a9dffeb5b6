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
              "£": ("pound", "pounds", "penny", "pence"), "¥": ("yen", "yen", "sen", "sen"),
              "₹": ("rupee", "rupees", "paisa", "paise"), "₩": ("won", "won", "jeon", "jeon")}
# Scale words written after an amount of money: $1.5bn, $3m, €20k.
MONEY_SCALES = {"thousand": "thousand", "million": "million", "billion": "billion", "trillion": "trillion",
                "k": "thousand", "m": "million", "mn": "million", "b": "billion", "bn": "billion",
                "t": "trillion", "tn": "trillion"}
_CURRENCY = "[" + "".join(re.escape(c) for c in CURRENCIES) + "]"
_SCALE = r"(?:\s*(thousand|million|billion|trillion)\b|(k|mn|m|bn|b|tn|t)\b)"
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
    return " ".join(cardinal(int(d)) for d in s if d.isdecimal())


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
    following = re.match(r"\s+([A-Za-z.]+)", rest)
    if following and following.group(1).rstrip(".").lower() in ABBREVIATIONS.keys() | TITLES.keys():
        return ""    # "Co. Ltd.": the next word is another abbreviation, not a new sentence
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
    """Sign before (-$5, $1.5bn, $.50) or after (5€) the amount."""
    d = m.groupdict()
    sign_char = d["pre"] or d["post"]
    one, many, sub_one, sub_many = CURRENCIES[sign_char]
    minus = "minus " if d["minus"] else ""
    whole, frac = (d["whole"] or "").replace(",", "").replace(" ", ""), d["frac"]
    scale = d["scale"] or d["abbr"]
    if scale:  # $1.2 million, $1.5bn -> one point five billion dollars
        amount = decimal(whole, frac) if frac else cardinal(int(whole or 0))
        return f"{minus}{amount} {MONEY_SCALES[scale.lower()]} {many}"
    if frac and len(frac) > 2:
        return f"{minus}{decimal(whole, frac)} {many}"
    units = int(whole or 0)
    cents = int((frac or "0").ljust(2, "0"))
    parts = []
    if units or not cents:
        parts.append(f"{cardinal(units)} {one if units == 1 else many}")
    if cents:
        parts.append(f"{cardinal(cents)} {sub_one if cents == 1 else sub_many}")
    return minus + " and ".join(parts)


def _decade(m: re.Match) -> str:
    return _plural_word(year(int(m.group(1))))


def _short_decade(m: re.Match) -> str:
    return _plural_word(cardinal(int(m.group(1))))


def _fraction_words(num: int, den: int) -> str:
    name = {2: ("half", "halves"), 4: ("quarter", "quarters")}.get(den) or (ordinal(den), ordinal(den) + "s")
    return f"{cardinal(num)} {name[0] if num == 1 else name[1]}"


def _slash(m: re.Match) -> str:
    """a/b: a fraction when it looks like one (1/2, 3/4, 7/10: smaller over at most ten, no leading
    zero); a month/day date when it can be one (12/05, 3/16), as `verify` and Whisper hear it;
    otherwise two numbers said one after the other (24/7, 50/50)."""
    a_s, b_s = m.group(1), m.group(2)
    a, b = int(a_s), int(b_s)
    if 0 < a < b <= 10 and a_s[0] != "0" and b_s[0] != "0":
        return _fraction_words(a, b)
    if 1 <= a <= 12 and 1 <= b <= 31 and len(a_s) <= 2 and len(b_s) <= 2:
        return f"{MONTHS[a - 1]} {ordinal(b)}"
    return f"{_number_words(a_s)} {_number_words(b_s)}"


def _number_words(text: str) -> str:
    return digits(text) if len(text) >= 7 or (len(text) > 1 and text[0] == "0") else cardinal(int(text))


_VULGAR = re.compile(r"(\d*)\s?([\u00bc-\u00be\u2150-\u215e])")


def _vulgar(m: re.Match) -> str:
    """½ -> 1/2 (then read by the fraction rule), 2½ -> 2 and 1/2."""
    num, _, den = unicodedata.normalize("NFKC", m.group(2)).partition("\u2044")
    frac = f"{num}/{den}"
    return f"{m.group(1)} and {frac}" if m.group(1) else frac


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
    (re.compile(r"\b(Mr|Mrs|Ms|MR|MRS|MS)\.", re.I), _title),    # with their dot they are never a word
    # dotted acronyms: U.S., U.K., D.C. -> letters (their dots end no sentence unless the text ends)
    (re.compile(r"(?<![\w.])(?![AaPp]\.[Mm]\.|[Ee]\.[Gg]\.|[Ii]\.[Ee]\.)((?:[A-Za-z]\.){2,})(?=\s|$|[,;:!?)])"), lambda m: _acronym(m)),
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
    (re.compile(r"(?P<minus>(?<![\w.])-)?(?P<pre>" + _CURRENCY + r")\s?(?P<whole>\d{1,3}(?:,\d{3}(?!\d))+|\d+)?"
                r"(?:\.(?P<frac>\d+))?(?(whole)|(?(frac)|(?!)))" + _SCALE.replace("(thousand", "(?P<scale>thousand")
                .replace("(k|", "(?P<abbr>k|") + "?", re.I), _money),
    (re.compile(r"(?P<minus>(?<![\w.])-)?(?<![\w.])(?P<whole>\d{1,3}(?:,\d{3}(?!\d))+|\d+)(?:\.(?P<frac>\d+))?"
                r"(?:\s?(?P<scale>(?!))|(?P<abbr>(?!)))?\s?(?P<post>" + _CURRENCY + r")(?P<pre>(?!))?"), _money),
    (re.compile(r"\b(\d+)\s?¢"), lambda m: f"{cardinal(int(m.group(1)))} cent{'s' if m.group(1) != '1' else ''}"),
    # years and ordinals: the 1990s, the '90s, 21st
    (re.compile(r"\b(1[1-9]\d0|20\d0)'?s\b"), _decade),
    (re.compile(r"'(\d0)s\b"), _short_decade),
    (re.compile(r"\b(\d+)(?:st|nd|rd|th)\b", re.I), lambda m: ordinal(int(m.group(1)))),
    # units after a number (5 km, 3 lbs, 20 °C, 5%), then fractions and all remaining numbers
    (re.compile(r"(\d)\s*(" + "|".join(re.escape(u) for u in sorted(UNITS, key=len, reverse=True)) + r")(?!\w)",
                re.I), lambda m: m.group(1) + " " + _unit_words(m)),
    (re.compile(r"\b(\d+)/(\d+)\b"), _slash),
    # a number glued to letters (1e6, 4K, 3x, mp3): said apart, letters as they are
    (re.compile(r"(?<=\d)(?=[^\W\d_])|(?<=[^\W\d_])(?=\d)"), lambda m: " "),
    (re.compile(r"(?<![\w.])-?\d+(?:,\d{3}(?!\d))*(?:\.\d+)?|(?<![\w])\.\d+"), _number),
    # whatever digits are left (1,0000 -> one, zero zero zero zero; a.5): digit by digit, apart from words
    (re.compile(r"\d+"), lambda m: f" {_number_words(m.group(0))} "),
]


def _unit_words(m: re.Match) -> str:
    singular, plural = UNITS[m.group(2).lower()]
    # the digit before the unit is the last digit of the amount: 1 alone is singular
    start = m.start(1)
    amount = re.search(r"[\d.,]+$", m.string[:start + 1]).group(0)
    return singular if amount in ("1", "1.0") else plural


def _acronym(m: re.Match) -> str:
    letters = " ".join(m.group(1).replace(".", ""))
    return letters + ("." if not m.string[m.end():].strip() else "")


def _currency_name(ch: str) -> str:
    """A currency sign with no amount beside it -> its name ($ -> dollars, ₿ -> bitcoin)."""
    if ch in CURRENCIES:
        return CURRENCIES[ch][1]
    name = unicodedata.name(ch, "currency").lower().replace(" sign", "")
    return re.sub(r"[^a-z ]", " ", name)


_GROUPED = re.compile(r"(?<![\d,.])(\d{1,3})((?:[ \u00a0\u202f\u2009]\d{3})+)(?![\d,]|\.\d)")


def normalise(text: str) -> str:
    """Plain lower-case words and clause punctuation; every written form above spelled out.

    Never leaves a digit or a currency sign in the output: a form no rule reads is said digit by
    digit, and a lone currency sign by its name."""
    text = _VULGAR.sub(_vulgar, text)
    text = unicodedata.normalize("NFKC", text).replace("\u2044", "/")
    if not text.isascii():      # digit symbols NFKC leaves alone (⓵, ❶, Ethiopic ፩): each a number of its own
        text = "".join(f" {unicodedata.digit(c)} " if c.isdigit() and not c.isdecimal() else c for c in text)
    text = text.replace("\u2019", "'").replace("\u2018", "'").replace("&", " and ")
    # 10 000 (thousands grouped by spaces) is one number, 10,000
    text = _GROUPED.sub(lambda m: m.group(1) + re.sub(r"\s", ",", m.group(2)), text)
    for pattern, rule in _RULES:
        text = pattern.sub(rule, text)
    text = "".join(f" {_currency_name(c)} " if unicodedata.category(c) == "Sc" else c for c in text)
    text = re.sub(r"[\u201c\u201d\"()\[\]{}]", " ", text)
    text = re.sub(r"(?<=\w)/(?=\w)", " ", text)       # and/or -> and or
    text = re.sub(r"[;:]", ",", text)
    text = re.sub(r"[\u2013\u2014]|--", ", ", text)
    text = re.sub(r"\.{2,}|\u2026", ".", text)
    text = re.sub(r"\s+([,.?!])", r"\1", text)
    text = re.sub(r"([,.?!])(?=[^\W_])", r"\1 ", text)
    text = re.sub(r"\s+", " ", text).strip().lower()
    return text
