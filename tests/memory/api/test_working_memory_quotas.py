"""Quotas (issue 20): one namespace cannot fill what every tenant shares. A write past
QUOTA_SESSIONS_PER_NAMESPACE, QUOTA_WORKING_MEMORY_BYTES_PER_NAMESPACE or
QUOTA_RECORDS_PER_NAMESPACE is a 429 naming the limit, and writes nothing."""

import pytest

from memory import redis_keys
from memory.models import MemoryHistory, MemoryRecord
from tests.helpers import redis_state, wait_until


def put(api, session_id, namespace="acme", **body):
    return api.put(f"/v1/working-memory/{session_id}", {"namespace": namespace, **body}, format="json")


def stored_doc_bytes(redis_client, namespace, session_ids) -> int:
    return sum(redis_client.hstrlen(redis_keys.session_key(namespace, s), "doc") for s in session_ids)


def namespace_bytes(redis_client, namespace) -> int:
    return int(redis_client.get(redis_keys.namespace_bytes_key(namespace)) or 0)


def test_a_session_past_the_namespace_quota_is_429_and_writes_nothing(api, redis_client, settings):
    settings.QUOTA_SESSIONS_PER_NAMESPACE = 2
    assert put(api, "s-1").status_code == 200
    assert put(api, "s-2").status_code == 200
    before = redis_state()
    refused = put(api, "s-3", messages=[{"role": "user", "content": "hello"}])
    assert refused.status_code == 429
    assert refused.json() == {
        "detail": [
            {
                "loc": ["body"],
                "type": "quota_exceeded",
                "msg": "Namespace 'acme' holds 2 working-memory sessions; this write would make it 3, "
                "and at most 2 are allowed (QUOTA_SESSIONS_PER_NAMESPACE).",
                "limit": "QUOTA_SESSIONS_PER_NAMESPACE",
                "quota": 2,
                "used": 2,
                "requested": 3,
            }
        ]
    }
    assert redis_state() == before  # no session, no index entry, no promotion window
    assert api.get("/v1/working-memory/?namespace=acme").json() == {"sessions": ["s-2", "s-1"], "total": 2}
    # Rewriting a session it holds adds none; another namespace has its own count.
    assert put(api, "s-1", data={"v": 2}).status_code == 200
    assert put(api, "s-3", namespace="other").status_code == 200
    # A deleted session frees its place.
    assert api.delete("/v1/working-memory/s-1?namespace=acme").status_code == 200
    assert put(api, "s-3").status_code == 200


def test_bytes_past_the_namespace_quota_are_429_and_a_shrinking_write_still_passes(api, redis_client, settings):
    assert put(api, "s-1", context="a" * 1000).status_code == 200
    assert put(api, "s-2", context="b" * 1000).status_code == 200
    held = stored_doc_bytes(redis_client, "acme", ["s-1", "s-2"])
    assert namespace_bytes(redis_client, "acme") == held  # the counter is the stored documents' size
    settings.QUOTA_WORKING_MEMORY_BYTES_PER_NAMESPACE = held + 500
    before = redis_state()
    refused = put(api, "s-3", context="c" * 1000)
    assert refused.status_code == 429
    detail = refused.json()["detail"][0]
    assert (detail["limit"], detail["quota"], detail["used"]) == (
        "QUOTA_WORKING_MEMORY_BYTES_PER_NAMESPACE",
        held + 500,
        held,
    )
    assert held + 1000 < detail["requested"] < held + 1500  # the new doc: its 1000-character context and more
    assert "bytes of working memory" in detail["msg"] and "(QUOTA_WORKING_MEMORY_BYTES_PER_NAMESPACE)" in detail["msg"]
    assert redis_state() == before
    # Growing a held session past the quota is refused too; shrinking one always passes.
    assert put(api, "s-1", context="a" * 1600).status_code == 429
    assert put(api, "s-1", context="a" * 10).status_code == 200
    assert put(api, "s-3", context="c" * 400).status_code == 200
    assert namespace_bytes(redis_client, "acme") == stored_doc_bytes(redis_client, "acme", ["s-1", "s-2", "s-3"])


def test_the_byte_count_follows_rewrites_and_deletes(api, redis_client):
    for session_id, size in (("s-1", 50), ("s-2", 5000), ("s-1", 3000)):
        assert put(api, session_id, context="x" * size).status_code == 200
    assert namespace_bytes(redis_client, "acme") == stored_doc_bytes(redis_client, "acme", ["s-1", "s-2"])
    api.delete("/v1/working-memory/s-2?namespace=acme")
    assert namespace_bytes(redis_client, "acme") == stored_doc_bytes(redis_client, "acme", ["s-1"])
    api.delete("/v1/working-memory/s-1?namespace=acme")
    assert not redis_client.exists(redis_keys.namespace_bytes_key("acme"), "wm:sizes:acme")


def test_expired_sessions_free_their_quota_before_they_are_pruned(api, redis_client, settings):
    # 21 sessions elsewhere expire first: the next PUT's own prune (20 a write, oldest
    # first) leaves "short" in the indexes, so the quota must see past it by itself.
    for i in range(21):
        assert put(api, f"b-{i}", namespace="bulk", ttl_seconds=1).status_code == 200
    settings.QUOTA_SESSIONS_PER_NAMESPACE = 1
    assert put(api, "short", ttl_seconds=2, context="x" * 2000).status_code == 200
    assert put(api, "next").status_code == 429
    wait_until(lambda: not redis_client.exists(redis_keys.session_key("acme", "short")), what="the session to expire")
    settings.QUOTA_WORKING_MEMORY_BYTES_PER_NAMESPACE = 1000  # "short" still holds its 2000-odd bytes
    assert put(api, "next").status_code == 200
    assert redis_client.zscore(redis_keys.EXPIRIES, "acme::short") is not None  # not pruned by the write's own prune
    assert redis_client.zrange("wm:idx:ns:acme", 0, -1) == ["next"]  # the namespace's expired session was dropped
    assert namespace_bytes(redis_client, "acme") == stored_doc_bytes(redis_client, "acme", ["next"])


def test_the_quotas_are_generous_by_default(settings):
    assert (
        settings.QUOTA_SESSIONS_PER_NAMESPACE,
        settings.QUOTA_WORKING_MEMORY_BYTES_PER_NAMESPACE,
        settings.QUOTA_RECORDS_PER_NAMESPACE,
    ) == (100_000, 1024**3, 1_000_000)


@pytest.mark.django_db(transaction=True)
def test_records_past_the_namespace_quota_are_429_and_nothing_is_stored(api, settings):
    settings.QUOTA_RECORDS_PER_NAMESPACE = 2
    create = lambda *records: api.post("/v1/long-term-memory/", {"memories": list(records)}, format="json")  # noqa: E731
    tea = {"id": "tea", "text": "Alice drinks green tea", "namespace": "acme"}
    bike = {"id": "bike", "text": "Alice rides her bike to work", "namespace": "acme"}
    assert create(tea, bike).status_code == 200
    history = MemoryHistory.objects.count()
    refused = create({"text": "Alice lives in Lisbon", "namespace": "acme"})
    assert refused.status_code == 429
    assert refused.json()["detail"] == [
        {
            "loc": ["body"],
            "type": "quota_exceeded",
            "msg": "Namespace 'acme' holds 2 long-term records; this write would make it 3, "
            "and at most 2 are allowed (QUOTA_RECORDS_PER_NAMESPACE).",
            "limit": "QUOTA_RECORDS_PER_NAMESPACE",
            "quota": 2,
            "used": 2,
            "requested": 3,
        }
    ]
    assert sorted(MemoryRecord.objects.values_list("id", flat=True)) == ["bike", "tea"]
    assert MemoryHistory.objects.count() == history
    # Overwriting a record it holds adds no row; another namespace has its own count.
    updated = create({**tea, "text": "Alice drinks black tea"})
    assert (updated.status_code, updated.json()["memories"][0]["outcome"]) == (200, "updated")
    assert create({"text": "Bob likes jazz", "namespace": "other"}).status_code == 200
    assert MemoryRecord.objects.filter(namespace="acme").count() == 2
