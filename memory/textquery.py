"""Turn arbitrary user text into a RediSearch full-text clause that cannot hurt Redis.

Raw text is never passed into query syntax: RediSearch 2.10 segfaults on some unions
that start with stopwords, and operators in user text change the query's meaning.
We tokenize into plain word characters, drop stopwords and syntax words, and escape
what is left. An empty result means "no text condition".

The documents BM25 scores are tokenised here too (`term_counts`), through a per-process
cache bounded by bytes: the same memories come back for query after query of one user.
"""

import collections
import re
import sys
import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from functools import lru_cache
from typing import Generic, TypeVar

from django.conf import settings

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


# What each word of a document stems to ("" for a stopword), remembered per process: the
# same words recur in every document, and working each out again was most of the cost of
# tokenising one (46 -> 19 us for a LoCoMo turn). Bounded: words of at most
# MAX_TERM_LENGTH characters, emptied when it holds STEM_MEMO_WORDS (a few MB), so a
# stream of unique tokens cannot grow it.
STEM_MEMO_WORDS = 20_000
_stems: dict[str, str] = {}


def _document_stem(raw: str) -> str:
    word = raw.strip("_")
    stemmed = stem(word) if word and word not in STOPWORDS else ""
    if len(raw) <= MAX_TERM_LENGTH:
        if len(_stems) >= STEM_MEMO_WORDS:
            _stems.clear()
        _stems[raw] = stemmed
    return stemmed


def stemmed_tokens(text: str) -> list[str]:
    """Every meaningful token of `text`, stemmed, repeats kept: a document for BM25."""
    remembered = _stems.get
    tokens = []
    for raw in _WORD.findall(text.lower()):
        stemmed = remembered(raw)
        if stemmed is None:
            stemmed = _document_stem(raw)
        if stemmed:
            tokens.append(stemmed)
    return tokens


@dataclass(frozen=True)
class TermCounts:
    """A field as BM25 reads it: how often each stemmed token occurs, and how many there are."""

    counts: dict[str, int]
    length: int


# An empty field (most memories have no context): no tokens, no cache entry.
EMPTY_FIELD = TermCounts(counts={}, length=0)

KeyT = TypeVar("KeyT", bound=Hashable)
ValueT = TypeVar("ValueT")


class ByteBoundedCache(Generic[KeyT, ValueT]):
    """A least-recently-used map whose entries' estimated sizes sum to at most `max_bytes`.

    A bound on entries alone let 20,000 tokenised 100 KB texts stay in every process
    (issue 20). An entry larger than the whole bound is not kept. Thread-safe: a
    gunicorn process's threads share it.
    """

    def __init__(self, max_bytes: int, sizeof: Callable[[KeyT, ValueT], int]) -> None:
        self.max_bytes = max_bytes
        self.total_bytes = 0
        self._sizeof = sizeof
        self._entries: collections.OrderedDict[KeyT, tuple[ValueT, int]] = collections.OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: KeyT) -> ValueT | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            self._entries.move_to_end(key)
            return entry[0]

    def put(self, key: KeyT, value: ValueT) -> None:
        size = self._sizeof(key, value)
        if size > self.max_bytes:
            return
        with self._lock:
            previous = self._entries.pop(key, None)
            if previous is not None:
                self.total_bytes -= previous[1]
            self._entries[key] = (value, size)
            self.total_bytes += size
            while self.total_bytes > self.max_bytes:
                _, (_, evicted) = self._entries.popitem(last=False)
                self.total_bytes -= evicted


# The key tuple, the TermCounts and the OrderedDict's own node, roughly.
_ENTRY_OVERHEAD = 200


def _entry_bytes(key: tuple[bytes, bool], value: TermCounts) -> int:
    return sys.getsizeof(key[0]) + sys.getsizeof(value.counts) + sum(map(sys.getsizeof, value.counts)) + _ENTRY_OVERHEAD


@lru_cache(maxsize=1)
def token_cache(max_bytes: int) -> ByteBoundedCache[tuple[bytes, bool], TermCounts]:
    """The process's cache of tokenised fields; a new bound (a settings override) starts a new one."""
    return ByteBoundedCache(max_bytes, _entry_bytes)


def _without_partial_word(text: str) -> str:
    """`text` less a word the cut went through (a plain scan: a regex anchored at the end backtracks)."""
    end = len(text)
    while end and (text[end - 1].isalnum() or text[end - 1] == "_"):
        end -= 1
    return text[:end]


def term_counts(raw: bytes, *, truncated: bool = False) -> TermCounts:
    """The BM25 counts of a stored field (UTF-8), or of its first bytes when `truncated`
    (then a character or word the cut went through is left out). Cached by the bytes, so
    an edited memory is tokenised afresh."""
    if not raw:
        return EMPTY_FIELD
    cache = token_cache(settings.MEMORY_KEYWORD_TOKEN_CACHE_BYTES)
    key = (raw, truncated)
    found = cache.get(key)
    if found is None:
        text = raw.decode(errors="ignore")
        tokens = stemmed_tokens(_without_partial_word(text) if truncated else text)
        found = TermCounts(counts=dict(collections.Counter(tokens)), length=len(tokens))
        cache.put(key, found)
    return found
