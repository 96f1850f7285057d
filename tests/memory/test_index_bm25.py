"""Keyword scores are textbook BM25 with statistics from the filtered set, not RediSearch's.

On the embedded RediSearch a tag filter adds to every match's score with a length factor;
these tests pin the exact values, so a return to the index's own scores would fail them.
"""

import math

import pytest

from memory import index
from memory.services.long_term import memories_create

pytestmark = pytest.mark.django_db(transaction=True)  # documents are indexed on commit

# The documented parameters (docs/architecture.md, "Ranking"): k1 1.2, b 0.4, context words at half weight.
K1, B, CONTEXT_WEIGHT = 1.2, 0.4, 0.5


@pytest.fixture
def corpus():
    memories_create(
        actor="test",
        deduplicate=False,
        records=[
            {"id": "d1", "text": "alpha beta", "namespace": "a"},
            {"id": "d2", "text": "alpha gamma delta", "namespace": "a"},
            {"id": "d3", "text": "epsilon", "namespace": "a"},
            # Another tenant full of "alpha": it must not change tenant a's statistics.
            *({"id": f"b{i}", "text": f"alpha filler{i}", "namespace": "b"} for i in range(10)),
        ],
    )


def bm25(tf: int, length: int, mean_length: float, n: int, df: int) -> float:
    idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
    return idf * tf * (K1 + 1) / (tf + K1 * (1 - B + B * length / mean_length))


def test_keyword_scores_are_bm25_with_statistics_from_the_filtered_set(corpus):
    hits, total = index.text_search("alpha gamma", conditions=[index.Condition("namespace", "eq", ("a",))], k=10)
    # Tenant a: N = 3, df(alpha) = 2, df(gamma) = 1; candidates d1 (2 tokens), d2 (3 tokens).
    mean = (2 + 3) / 2
    expected_d2 = bm25(1, 3, mean, 3, 2) + bm25(1, 3, mean, 3, 1)
    expected_d1 = bm25(1, 2, mean, 3, 2)
    assert total == 2
    assert [h.id for h in hits] == ["d2", "d1"]
    assert hits[0].text_score == pytest.approx(expected_d2, rel=1e-9)
    assert hits[1].text_score == pytest.approx(expected_d1, rel=1e-9)
    # By hand: idf(alpha) = ln 1.6, idf(gamma) = ln(8/3); d2's norm 1.2 * (0.6 + 0.4 * 3 / 2.5).
    assert (hits[0].text_score, hits[1].text_score) == (
        pytest.approx(1.3901709, rel=1e-6),
        pytest.approx(0.4914487, rel=1e-6),
    )


def test_a_rare_term_in_a_long_memory_outranks_a_common_term_in_short_ones():
    filler = " ".join(f"word{i}" for i in range(40))
    memories_create(
        actor="test",
        deduplicate=False,
        records=[
            *({"id": f"s{i}", "text": f"coffee break {i}", "namespace": "n", "user_id": "u"} for i in range(30)),
            {"id": "long", "text": f"coffee in zanzibar with {filler}", "namespace": "n", "user_id": "u"},
        ],
    )
    conditions = [index.Condition("namespace", "eq", ("n",)), index.Condition("user_id", "eq", ("u",))]
    hits, total = index.text_search("coffee zanzibar", conditions=conditions, k=5)
    assert total == 31
    assert hits[0].id == "long"
    assert len(hits) == 5


def test_a_context_word_counts_context_weight_of_a_text_word():
    memories_create(
        actor="test",
        deduplicate=False,
        records=[
            {"id": "in-text", "text": "gamma beta", "namespace": "c"},
            {"id": "in-context", "text": "alpha", "context": "gamma delta", "namespace": "c"},
            {"id": "neither", "text": "epsilon", "context": "zeta", "namespace": "c"},
        ],
    )
    hits, total = index.text_search("gamma", conditions=[index.Condition("namespace", "eq", ("c",))], k=10)
    # N = 3, df(gamma) = 2 (text or context); lengths 2 and 1 + w * 2.
    w = CONTEXT_WEIGHT
    lengths = {"in-text": 2, "in-context": 1 + w * 2}
    mean = sum(lengths.values()) / 2
    assert total == 2
    assert [h.id for h in hits] == ["in-text", "in-context"]
    assert hits[0].text_score == pytest.approx(bm25(1, lengths["in-text"], mean, 3, 2), rel=1e-9)
    assert hits[1].text_score == pytest.approx(bm25(w, lengths["in-context"], mean, 3, 2), rel=1e-9)
    # By hand: both lengths are 2, so norm = k1 and the scores are ln 1.6 and ln 1.6 * 1.1 / 1.7.
    assert (hits[0].text_score, hits[1].text_score) == (
        pytest.approx(0.4700036, rel=1e-6),
        pytest.approx(0.3041200, rel=1e-6),
    )
