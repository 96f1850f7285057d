"""Is it the same fact? The details that carry meaning, compared between two texts.

Two texts whose embeddings are within the dedup distance can still state different facts:
"Clara's passport expires in March 2026." and "...in July 2029." embed almost identically.
`differing_details(a, b)` lists the details in which they differ; an empty list means
"the same fact as far as its details go", and only then may dedup merge them. The rule is
plain text processing (regular expressions and token sets), no model:

- **times**: "3pm", "3:30 pm", "15:30", "noon", "midnight", normalised to 24h "HH:MM"
  ("3pm" and "15:00" agree); their digits count as nothing else;
- **amounts**: a currency by symbol, code or word ($, €, £, ¥, USD, EUR, dollars,
  euros, ...); "$40" and "40 dollars" agree, "$40" and "€40" differ;
- **numbers**: digits (with thousands commas, decimals, a k / m / million / billion
  multiplier, "%"), ordinals ("3rd" is 3), written-out numbers up to the thousands
  ("twenty-five", "a hundred"), written ordinals ("third"), "once" / "twice" / "dozen",
  compared as sets of values ("March 3" and "March 3rd" agree); years are numbers;
- **dates**: month names (also "Jan", "Sept"...), weekdays ("Mondays" is Monday), seasons, "today",
  "tomorrow", "yesterday", "tonight", "weekend", and relative periods ("last month",
  "next week", "two years ago", whose number counts as nothing else), compared as sets;
- **names**: capitalised words (possessive "'s" dropped) that are not dates, currency
  codes, or a common sentence opener ("The", "She", "My", ...). A name of one text that
  the other does not contain in any case is a difference, so a sentence-initial "The" or
  "Coffee" matches "the" / "coffee" in the other text;
- **negation**: each text's polarity, the parity of its markers: "not", "n't",
  "cannot", "no" (not the interjection "No, ..."), "never", "none", "nothing", "nobody",
  "neither" ("neither ... nor" is one), "without", "no longer" (one marker, also
  "not ... anymore"), "stopped", "quit", "gave up", "dislikes", "hates". "doesn't eat
  meat" and "does not eat meat" agree; "is vegetarian" and "is no longer vegetarian"
  differ. Parity is a blunt rule: a double negative reads as none.

Not covered: a changed common noun or adjective ("sushi" / "tacos", "junior" /
"senior"), which the embedding distance usually keeps apart anyway.

Each difference is one reason, in the order above, such as "different number: 2026 vs
2029" (what only `a` has, then what only `b` has; "none" for an empty side).
"""

import difflib
import re
from decimal import Decimal, InvalidOperation

from memory.textquery import STOPWORDS

_SMALL = {
    "zero": 0,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "thirteen": 13,
    "fourteen": 14,
    "fifteen": 15,
    "sixteen": 16,
    "seventeen": 17,
    "eighteen": 18,
    "nineteen": 19,
}
_TENS = {
    "twenty": 20,
    "thirty": 30,
    "forty": 40,
    "fifty": 50,
    "sixty": 60,
    "seventy": 70,
    "eighty": 80,
    "ninety": 90,
}
_ORDINALS = {
    "first": 1,
    "second": 2,
    "third": 3,
    "fourth": 4,
    "fifth": 5,
    "sixth": 6,
    "seventh": 7,
    "eighth": 8,
    "ninth": 9,
    "tenth": 10,
    "eleventh": 11,
    "twelfth": 12,
    "thirteenth": 13,
    "fourteenth": 14,
    "fifteenth": 15,
    "sixteenth": 16,
    "seventeenth": 17,
    "eighteenth": 18,
    "nineteenth": 19,
    "twentieth": 20,
    "thirtieth": 30,
    "fortieth": 40,
    "fiftieth": 50,
    "hundredth": 100,
}
_COUNT_WORDS = {"once": 1, "twice": 2, "thrice": 3, "dozen": 12, "couple": 2, "pair": 2}
_SCALES = {"hundred": 100, "thousand": 1000, "million": 1_000_000, "billion": 1_000_000_000}
_SUFFIX_SCALES = {"k": 1000, "m": 1_000_000, "bn": 1_000_000_000, **_SCALES}

_MONTHS = {
    "january": "January",
    "february": "February",
    "march": "March",
    "april": "April",
    "may": "May",
    "june": "June",
    "july": "July",
    "august": "August",
    "september": "September",
    "october": "October",
    "november": "November",
    "december": "December",
}
_MONTH_ABBREVIATIONS = {
    "Jan": "January",
    "Feb": "February",
    "Mar": "March",
    "Apr": "April",
    "Jun": "June",
    "Jul": "July",
    "Aug": "August",
    "Sep": "September",
    "Sept": "September",
    "Oct": "October",
    "Nov": "November",
    "Dec": "December",
}
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_RELATIVE_DAYS = ("today", "tomorrow", "yesterday", "tonight", "weekend", "spring", "summer", "autumn", "winter")
_PERIOD = re.compile(
    r"\b(?:(?:last|next|this|past|coming)\s+(?:week|weekend|month|year|spring|summer|autumn|fall|winter)"
    r"|(?:\w+|a|an)\s+(?:days?|weeks?|months?|years?|decades?)\s+ago)\b",
    re.IGNORECASE,
)

_CURRENCY_SYMBOLS = {"$": "USD", "€": "EUR", "£": "GBP", "¥": "JPY", "₹": "INR", "₩": "KRW", "₽": "RUB"}
_CURRENCY_WORDS = {
    "usd": "USD",
    "dollar": "USD",
    "dollars": "USD",
    "bucks": "USD",
    "eur": "EUR",
    "euro": "EUR",
    "euros": "EUR",
    "gbp": "GBP",
    "pound": "GBP",
    "pounds": "GBP",
    "quid": "GBP",
    "jpy": "JPY",
    "yen": "JPY",
    "inr": "INR",
    "rupee": "INR",
    "rupees": "INR",
    "chf": "CHF",
    "franc": "CHF",
    "francs": "CHF",
    "cad": "CAD",
    "aud": "AUD",
    "brl": "BRL",
    "reais": "BRL",
    "real": "BRL",
}
# Capitalised words that open sentences or stand for the speaker, not names.
_NOT_NAMES_LISTED = """
    a an the i i'm i've i'd i'll my mine me we our us you your he him his she her hers they them their
    it its this that these those there here what which who whom whose when where why how
    user assistant system and but or so also then yes no not ok okay oh well please thanks
    in on at by for from to of with without after before during since until about as if
    all any some every each both either neither none one another other
    is are was were be been being do does did has have had will would can could should may might must
    mr mrs ms dr prof st
    """
_NOT_NAMES = frozenset(_NOT_NAMES_LISTED.split())

_TIME = re.compile(
    r"(?<![\w:])(?:(?P<h12>1[0-2]|0?[1-9])(?::(?P<m12>[0-5]\d))?\s*(?P<ampm>[ap])\.?m\.?(?!\w)"
    r"|(?P<h24>[01]?\d|2[0-3]):(?P<m24>[0-5]\d)(?![\w:])"
    r"|(?P<word>noon|midday|midnight)(?!\w))",
    re.IGNORECASE,
)
_NUMBER = re.compile(
    r"(?<![\w.])(?P<int>\d{1,3}(?:,\d{3})+|\d+)(?P<frac>\.\d+)?"
    r"(?:(?P<ordinal>st|nd|rd|th)|\s?(?P<scale>k|m|bn|hundred|thousand|million|billion))?(?![a-z])",
    re.IGNORECASE,
)
_WORD = re.compile(r"[A-Za-zÀ-ÖØ-öø-ÿ]+(?:['’][A-Za-z]+)*")
_CURRENCY_SYMBOL = re.compile("[" + re.escape("".join(_CURRENCY_SYMBOLS)) + "]")
_NEGATION = re.compile(
    r"\bno\s+longer\b|\bnot\b[^.;!?]*?\b(?:any\s?more|any\s+longer)\b|n['’]t\b|\bcannot\b"
    r"|\b(?:not|never|none|nothing|nobody|neither|without|quit|quits|stopped|ceased)\b|\bno\b(?!\s*[,.!?;:])"
    r"|\bgave\s+up\b|\bgive\s+up\b|\bdislik(?:e|es|ed|ing)\b|\bhat(?:e|es|ed|ing)\b",
    re.IGNORECASE,
)
_SENTENCE_START = re.compile(r"(?:^|[.!?:;\n]\s*|[\"“(]\s*)$")


def differing_details(a_text: str, b_text: str) -> list[str]:
    """The details in which `a_text` and `b_text` differ, one reason each (see the module
    docstring); empty when they agree on every detail that carries meaning."""
    a, b = _Details(a_text), _Details(b_text)
    reasons = []
    for kind, a_values, b_values in (
        ("time", a.times, b.times),
        ("currency", a.currencies, b.currencies),
        ("number", a.numbers, b.numbers),
        ("date", a.dates, b.dates),
    ):
        if a_values != b_values:
            reasons.append(f"different {kind}: {_shown(a_values - b_values)} vs {_shown(b_values - a_values)}")
    a_only = [name for name in a.names if name.casefold() not in b.words]
    b_only = [name for name in b.names if name.casefold() not in a.words]
    if a_only or b_only:
        reasons.append(f"different name: {_shown(a_only)} vs {_shown(b_only)}")
    a_ids, b_ids = _identifiers(a_text), _identifiers(b_text)
    if a_ids != b_ids:
        reasons.append(f"different identifier: {_shown(a_ids - b_ids)} vs {_shown(b_ids - a_ids)}")
    if a.negated != b.negated:
        reasons.append(
            "different negation: "
            + (f"negated in the first ({a.negation!r})" if a.negated else f"negated in the second ({b.negation!r})")
        )
    # A fallback: a word swap that none of the details above explains.
    swapped = None if reasons else _swapped_words(a_text, b_text)
    if swapped:
        reasons.append(f"different word: {_shown(swapped[0])} vs {_shown(swapped[1])}")
    return reasons


# Numbers with a unit glued on ("3pm", "21st", "10k", "1990s") are the number rules' to judge.
_NUMBER_WITH_UNIT = re.compile(r"\d+(?:st|nd|rd|th|am|pm|h|k|m|bn|s|kg|km|cm|mm|ml|l|g)")
_IDENTIFIER = re.compile(r"\b(?=\w*\d)(?=\w*[^\W\d_])\w+\b")
_DETAIL_WORDS = frozenset(
    [*_SMALL, *_TENS, *_ORDINALS, *_COUNT_WORDS, *_SUFFIX_SCALES, *_MONTHS, *_MONTH_ABBREVIATIONS, *_WEEKDAYS]
    + [*_RELATIVE_DAYS, *_CURRENCY_WORDS, "st", "nd", "rd", "th", "am", "pm", "noon", "midnight", "every", "each"]
)
# A swap of this many words or fewer, each side, with the rest of the text the same.
_SWAP_WORDS = 2


def _identifiers(text: str) -> set[str]:
    """Tokens of letters and digits together (passwords, codes, plates: "sunflower1923")."""
    tokens = (m.group().casefold() for m in _IDENTIFIER.finditer(text))
    return {t for t in tokens if not _NUMBER_WITH_UNIT.fullmatch(t)}


def _swapped_words(a_text: str, b_text: str) -> tuple[list[str], list[str]] | None:
    """The words of a small swap when that is all that differs, e.g. "sister" for
    "brother" or "cabin" for "home": the same sentence about another thing. A paraphrase
    rewrites more than a word or two in one place, so it is not caught here."""
    a_words = [w.casefold() for w in _WORD.findall(a_text)]
    b_words = [w.casefold() for w in _WORD.findall(b_text)]
    a_swapped, b_swapped = [], []
    for op, a_start, a_end, b_start, b_end in difflib.SequenceMatcher(a=a_words, b=b_words).get_opcodes():
        if op == "equal":
            continue
        if op != "replace" or a_end - a_start > _SWAP_WORDS or b_end - b_start > _SWAP_WORDS:
            return None
        a_swapped += a_words[a_start:a_end]
        b_swapped += b_words[b_start:b_end]
    a_meaningful, b_meaningful = _meaningful(a_swapped), _meaningful(b_swapped)
    return (a_meaningful, b_meaningful) if a_meaningful and b_meaningful else None


def _meaningful(words: list[str]) -> list[str]:
    """Words that name a thing: not function words, and not the numbers, dates, times and
    currencies the detail rules have already compared (they equate "third" and "3rd")."""
    return [w for w in words if w not in STOPWORDS and w.rstrip("s") not in _DETAIL_WORDS and w not in _DETAIL_WORDS]


class _Details:
    """The details of one text that `differing_details` compares."""

    def __init__(self, text: str):
        self.times: set[str] = set()
        self.dates: set[str] = set()
        rest = _PERIOD.sub(lambda m: self._period(m), text)
        rest = _TIME.sub(lambda m: self._time(m), rest)
        self.currencies = {_CURRENCY_SYMBOLS[s] for s in _CURRENCY_SYMBOL.findall(rest)}
        self.numbers: set[Decimal] = set()
        rest = _NUMBER.sub(lambda m: self._number(m), rest)
        tokens = [(m.group(), m.start()) for m in _WORD.finditer(rest)]
        self.words = {_bare(t).casefold() for t, _ in tokens} | {t.casefold() for t, _ in tokens}
        self.names: list[str] = []
        self._words(rest, tokens)
        markers = [m.group().casefold() for m in _NEGATION.finditer(text)]
        self.negated = len(markers) % 2 == 1
        self.negation = ", ".join(markers)

    def _period(self, m: re.Match) -> str:
        self.dates.add(" ".join(m.group().casefold().split()))
        return " "

    def _time(self, m: re.Match) -> str:
        if m.group("word"):
            hour, minute = (0, 0) if m.group("word").casefold() == "midnight" else (12, 0)
        elif m.group("ampm"):
            hour, minute = int(m.group("h12")) % 12, int(m.group("m12") or 0)
            hour += 12 if m.group("ampm").casefold() == "p" else 0
        else:
            hour, minute = int(m.group("h24")), int(m.group("m24"))
        self.times.add(f"{hour:02d}:{minute:02d}")
        return " "

    def _number(self, m: re.Match) -> str:
        try:
            value = Decimal(m.group("int").replace(",", "") + (m.group("frac") or ""))
        except InvalidOperation:
            return m.group()
        if m.group("scale"):
            value *= _SUFFIX_SCALES[m.group("scale").casefold()]
        self.numbers.add(value.normalize())
        return " "

    def _words(self, text: str, tokens: list[tuple[str, int]]) -> None:
        spoken: list[int] = []  # the value of a written-out number being read

        def flush():
            if spoken:
                self.numbers.add(Decimal(sum(spoken)).normalize())
                spoken.clear()

        for token, start in tokens:
            word = token.casefold()
            parts = word.split("-") if "-" in word else [word]
            if all(p in _SMALL or p in _TENS or p in _ORDINALS for p in parts) and word not in ("second",):
                value = sum(_SMALL.get(p, 0) + _TENS.get(p, 0) + _ORDINALS.get(p, 0) for p in parts)
                if not (spoken and _continues(sum(spoken), value)):
                    flush()
                spoken.append(value)
                continue
            if word in _SCALES and (spoken or word != "hundred" or _preceded_by_a(text, start)):
                spoken[:] = [max(sum(spoken), 1) * _SCALES[word]]
                continue
            if word == "and" and spoken:
                continue  # "a hundred and twenty"
            flush()
            if word in _COUNT_WORDS:
                self.numbers.add(Decimal(_COUNT_WORDS[word]))
            elif word in _CURRENCY_WORDS and (word != "real" or token[0].isupper()):
                self.currencies.add(_CURRENCY_WORDS[word])
            elif token in _MONTH_ABBREVIATIONS:
                self.dates.add(_MONTH_ABBREVIATIONS[token])
            elif word in _MONTHS and (word != "may" or token[0].isupper()):
                if word == "may" and _SENTENCE_START.search(text[:start]):
                    continue  # "May I ..." opens a question; a month rarely opens a fact
                self.dates.add(_MONTHS[word])
            elif word in _WEEKDAYS or word in _RELATIVE_DAYS or word[:-1] in _WEEKDAYS:
                self.dates.add(word.removesuffix("s").capitalize() if word[:-1] in _WEEKDAYS else word.capitalize())
            elif token[0].isupper() and _bare(word) not in _NOT_NAMES and token.upper() not in _CURRENCY_WORDS_UPPER:
                self.names.append(_bare(token))
        flush()


_CURRENCY_WORDS_UPPER = {w.upper() for w in _CURRENCY_WORDS if len(w) == 3}


def _continues(total: int, value: int) -> bool:
    """Whether a number word adds to the one being read: "twenty" "five", "a hundred" "ten"."""
    return (total >= 20 and total % 10 == 0 and value < 10) or (total >= 100 and total % 100 == 0 and value < 100)


def _preceded_by_a(text: str, start: int) -> bool:
    return re.search(r"\ban?\s+$", text[:start], re.IGNORECASE) is not None


def _bare(word: str) -> str:
    """A word without a possessive 's."""
    return re.sub(r"['’]s$", "", word, flags=re.IGNORECASE)


def _shown(values) -> str:
    if not values:
        return "none"
    shown = [format(v, "f") if isinstance(v, Decimal) else str(v) for v in values]
    return ", ".join(sorted(dict.fromkeys(shown), key=lambda s: (len(s), s) if s[:1].isdigit() else (0, s)))
