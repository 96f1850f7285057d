"""Is it the same fact? Without an LLM, only when it is said in the same content words.

Two texts whose embeddings are within the dedup distance can still state different facts:
"Clara's passport expires in March 2026." and "...in July 2029." embed almost identically,
and so do "Ivy likes hotels near the river" and "...near the main train station".
`differing_details(a, b)` lists why two texts may not be merged; an empty list means the
same fact in the same words, and only then may dedup merge them without an LLM. A list of
differences to look for is never complete, so the rule is turned around: the detail
rules below name what differs, and when they find nothing, the texts must still have the
same content words in the same order, after normalising case, punctuation, contractions,
inflection (Snowball's English stemmer: "hotels" is "hotel", "visited" is "visit") and
function words (articles, forms of "be", negation particles, "also"). Anything else is
"different wording": kept as its own record and linked for review or for compaction with
an LLM, so a paraphrase stays apart until a model or a person says it is the same, which
loses nothing. The rule is plain text processing (regular expressions and token lists),
no model, and linear in the text: every pattern matches without a span that is rescanned
per word, and each word looks back only at the word before it.

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
  "neither" ("neither ... nor" is one), "without", "no longer" (one marker; in
  "not ... anymore" the "not" is the marker), "stopped", "quit", "gave up", "dislikes", "hates". "doesn't eat
  meat" and "does not eat meat" agree; "is vegetarian" and "is no longer vegetarian"
  differ. Parity is a blunt rule: a double negative reads as none;
- **identifiers**: tokens of letters and digits together ("sunflower1923", a plate);
- **wording** (only when the details agree): the content words, in order; "sushi" /
  "tacos", "table tennis" / "tennis" and "Tom likes Ana" / "Ana likes Tom" differ.

Each difference is one reason, in the order above, such as "different number: 2026 vs
2029" or "different wording: main, station, train vs river" (what only `a` has, then
what only `b` has; "none" for an empty side; "word order" when only the order differs).
"""

import collections
import functools
import re
from collections.abc import Collection
from decimal import Decimal, InvalidOperation

import snowballstemmer
from django.conf import settings

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
# Each marker is a word or two, found in one pass. "not ... anymore" counts as its "not"
# alone ("anymore" is no marker), which is the same parity as one marker for both: a
# pattern spanning from "not" to a later "anymore" rescanned the sentence per "not", so
# "not " * n took quadratic time.
_NEGATION = re.compile(
    r"\bno\s+longer\b|n['’]t\b|\bcannot\b"
    r"|\b(?:not|never|none|nothing|nobody|neither|without|quit|quits|stopped|ceased)\b|\bno\b(?!\s*[,.!?;:])"
    r"|\bgave\s+up\b|\bgive\s+up\b|\bdislik(?:e|es|ed|ing)\b|\bhat(?:e|es|ed|ing)\b",
    re.IGNORECASE,
)
# What ends a sentence or opens a quote, so that a capitalised "May" after it opens a question.
_SENTENCE_OPENERS = frozenset('.!?:;\n"“(')


def differing_details(a_text: str, b_text: str) -> list[str]:
    """The details in which `a_text` and `b_text` differ, one reason each (see the module
    docstring); empty when they agree on every detail that carries meaning.

    A text longer than MEMORY_DEDUP_COMPARE_CHARS is not compared at all: the model
    embeds only its start, so a vector match says nothing of the rest, and comparing it
    would cost time in proportion to whatever length a caller sends."""
    longest, bound = max(len(a_text), len(b_text)), settings.MEMORY_DEDUP_COMPARE_CHARS
    if longest > bound:
        return [f"too long to compare: {longest} characters (MEMORY_DEDUP_COMPARE_CHARS is {bound})"]
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
    # The details agree: the same fact only in the same content words (a list of details
    # is never complete; a changed phrase or an inserted word must not merge either).
    wording = None if reasons else _different_wording(a.content, b.content)
    if wording:
        reasons.append(f"different wording: {wording}")
    return reasons


# Numbers with a unit glued on ("3pm", "21st", "10k", "1990s") are the number rules' to judge.
_NUMBER_WITH_UNIT = re.compile(r"\d+(?:st|nd|rd|th|am|pm|h|k|m|bn|s|kg|km|cm|mm|ml|l|g)")
_IDENTIFIER = re.compile(r"\b(?=\w*\d)(?=\w*[^\W\d_])\w+\b")
_DETAIL_WORDS = frozenset(
    [*_SMALL, *_TENS, *_ORDINALS, *_COUNT_WORDS, *_SUFFIX_SCALES, *_MONTHS, *_MONTH_ABBREVIATIONS, *_WEEKDAYS]
    + [*_RELATIVE_DAYS, *_CURRENCY_WORDS, "st", "nd", "rd", "th", "am", "pm", "noon", "midnight", "every", "each"]
)
# Words that change no fact when added, dropped or inflected: articles, forms of "be" ("is"
# and "'s" alike), the negation particles (the negation rule weighs those), "also". Kept
# narrow on purpose: a preposition ("from" / "to", "above" / "below") or a pronoun can be
# the whole difference between two facts, so neither is left out.
_FUNCTION_WORDS = frozenset(
    ["a", "an", "the", "is", "are", "am", "was", "were", "be", "been", "being", "not", "no", "never", "also"]
)
# Contractions whose stem is not the word before "n't".
_NOT_CONTRACTIONS = {"can't": "can", "won't": "will", "shan't": "shall", "ain't": "is"}
_CONTRACTION_WORDS = {"ve": "have", "ll": "will", "d": "would"}  # "'s", "'m", "'re" are forms of "be"
# Longer tokens are compared as they are: a stemmer's work then stays bounded per word.
_MAX_STEMMED = 40
_STEMMER = snowballstemmer.stemmer("english")


def _identifiers(text: str) -> set[str]:
    """Tokens of letters and digits together (passwords, codes, plates: "sunflower1923")."""
    tokens = (m.group().casefold() for m in _IDENTIFIER.finditer(text))
    return {t for t in tokens if not _NUMBER_WITH_UNIT.fullmatch(t)}


@functools.lru_cache(maxsize=4096)
def _content_words(token: str) -> tuple[tuple[str, str], ...]:
    """(stem, word) for the words of `token` that carry content, after case, contraction,
    inflection and function words are normalised away: "doesn't" gives "does", "Kyoto's"
    gives "kyoto", "hotels" and "hotel" share the stem "hotel". The numbers, dates,
    times and currencies the detail rules compare are left out (they equate "3rd" and
    "third")."""
    word = token.casefold().replace("’", "'")
    if word in _NOT_CONTRACTIONS:
        words = [_NOT_CONTRACTIONS[word]]
    elif word.endswith("n't"):
        words = [word[:-3]]
    else:
        base, _, suffix = word.partition("'")
        words = [base, _CONTRACTION_WORDS[suffix]] if suffix in _CONTRACTION_WORDS else [base]
    return tuple(
        (_stem(w), w)
        for w in words
        if w and w not in _FUNCTION_WORDS and w not in _DETAIL_WORDS and w.rstrip("s") not in _DETAIL_WORDS
    )


@functools.lru_cache(maxsize=4096)
def _stem(word: str) -> str:
    return _STEMMER.stemWord(word) if len(word) <= _MAX_STEMMED else word


def _different_wording(a: list[tuple[str, str]], b: list[tuple[str, str]]) -> str | None:
    """How two texts' content words differ ("main, station, train vs river"; "table vs
    none"; "word order" when only the order does), or None when they are the same words
    in the same order. Order counts: "Tom likes Ana" is not "Ana likes Tom"."""
    if [stem for stem, _ in a] == [stem for stem, _ in b]:
        return None
    a_stems, b_stems = collections.Counter(s for s, _ in a), collections.Counter(s for s, _ in b)
    a_only = [word for stem, word in a if stem in a_stems - b_stems]
    b_only = [word for stem, word in b if stem in b_stems - a_stems]
    return "word order" if not (a_only or b_only) else f"{_shown(a_only)} vs {_shown(b_only)}"


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
        tokens = _tokens(rest)
        words = {t.casefold() for t, _ in tokens}
        self.words = words | {_bare(w) for w in words}
        self.names: list[str] = []
        self.content: list[tuple[str, str]] = []  # (stem, word) of each content word, in order
        self._words(tokens)
        markers = [m.group().casefold() for m in _NEGATION.finditer(text)]
        self.negated = len(markers) % 2 == 1
        self.negation = _shown_in_order(markers)

    def _period(self, m: re.Match[str]) -> str:
        self.dates.add(" ".join(m.group().casefold().split()))
        return " "

    def _time(self, m: re.Match[str]) -> str:
        if m.group("word"):
            hour, minute = (0, 0) if m.group("word").casefold() == "midnight" else (12, 0)
        elif m.group("ampm"):
            hour, minute = int(m.group("h12")) % 12, int(m.group("m12") or 0)
            hour += 12 if m.group("ampm").casefold() == "p" else 0
        else:
            hour, minute = int(m.group("h24")), int(m.group("m24"))
        self.times.add(f"{hour:02d}:{minute:02d}")
        return " "

    def _number(self, m: re.Match[str]) -> str:
        try:
            value = Decimal(m.group("int").replace(",", "") + (m.group("frac") or ""))
        except InvalidOperation:
            whole: str = m.group()  # typeshed: str | Any (a group may be absent; the whole match never is)
            return whole
        if m.group("scale"):
            value *= _SUFFIX_SCALES[m.group("scale").casefold()]
        self.numbers.add(value.normalize())
        return " "

    def _words(self, tokens: list[tuple[str, str]]) -> None:
        """Written-out numbers, currency words, dates, names and content words, in one
        pass. A word looks back only at the word before it and the gap between them, never
        at the text before."""
        spoken: list[int] = []  # the parts of a written-out number being read

        previous = None
        for token, gap in tokens:
            word, after = token.casefold(), previous
            previous = word
            if self._number_word(spoken, word, after=after, gap=gap):
                continue
            self._flush(spoken)
            self.content += _content_words(token)
            if word in _COUNT_WORDS:
                self.numbers.add(Decimal(_COUNT_WORDS[word]))
            elif word in _CURRENCY_WORDS and (word != "real" or token[0].isupper()):
                self.currencies.add(_CURRENCY_WORDS[word])
            elif token in _MONTH_ABBREVIATIONS:
                self.dates.add(_MONTH_ABBREVIATIONS[token])
            elif word in _MONTHS and (word != "may" or token[0].isupper()):
                if word == "may" and _opens_sentence(gap, first=after is None):
                    continue  # "May I ..." opens a question; a month rarely opens a fact
                self.dates.add(_MONTHS[word])
            elif word in _WEEKDAYS or word in _RELATIVE_DAYS or word[:-1] in _WEEKDAYS:
                self.dates.add(word.removesuffix("s").capitalize() if word[:-1] in _WEEKDAYS else word.capitalize())
            elif token[0].isupper() and _bare(word) not in _NOT_NAMES and token.upper() not in _CURRENCY_WORDS_UPPER:
                self.names.append(_bare(token))
        self._flush(spoken)

    def _flush(self, spoken: list[int]) -> None:
        """Record the written-out number read so far, if any."""
        if spoken:
            self.numbers.add(Decimal(sum(spoken)).normalize())
            spoken.clear()

    def _number_word(self, spoken: list[int], word: str, *, after: str | None, gap: str) -> bool:
        """Add `word` to the written-out number in `spoken` when it is part of one; False
        when it is not. A scale multiplies only the parts below it, so "hundred hundred
        ..." never grows a value past 10**18, and a number has at most a few parts."""
        parts = word.split("-") if "-" in word else [word]
        if all(p in _SMALL or p in _TENS or p in _ORDINALS for p in parts) and word != "second":
            value = sum(_SMALL.get(p, 0) + _TENS.get(p, 0) + _ORDINALS.get(p, 0) for p in parts)
            if not (spoken and len(spoken) < _MAX_NUMBER_PARTS and _continues(sum(spoken), value)):
                self._flush(spoken)
            spoken.append(value)
            return True
        if word in _SCALES:
            scale, head = _SCALES[word], len(spoken)
            while head and spoken[head - 1] < scale:
                head -= 1
            if head < len(spoken):
                spoken[head:] = [sum(spoken[head:]) * scale]  # "twenty-five thousand", "two thousand five hundred"
                return True
            if word != "hundred" or (after in ("a", "an") and gap.isspace()):  # "a hundred", "thousand"
                self._flush(spoken)
                spoken.append(scale)
                return True
            return False
        return word == "and" and bool(spoken)  # "a hundred and twenty"


_CURRENCY_WORDS_UPPER = {w.upper() for w in _CURRENCY_WORDS if len(w) == 3}
# A written-out number has a few parts ("two thousand five hundred and twenty"); a longer
# run is read as several numbers, so the work per word stays bounded.
_MAX_NUMBER_PARTS = 8


def _continues(total: int, value: int) -> bool:
    """Whether a number word adds to the one being read: "twenty" "five", "a hundred" "ten"."""
    return (total >= 20 and total % 10 == 0 and value < 10) or (total >= 100 and total % 100 == 0 and value < 100)


def _tokens(text: str) -> list[tuple[str, str]]:
    """The words of `text`, each with the text between it and the word before (its gap):
    the gaps and words together are at most the text, so any look-back is linear."""
    tokens, end = [], 0
    for m in _WORD.finditer(text):
        tokens.append((m.group(), text[end : m.start()]))
        end = m.end()
    return tokens


def _opens_sentence(gap: str, *, first: bool) -> bool:
    """Whether a word after `gap` opens a sentence: the text's first word, or one after a
    sentence end, a colon, a line break or an opening quote or bracket."""
    stripped = gap.rstrip()
    return (first and not stripped) or stripped[-1:] in _SENTENCE_OPENERS or "\n" in gap[len(stripped) :]


def _bare(word: str) -> str:
    """A word without a possessive 's."""
    return word[:-2] if word[-2:].casefold() in ("'s", "’s") else word


# A reason names at most this many values per side, so that its length stays bounded too.
_SHOWN_AT_MOST = 10


def _shown(values: Collection[object]) -> str:
    if not values:
        return "none"
    shown = [format(v, "f") if isinstance(v, Decimal) else str(v) for v in values]
    return _shown_in_order(sorted(set(shown), key=lambda s: (len(s), s) if s[:1].isdigit() else (0, s)))


def _shown_in_order(values: list[str]) -> str:
    distinct = list(dict.fromkeys(values))
    more = len(distinct) - _SHOWN_AT_MOST
    return ", ".join(distinct[:_SHOWN_AT_MOST]) + (f" and {more} more" if more > 0 else "")
