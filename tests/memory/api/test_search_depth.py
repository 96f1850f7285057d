"""A search may page only so deep (issue 20): `offset + limit` past MEMORY_MAX_SEARCH_DEPTH
with text (RediSearch's 10,000 without) is a 422 naming the field, on REST and in the
memory prompt alike, and nothing is searched, embedded, counted or queued. Before, a
keyword or hybrid search at offset 9990 read up to 10,000 candidates per term."""

import pytest

from tests.helpers import db_rows, redis_state

pytestmark = pytest.mark.django_db(transaction=True)

TOO_DEEP = "offset + limit must be at most 1000 for a search with text (got 10000); narrow the filters instead."


def _search(api, **body):
    return api.post("/v1/long-term-memory/search", {"namespace": {"eq": "ns"}, **body}, format="json")


@pytest.mark.parametrize("mode", ["keyword", "hybrid", "semantic"])
def test_a_search_past_the_depth_is_a_422_naming_offset_and_does_nothing(api, records, mode):
    redis_before, db_before = redis_state(), db_rows()

    response = _search(api, text="green tea", search_mode=mode, offset=9990, limit=10)

    assert response.status_code == 422
    assert response.json() == {"detail": [{"loc": ["body", "offset"], "msg": TOO_DEEP, "type": "search_too_deep"}]}
    # No query embedded (no cache entry), no hit counted, no flush queued, no row touched.
    assert redis_state() == redis_before
    assert db_rows() == db_before


def test_the_deepest_allowed_page_answers(api, records):
    response = _search(api, text="green tea", search_mode="hybrid", offset=990, limit=10)
    assert response.status_code == 200
    assert response.json() == {"memories": [], "total": 3, "next_offset": None}


def test_the_limit_is_named_when_it_alone_is_too_deep(api, settings):
    settings.MEMORY_MAX_SEARCH_DEPTH = 50
    response = _search(api, text="green tea", search_mode="keyword", limit=60)
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "limit"]
    assert error["msg"] == (
        "offset + limit must be at most 50 for a search with text (got 60); narrow the filters instead."
    )


def test_a_listing_without_text_may_still_page_to_the_index_window(api, records):
    # agent-memory-client's search_all_long_term_memories pages a listing to its end.
    listing = _search(api, text="", offset=9990, limit=10)
    too_deep = _search(api, text="", offset=9995, limit=10)

    assert listing.status_code == 200
    assert listing.json() == {"memories": [], "total": 3, "next_offset": None}
    assert too_deep.status_code == 422
    assert too_deep.json()["detail"] == [
        {
            "loc": ["body", "offset"],
            "msg": "offset + limit must be at most 10000 for a listing without text (got 10005); "
            "narrow the filters instead.",
            "type": "search_too_deep",
        }
    ]


def test_the_memory_prompts_search_refuses_the_same_way(api, records):
    redis_before = redis_state()
    response = api.post(
        "/v1/memory/prompt",
        {"query": "green tea", "long_term_search": {"search_mode": "keyword", "offset": 9990, "limit": 10}},
        format="json",
    )
    assert response.status_code == 422
    assert response.json() == {
        "detail": [{"loc": ["body", "long_term_search", "offset"], "msg": TOO_DEEP, "type": "search_too_deep"}]
    }
    assert redis_state() == redis_before
