"""Turn arbitrary user text into a RediSearch full-text clause that cannot hurt Redis.

Raw text is never passed into query syntax: RediSearch 2.10 segfaults on some unions
that start with stopwords, and operators in user text change the query's meaning.
We tokenize into plain word characters, drop stopwords and syntax words, and escape
what is left. An empty result means "no text condition".
"""

import re

# RediSearch's default index stopwords plus common English function words; none of
# them carries meaning for retrieval, and keeping them out avoids the parser crash.
STOPWORDS = frozenset(
    [
        "a",
        "about",
        "above",
        "after",
        "again",
        "against",
        "all",
        "am",
        "an",
        "and",
        "any",
        "are",
        "aren't",
        "as",
        "at",
        "be",
        "because",
        "been",
        "before",
        "being",
        "below",
        "between",
        "both",
        "but",
        "by",
        "can",
        "could",
        "did",
        "do",
        "does",
        "doing",
        "down",
        "during",
        "each",
        "few",
        "for",
        "from",
        "further",
        "had",
        "has",
        "have",
        "having",
        "he",
        "her",
        "here",
        "hers",
        "herself",
        "him",
        "himself",
        "his",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "itself",
        "just",
        "me",
        "more",
        "most",
        "my",
        "myself",
        "no",
        "nor",
        "not",
        "now",
        "of",
        "off",
        "on",
        "once",
        "only",
        "or",
        "other",
        "our",
        "ours",
        "ourselves",
        "out",
        "over",
        "own",
        "same",
        "she",
        "should",
        "so",
        "some",
        "such",
        "than",
        "that",
        "the",
        "their",
        "theirs",
        "them",
        "themselves",
        "then",
        "there",
        "these",
        "they",
        "this",
        "those",
        "through",
        "to",
        "too",
        "under",
        "until",
        "up",
        "very",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "while",
        "who",
        "whom",
        "why",
        "will",
        "with",
        "would",
        "you",
        "your",
        "yours",
        "yourself",
        "yourselves",
    ]
)
SYNTAX_WORDS = frozenset({"and", "or", "not"})
MAX_TERMS = 32
MAX_TERM_LENGTH = 64

_WORD = re.compile(r"\w+", re.UNICODE)
_SPECIAL = re.compile(r"([^\w])", re.UNICODE)


def terms(text: str) -> list[str]:
    """Distinct, lower-cased, meaningful terms of `text`, in order of first appearance."""
    seen: dict[str, None] = {}
    for match in _WORD.finditer(text.lower()):
        word = match.group(0).strip("_")
        if not word or len(word) > MAX_TERM_LENGTH or word in STOPWORDS or word in SYNTAX_WORDS:
            continue
        seen.setdefault(word, None)
        if len(seen) >= MAX_TERMS:
            break
    return list(seen)


def escape(term: str) -> str:
    return _SPECIAL.sub(r"\\\1", term)


def text_clause(text: str, field: str = "text") -> str | None:
    """`@field:(t1 | t2 ...)` for the meaningful terms of `text`, or None if there are none."""
    words = terms(text)
    if not words:
        return None
    return f"@{field}:({' | '.join(escape(w) for w in words)})"


def stem(word: str) -> str:
    """A light suffix stemmer, so "volunteered" and "volunteering" count as "volunteer"."""
    for suffix in ("ing", "ed", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


def stemmed_tokens(text: str) -> list[str]:
    """Every meaningful token of `text`, stemmed, repeats kept: a document for BM25."""
    return [stem(w) for w in (m.group(0).strip("_") for m in _WORD.finditer(text.lower())) if w and w not in STOPWORDS]
