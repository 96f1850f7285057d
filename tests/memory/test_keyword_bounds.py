"""Keyword search's work is bounded whatever the query (issue 20): the candidates Redis
reads per term and in all, the bytes of text it ships back, and the bytes of the
per-process token cache. Before, one query could read 10,000 matches per term and ship
every one's whole text, and the cache kept 20,000 tokenised documents of any size."""

import math

import pytest

from memory import embeddings, index, textquery

NS = [index.Condition("namespace", "eq", ("n",))]
K1, B = 1.2, 0.4  # BM25 constants, written out (not read from the code under test)


def _load(documents: list[dict]) -> None:
    index.upsert_documents(documents, embeddings.embed_texts([d["text"][:200] for d in documents]))


def _long_text(term: str, n: int, chars: int) -> str:
    words = " ".join(f"filler{n}x{j}" for j in range(chars // 8))
    return f"{term} {words}"[:chars]


@pytest.fixture
def four_terms_thirty_long_records_each(settings):
    settings.MEMORY_KEYWORD_CANDIDATES = 40
    settings.MEMORY_KEYWORD_SCORE_BYTES = 256
    terms = ["apple", "banana", "cherry", "damson"]
    _load(
        [
            {"id": f"{term}-{n}", "text": _long_text(term, n, 20_000), "context": "orchard " * 500, "namespace": "n"}
            for term in terms
            for n in range(30)
        ]
    )
    return terms


def test_a_deep_query_reads_a_bounded_share_of_each_terms_matches(four_terms_thirty_long_records_each):
    terms = four_terms_thirty_long_records_each
    found = index.keyword_candidates(" ".join(terms), conditions=NS, k=1000)

    assert (found.in_filter, found.matching, found.frequencies) == (120, 120, [30, 30, 30, 30])
    # Asked of each term: k capped by the candidate budget; kept: the budget, shared out fairly.
    assert found.per_term == 40
    assert len(found.candidates) == 40
    assert [sum(c.id.startswith(t) for c in found.candidates) for t in terms] == [10, 10, 10, 10]
    # Only the first 256 bytes of each field travel, beside the field's full size.
    assert {(len(c.text), c.text_bytes, len(c.context), c.context_bytes) for c in found.candidates} == {
        (256, 20_000, 256, 4_000)
    }
    shipped = sum(len(c.id) + len(c.text) + len(c.context) for c in found.candidates)
    assert shipped <= 40 * (2 * 256 + 16)  # the whole texts were 40 x 24,000 bytes


def test_terms_matching_the_same_records_still_fill_the_page(settings):
    settings.MEMORY_KEYWORD_CANDIDATES = 30
    _load([{"id": f"r{n:02d}", "text": f"kiwi lime mango note {n}", "namespace": "n"} for n in range(50)])

    found = index.keyword_candidates("kiwi lime mango", conditions=NS, k=30)
    hits, total = index.text_search("kiwi lime mango", conditions=NS, k=30)

    # Each term's best matches are the same records: the later terms bring the next ones.
    assert (found.per_term, len(found.candidates), len({c.id for c in found.candidates})) == (30, 30, 30)
    assert (len(hits), total) == (30, 50)


def bm25(tf: float, length: float, mean_length: float, n: int, df: int) -> float:
    idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
    return idf * tf * (K1 + 1) / (tf + K1 * (1 - B + B * length / mean_length))


def test_a_long_text_is_scored_from_its_first_bytes_as_if_the_rest_read_alike(settings):
    settings.MEMORY_KEYWORD_SCORE_BYTES = 1000
    block = "zanzibar coffee morning walk harbour "  # 37 bytes, 5 tokens, the term once
    long_text = block * 1000  # 37,000 bytes
    _load(
        [
            {"id": "long", "text": long_text, "namespace": "n"},
            {"id": "short", "text": "zanzibar spice market", "namespace": "n"},
            {"id": "other", "text": "a quiet harbour", "namespace": "n"},
        ]
    )
    hits, total = index.text_search("zanzibar", conditions=NS, k=10)

    # The first 1000 bytes hold 27 whole blocks (a cut word is dropped): 27 of 135 tokens,
    # scaled by 37,000 / 1000 to 999 of 4995; the whole text has 1000 of 5000.
    scale = 37_000 / 1000
    long_tf, long_length = 27 * scale, 135 * scale
    mean = (long_length + 3) / 2
    assert total == 2
    assert [h.id for h in hits] == ["long", "short"]
    assert hits[0].text_score == pytest.approx(bm25(long_tf, long_length, mean, 3, 2), rel=1e-9)
    assert hits[1].text_score == pytest.approx(bm25(1, 3, mean, 3, 2), rel=1e-9)
    # Within 0.1% of the score of the whole text.
    exact_mean = (5000 + 3) / 2
    assert hits[0].text_score == pytest.approx(bm25(1000, 5000, exact_mean, 3, 2), rel=1e-3)


def test_a_term_found_only_past_the_shipped_bytes_still_counts_once(settings):
    """The index found the term in the record, but past the first bytes shipped for
    scoring: it counts as one occurrence, not none."""
    settings.MEMORY_KEYWORD_SCORE_BYTES = 1000
    long_text = "harbour coffee morning walk " * 100 + "zanzibar"  # 2,808 bytes, the term at the end
    _load(
        [
            {"id": "long", "text": long_text, "namespace": "n"},
            {"id": "short", "text": "zanzibar spice market", "namespace": "n"},
            {"id": "other", "text": "a quiet harbour", "namespace": "n"},
        ]
    )
    hits, total = index.text_search("zanzibar", conditions=NS, k=10)

    # The first 1000 bytes hold 35 whole blocks of 4 tokens and "harbour coffee" (the
    # cut "morni" is dropped): 142 tokens, scaled by 2,808 / 1000; the term is not among them.
    long_length = 142 * 2808 / 1000
    mean = (long_length + 3) / 2
    assert total == 2
    assert [h.id for h in hits] == ["short", "long"]
    assert hits[0].text_score == pytest.approx(bm25(1, 3, mean, 3, 2), rel=1e-9)
    assert hits[1].text_score == pytest.approx(bm25(1, long_length, mean, 3, 2), rel=1e-9)


def test_the_token_cache_stays_within_its_bytes_after_many_large_documents(settings):
    settings.MEMORY_KEYWORD_TOKEN_CACHE_BYTES = 2 * 1024 * 1024
    settings.MEMORY_KEYWORD_SCORE_BYTES = 16 * 1024
    _load([{"id": f"big{n:02d}", "text": _long_text("walnut", n, 16 * 1024), "namespace": "n"} for n in range(60)])
    hits, total = index.text_search("walnut", conditions=NS, k=100)
    cache = textquery.token_cache(2 * 1024 * 1024)

    assert (len(hits), total) == (60, 60)
    assert 0 < cache.total_bytes <= 2 * 1024 * 1024
    # 60 texts of 16 KiB (each about 1,500 distinct tokens) did not all fit: the oldest went.
    assert 10 <= len(cache) < 60
    assert cache.total_bytes == sum(size for _, size in cache._entries.values())


def test_the_byte_bounded_cache_evicts_the_least_recently_used_and_keeps_nothing_too_big():
    cache = textquery.ByteBoundedCache(100, lambda key, value: value)
    cache.put("a", 40)
    cache.put("b", 40)
    assert cache.get("a") == 40  # "a" is now the most recently used
    cache.put("c", 40)  # 120 > 100: "b" goes
    assert (cache.get("b"), cache.get("a"), cache.get("c"), cache.total_bytes) == (None, 40, 40, 80)
    cache.put("huge", 101)
    assert (cache.get("huge"), len(cache), cache.total_bytes) == (None, 2, 80)
    cache.put("a", 10)  # replacing an entry counts its new size only
    assert (cache.get("a"), cache.total_bytes) == (10, 50)
