"""Recency ranks the same in Redis (a listing) and in Python (a search): the README's
formula, worked out by hand over the search set (real index, real model)."""

import pytest

from memory import index
from memory.selectors.long_term import Recency, SearchQuery, memories_search
from tests.factories import day

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_same_recency_formula_ranks_listings_in_redis_and_searches_in_python(search_set):
    now = day(7)  # 2024-07-01
    recency = Recency(half_life_last_access_days=10, half_life_created_days=40)
    conditions = (index.Condition("namespace", "eq", ("acme",)),)
    # The README's formula by hand, with weights 0.8 / 0.2 and 0.6 / 0.4:
    #   r1: 30 days idle, 182 old: 0.2 * (0.6 * 0.5 ** 3     + 0.4 * 0.5 ** 4.55)  = 0.0184151
    #   r3: 122 days idle and old: 0.2 * (0.6 * 0.5 ** 12.2  + 0.4 * 0.5 ** 3.05)  = 0.0096849
    #   r2: 151 days idle and old: 0.2 * (0.6 * 0.5 ** 15.1  + 0.4 * 0.5 ** 3.775) = 0.0058473
    listed = memories_search(query=SearchQuery(text="", conditions=conditions, recency=recency), now=now)
    assert [hit.record.id for hit in listed.hits] == ["r1", "r3", "r2"]  # computed inside Redis
    assert [hit.score for hit in listed.hits] == [
        pytest.approx(0.0184151, rel=1e-5),
        pytest.approx(0.0096849, rel=1e-5),
        pytest.approx(0.0058473, rel=1e-5),
    ]
    searched = memories_search(
        query=SearchQuery(text="grey cat Pixel", conditions=conditions, recency=recency, mode="keyword"), now=now
    )
    top = searched.hits[0]
    assert top.record.id == "r1"
    # Relevance 1 (the query's best BM25) at 0.8, plus r1's recency above (computed in Python).
    assert top.score == pytest.approx(0.8 * 1.0 + 0.0184151, rel=1e-6)
