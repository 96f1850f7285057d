"""BM25F scoring of keyword candidates: a memory's text and its context, scored together.

The index (`memory.index.keyword_candidates`) ships each candidate's first bytes and the
statistics of the filtered set; this room turns them into scores. RediSearch's own
scores are not used (see `memory.index.text_search`)."""

import math
from typing import Any

from memory import textquery

# Exact BM25F over the candidates; b below the textbook 0.75 because memories are short
# and their lengths vary a lot. A context word counts half a text word: it says what
# the memory is about, the text says what it holds (BENCHMARKS.md, LoCoMo).
BM25_K1 = 1.2
BM25_B = 0.4
CONTEXT_WEIGHT = 0.5
# A field as BM25 reads it: its term counts and the factor that scales them to the whole
# field (1 unless Redis shipped only its first bytes).
ScoredField = tuple[textquery.TermCounts, float]


def scored_field(prefix: bytes, full_bytes: int) -> ScoredField:
    """A field cut to its first bytes is scored as if the rest read like them: counts and
    length grow by full size / shipped size. Exact for fields that were not cut."""
    if len(prefix) >= full_bytes:
        return textquery.term_counts(prefix), 1.0
    return textquery.term_counts(prefix, truncated=True), full_bytes / max(len(prefix), 1)


def scored_fields(text: bytes, text_bytes: int, context: bytes, context_bytes: int) -> tuple[ScoredField, ScoredField]:
    """A candidate's text and context, each as shipped (`scored_field`)."""
    return scored_field(text, text_bytes), scored_field(context, context_bytes)


def scores_of_reply(words: list[str], reply: list[Any]) -> dict[str, float]:
    """`scores` of the candidates straight from redis_keys.KEYWORD_CANDIDATES's reply for
    `words`: (documents in the filter, matching, frequencies, rows), the rows flat, six per
    candidate (id, text prefix, text bytes, context prefix, context bytes, term numbers);
    the term numbers (1-based, in `words`) come only for a candidate with a field cut."""
    in_filter, _, frequencies, rows = reply
    documents, matched = {}, {}
    for i in range(0, len(rows), 6):
        record_id = rows[i].decode()
        documents[record_id] = scored_fields(rows[i + 1], rows[i + 2], rows[i + 3], rows[i + 4])
        if rows[i + 5]:
            matched[record_id] = {textquery.stem(words[t - 1]) for t in rows[i + 5]}
    return scores(words, frequencies, documents, total=in_filter, matched=matched)


def scores(
    words: list[str],
    frequencies: list[int],
    documents: dict[str, tuple[ScoredField, ScoredField]],
    *,
    total: int,
    matched: dict[str, set[str]] | None = None,
) -> dict[str, float]:
    """BM25F of each (text, context) document: a term's frequency and the length are the
    text's plus CONTEXT_WEIGHT times the context's. N and document frequencies come from
    the filtered set, the average length from the candidates.

    `matched` names, per document, the (stemmed) terms the index found in it: in a field
    cut to its first bytes, such a term that only occurs past the cut counts once, where
    the prefix alone would count it not at all."""
    if not documents:
        return {}
    weights: dict[str, float] = {}
    for word, df in zip(words, frequencies, strict=True):
        if df:
            term = textquery.stem(word)
            weights[term] = weights.get(term, 0.0) + math.log(1 + (total - df + 0.5) / (df + 0.5))
    lengths = {
        k: text.length * text_scale + CONTEXT_WEIGHT * context.length * context_scale
        for k, ((text, text_scale), (context, context_scale)) in documents.items()
    }
    mean_length = max(sum(lengths.values()) / len(documents), 1.0)
    scores = {}
    for record_id, ((text, text_scale), (context, context_scale)) in documents.items():
        norm = BM25_K1 * (1 - BM25_B + BM25_B * lengths[record_id] / mean_length)
        score = 0.0
        cut = text_scale > 1 or context_scale > 1
        found_past_the_cut = matched.get(record_id, set()) if cut and matched else set()
        in_text, in_context = text.counts.get, context.counts.get
        for term, idf in weights.items():
            tf = in_text(term, 0) * text_scale
            if context.counts:  # else it would add 0.0: most memories have no context
                tf += CONTEXT_WEIGHT * in_context(term, 0) * context_scale
            if not tf and term in found_past_the_cut:
                tf = 1.0
            if tf:
                score += idf * tf * (BM25_K1 + 1) / (tf + norm)
        scores[record_id] = score
    return scores
