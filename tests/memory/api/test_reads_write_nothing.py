"""Reads write nothing: GETs of working memory and of a long-term record leave the DB and
every Redis key as they were (last_accessed is the time of the last write), and a search
writes only its hits' counts and the one delayed message that flushes them to the DB."""

import pytest

from memory.models import MemoryRecord
from tests.helpers import DELAYED_MESSAGES, db_rows, pending_access_counts, put_session, queued_messages, redis_state

pytestmark = pytest.mark.django_db(transaction=True)


def test_reading_working_memory_writes_nothing(api, redis_client):
    written = put_session(
        api, "s-1", [{"role": "user", "content": "hello"}], namespace="ns", user_id="alice", ttl_seconds=3600
    )
    before, ttl_before = redis_state(), redis_client.pttl("wm:s:ns:s-1")

    for path in (
        "/v1/working-memory/s-1?namespace=ns",
        "/v1/working-memory/s-1?namespace=ns&user_id=alice",
        "/v1/working-memory/s-1?namespace=ns&model_name=gpt-4o",
        "/v1/working-memory/?namespace=ns",
        "/v1/working-memory/?user_id=alice",
        "/v1/working-memory/",
    ):
        assert api.get(path).status_code == 200, path

    assert redis_state() == before  # every key, byte for byte
    assert redis_client.pttl("wm:s:ns:s-1") <= ttl_before  # the TTL was not renewed
    read = api.get("/v1/working-memory/s-1?namespace=ns").json()
    assert read["last_accessed"] == written["last_accessed"]  # the time of the last write, not of a read


def test_reading_a_long_term_record_writes_nothing(api, records):
    redis_before, db_before = redis_state(), db_rows()
    for _ in range(3):
        response = api.get("/v1/long-term-memory/tea")
        assert response.status_code == 200 and response.json()["text"] == "Alice drinks green tea every morning"
    assert api.get("/v1/long-term-memory/nope").status_code == 404
    assert redis_state() == redis_before
    assert db_rows() == db_before
    assert MemoryRecord.objects.get(id="tea").access_count == 0


@pytest.mark.parametrize("mode, cached_embeddings", [("keyword", 0), ("semantic", 1), ("hybrid", 1)])
def test_a_search_writes_only_the_message_that_counts_its_hits(api, records, redis_client, mode, cached_embeddings):
    redis_before, db_before = redis_state(), db_rows()
    body = api.post(
        "/v1/long-term-memory/search",
        {"text": "green tea", "search_mode": mode, "namespace": {"eq": "ns"}, "limit": 1},
        format="json",
    ).json()
    [hit] = body["memories"]
    assert hit["id"] == "tea"

    assert db_rows() == db_before  # access counts are the worker's job (none runs here)
    redis_after = redis_state()
    assert {k: v for k, v in redis_after.items() if k in redis_before} == redis_before  # nothing else changed
    added = sorted(k.decode() for k in set(redis_after) - set(redis_before))
    # The hit's count, its time and the window's gate; the broker's delay queue (list of
    # ids, hash of messages) and its heartbeat, written by the enqueue of the flush.
    assert [k for k in added if not k.startswith("embcache:")] == [
        "dramatiq:__heartbeats__",
        "dramatiq:default.DQ",
        DELAYED_MESSAGES,
        "memory:access:counts",
        "memory:access:flush-gate",
        "memory:access:last",
    ]
    assert len([k for k in added if k.startswith("embcache:")]) == cached_embeddings  # the query's vector
    assert pending_access_counts(redis_client) == {"tea": 1}
    [message] = queued_messages(redis_client, delayed=True)
    assert (message["actor_name"], message["args"]) == ("memories_access_flush", [])


def test_a_search_that_finds_nothing_writes_nothing(api, records):
    redis_before, db_before = redis_state(), db_rows()
    body = api.post(
        "/v1/long-term-memory/search",
        {"text": "zanzibar", "search_mode": "keyword", "namespace": {"eq": "ns"}},
        format="json",
    ).json()
    assert body == {"memories": [], "total": 0, "next_offset": None}
    assert redis_state() == redis_before
    assert db_rows() == db_before
