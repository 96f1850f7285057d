"""What keyword search asks of Redis and of this process (issue 24): the search's total is
the union of the terms' matches when every term's matches were read (no query of its own),
a candidate names the terms that found it only when a field was cut, and documents are
tokenised through a bounded memo of stems, to the same tokens as without it."""

import pytest

from memory import embeddings, index, textquery

NS = [index.Condition("namespace", "eq", ("n",))]


def _load(documents: list[dict]) -> None:
    index.upsert_documents(documents, embeddings.embed_texts([d["text"][:200] for d in documents]))


def _searches(redis_client) -> int:
    return int(redis_client.info("commandstats").get("cmdstat_FT.SEARCH", {}).get("calls", 0))


@pytest.fixture
def kiwi_and_lime():
    """In namespace n: kiwi in 6 documents, lime in 4 others and 2 of the kiwi ones (10 in
    all match), 3 that match neither; namespace m: 5 more kiwi documents."""
    _load(
        [
            *({"id": f"k{i}", "text": f"kiwi tart {i}{' lime' * (i < 2)}", "namespace": "n"} for i in range(6)),
            *({"id": f"l{i}", "text": f"lime pie {i}", "namespace": "n"} for i in range(4)),
            *({"id": f"p{i}", "text": f"plum jam {i}", "namespace": "n"} for i in range(3)),
            *({"id": f"m{i}", "text": f"kiwi elsewhere {i}", "namespace": "m"} for i in range(5)),
        ]
    )


def test_when_every_terms_matches_were_read_the_total_is_their_union_without_a_count_query(kiwi_and_lime, redis_client):
    before = _searches(redis_client)
    hits, total = index.text_search("kiwi lime", conditions=NS, k=10)

    assert (total, len(hits)) == (10, 10)
    # The filter's size and one query per term: the text's own count query did not run.
    assert _searches(redis_client) - before == 3


def test_when_a_term_has_more_matches_than_were_read_the_total_is_counted(kiwi_and_lime, redis_client, settings):
    settings.MEMORY_KEYWORD_CANDIDATES = 4  # each term reads 4 matches; kiwi has 6
    before = _searches(redis_client)
    hits, total = index.text_search("kiwi lime", conditions=NS, k=10)

    assert (total, len(hits)) == (10, 4)
    assert _searches(redis_client) - before == 4


def test_a_candidate_names_the_terms_that_found_it_only_when_a_field_was_cut(settings):
    settings.MEMORY_KEYWORD_SCORE_BYTES = 64
    _load(
        [
            {"id": "short", "text": "kiwi lime tart", "namespace": "n"},
            {"id": "long", "text": "kiwi " + "filler " * 20 + "lime", "namespace": "n"},  # 149 bytes
            {"id": "long-context", "text": "lime", "context": "orchard " * 10, "namespace": "n"},  # 80 bytes
        ]
    )
    found = index.keyword_candidates("kiwi lime", conditions=NS, k=10)

    assert {c.id: (c.terms, c.text_bytes, c.context_bytes) for c in found.candidates} == {
        "short": ((), 14, 0),
        "long": ((0, 1), 149, 0),
        "long-context": ((1,), 4, 80),
    }
    hits, total = index.text_search("kiwi lime", conditions=NS, k=10)
    # "lime" is past the long text's first 64 bytes and still counts.
    assert (total, [h.id for h in hits][0]) == (3, "short")
    assert all(h.text_score > 0 for h in hits)


def _tokens_without_memo(text: str) -> list[str]:
    """The definition the memo must keep: \\w+ runs, lower-cased, less "_" at either end,
    stopwords out, each stemmed."""
    words = (w.strip("_") for w in textquery._WORD.findall(text.lower()))
    return [textquery.stem(w) for w in words if w and w not in textquery.STOPWORDS]


@pytest.mark.parametrize(
    "text",
    [
        "Caroline went to the LGBTQ support group yesterday, and she volunteered; volunteering helps!",
        "__init__ _private_ snake_case_words and THE Stops: a an the of",
        "Zoë's café über naïve — 東京 タワー 123 4.5 x_1",
        "",
    ],
)
def test_documents_tokenise_to_the_same_tokens_twice_and_as_without_the_memo(text):
    expected = _tokens_without_memo(text)
    assert textquery.stemmed_tokens(text) == expected  # first: working each word out
    assert textquery.stemmed_tokens(text) == expected  # then: from the memo


def test_the_stem_memo_stays_within_its_words(monkeypatch):
    monkeypatch.setattr(textquery, "STEM_MEMO_WORDS", 50)
    monkeypatch.setattr(textquery, "_stems", {})
    tokens = textquery.stemmed_tokens(" ".join(f"unique{n}ing" for n in range(120)) + " " + "x" * 65)

    assert tokens == [f"unique{n}" for n in range(120)] + ["x" * 65]
    # Emptied each time it held 50: 120 words leave 20; the 65-character word is never kept.
    assert len(textquery._stems) == 20
    assert "x" * 65 not in textquery._stems


def test_an_empty_field_has_no_tokens_and_no_cache_entry(settings):
    cache = textquery.token_cache(settings.MEMORY_KEYWORD_TOKEN_CACHE_BYTES)
    entries = len(cache)

    assert textquery.term_counts(b"") == textquery.TermCounts(counts={}, length=0)
    assert textquery.term_counts(b"", truncated=True).length == 0
    assert len(cache) == entries
