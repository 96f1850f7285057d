"""Search through the API: every filter operator, true totals, pagination, statuses,
recency, and no leaks across namespaces (real index, real model). The recency formula
itself: tests/memory/selectors/test_recency.py."""

from datetime import UTC, datetime, timedelta

import pytest

from memory.services.long_term import memories_create
from tests.factories import day

pytestmark = pytest.mark.django_db(transaction=True)


def search(api, **body):
    response = api.post("/v1/long-term-memory/search", body, format="json")
    assert response.status_code == 200, response.json()
    return response.json()


def iso(value):
    return value.isoformat().replace("+00:00", "Z")


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"namespace": {"eq": "acme"}}, {"r1", "r2", "r3"}),
        ({"namespace": {"ne": "acme"}}, {"r4"}),
        ({"namespace": {"any": ["acme", "other"]}}, {"r1", "r2", "r3", "r4"}),
        ({"namespace": {"all": ["acme"]}}, {"r1", "r2", "r3"}),
        ({"namespace": {"eq": "Acme"}}, set()),
        ({"user_id": {"eq": "u2"}}, {"r3"}),
        ({"session_id": {"eq": "s1"}}, {"r1", "r3"}),
        ({"topics": {"all": ["pets", "cats"]}}, {"r1"}),
        ({"topics": {"any": ["work", "cats"]}}, {"r1", "r2"}),
        ({"topics": {"ne": "pets"}}, {"r2"}),
        ({"entities": {"all": ["Alice", "Bob"]}}, {"r3"}),
        ({"entities": {"eq": "Bob"}, "user_id": {"eq": "u1"}}, {"r2"}),
        ({"memory_type": {"eq": "episodic"}}, {"r2"}),
        ({"memory_type": {"any": ["semantic", "message"]}}, {"r1", "r3", "r4"}),
        # agent-memory-client 0.14's filter classes send in_ / not_eq / not_in / none.
        ({"namespace": {"in_": ["other"]}}, {"r4"}),
        ({"user_id": {"not_eq": "u1"}}, {"r3"}),
        ({"session_id": {"not_in": ["s1", "s2"]}}, {"r4"}),
        ({"topics": {"none": ["pets"]}}, {"r2"}),
        ({"status": {"eq": "pending"}}, {"r5"}),
        ({"status": {"any": ["approved", "pending"]}, "namespace": {"eq": "acme"}}, {"r1", "r2", "r3", "r5"}),
        ({"created_at": {"gt": iso(day(2))}}, {"r3", "r4"}),
        ({"created_at": {"gte": iso(day(2))}}, {"r2", "r3", "r4"}),
        ({"created_at": {"lt": iso(day(2))}}, {"r1"}),
        ({"created_at": {"lte": iso(day(2))}}, {"r1", "r2"}),
        ({"created_at": {"eq": iso(day(2))}}, {"r2"}),
        ({"created_at": {"between": [iso(day(1, 15)), iso(day(3, 15))]}}, {"r2", "r3"}),
        ({"last_accessed": {"gte": iso(day(5))}}, {"r1"}),
        ({"event_date": {"lt": iso(day(2))}}, {"r1"}),
        ({"event_date": {"gte": iso(day(1))}}, {"r1", "r3"}),
        ({"created_at": {"gte": iso(day(2)), "lt": iso(day(4))}, "topics": {"any": ["pets"]}}, {"r3"}),
    ],
)
@pytest.mark.parametrize("mode", ["semantic", "keyword", "hybrid", "list"])
def test_every_filter_operator_selects_exactly_the_matching_records(api, search_set, filters, expected, mode):
    if mode == "list":
        body = search(api, text="", limit=100, **filters)
    else:
        # A text every record matches by keyword too, so the filter alone decides.
        body = search(api, text="pets cat report dog fish cello", search_mode=mode, limit=100, **filters)
    assert {m["id"] for m in body["memories"]} == expected
    assert body["total"] == len(expected)


def test_total_is_the_true_count_and_pages_walk_every_match(api):
    memories_create(
        actor="test",
        records=[{"text": f"zebra note number {i} about item {i * 7}", "namespace": "page"} for i in range(25)]
        + [{"text": "unrelated", "namespace": "page"}],
        deduplicate=False,
    )
    for mode, expected_total in [("semantic", 26), ("hybrid", 26), ("keyword", 25)]:
        seen, offset = [], 0
        while offset is not None:
            body = search(
                api,
                text="zebra note",
                search_mode=mode,
                namespace={"eq": "page"},
                limit=10,
                offset=offset,
                recency_boost=False,
            )
            assert body["total"] == expected_total
            seen += [m["id"] for m in body["memories"]]
            offset = body["next_offset"]
        assert len(seen) == len(set(seen)) == expected_total, mode


@pytest.mark.parametrize("mode", ["semantic", "keyword", "hybrid"])
def test_a_namespace_filter_never_leaks_into_another_namespace(api, search_set, mode):
    body = search(api, text="Alice adopted a grey cat called Pixel", search_mode=mode, namespace={"eq": "nobody-here"})
    assert body == {"memories": [], "total": 0, "next_offset": None}


def test_only_approved_records_appear_unless_asked(api, search_set):
    body = search(api, text="Dan is learning to play the cello", namespace={"eq": "acme"}, limit=100)
    assert "r5" not in {m["id"] for m in body["memories"]} and body["total"] == 3
    body = search(api, text="Dan is learning to play the cello", status={"eq": "pending"})
    assert [m["id"] for m in body["memories"]] == ["r5"] and body["memories"][0]["status"] == "pending"


def test_results_carry_dist_score_and_score_type(api, search_set):
    body = search(api, text="Alice adopted a grey cat called Pixel", search_mode="hybrid", recency_boost=False)
    top = body["memories"][0]
    assert top["id"] == "r1" and top["score_type"] == "hybrid"
    assert top["dist"] == pytest.approx(0.0, abs=1e-4) and 0 < top["score"] <= 1.0
    assert top["topics"] == ["pets", "cats"] and top["event_date"] == "2024-01-10T00:00:00Z"


def test_distance_threshold_keeps_only_close_records_and_counts_them(api, search_set):
    body = search(api, text="Alice adopted a grey cat called Pixel", distance_threshold=0.3)
    assert [m["id"] for m in body["memories"]] == ["r1"] and body["total"] == 1
    body = search(api, text="Alice adopted a grey cat called Pixel", search_mode="hybrid", distance_threshold=0.3)
    assert [m["id"] for m in body["memories"]] == ["r1"] and body["total"] == 1


def test_empty_text_lists_by_recency_or_newest_first(api):
    now = datetime.now(UTC)
    memories_create(
        actor="test",
        records=[
            {
                "id": "used-lately",
                "text": "one",
                "namespace": "l",
                "created_at": now - timedelta(days=10),
                "last_accessed": now - timedelta(hours=1),
            },
            {
                "id": "newest",
                "text": "two",
                "namespace": "l",
                "created_at": now - timedelta(days=2),
                "last_accessed": now - timedelta(days=2),
            },
            {
                "id": "middle",
                "text": "three",
                "namespace": "l",
                "created_at": now - timedelta(days=5),
                "last_accessed": now - timedelta(days=5),
            },
        ],
        deduplicate=False,
    )
    by_recency = search(api, text="", namespace={"eq": "l"})
    assert [m["id"] for m in by_recency["memories"]] == ["used-lately", "newest", "middle"]
    newest_first = search(api, text="", namespace={"eq": "l"}, recency_boost=False)
    assert [m["id"] for m in newest_first["memories"]] == ["newest", "middle", "used-lately"]


def test_recency_boost_lifts_a_recently_used_record_over_a_slightly_closer_one(api):
    now = datetime.now(UTC)
    memories_create(
        actor="test",
        records=[
            {
                "id": "old",
                "text": "Team offsite is planned in Lisbon",
                "namespace": "rec",
                "created_at": now - timedelta(days=400),
                "last_accessed": now - timedelta(days=400),
            },
            {"id": "new", "text": "The team offsite will be in Lisbon", "namespace": "rec"},
        ],
        deduplicate=False,
    )
    plain = search(api, text="Team offsite is planned in Lisbon", namespace={"eq": "rec"}, recency_boost=False)
    boosted = search(api, text="Team offsite is planned in Lisbon", namespace={"eq": "rec"})
    assert [m["id"] for m in plain["memories"]] == ["old", "new"]
    assert [m["id"] for m in boosted["memories"]] == ["new", "old"]
