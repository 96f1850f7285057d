"""Round trips through the real RedisVL index with the real embedding model."""

from datetime import UTC, datetime, timedelta

import pytest

from memory import embeddings, index
from memory.redis_keys import index_document_key
from tests.helpers import wait_until

DOCS = [
    {"id": "m1", "text": "Alice adopted a grey cat called Pixel", "namespace": "a", "user_id": "u1"},
    {"id": "m2", "text": "The quarterly report is due on Friday", "namespace": "a|b", "user_id": "u1"},
    {"id": "m3", "text": "Bob prefers window seats on long flights", "namespace": "A", "user_id": "u2"},
    {
        "id": "m4",
        "text": "Kubernetes upgrade zx81 scheduled for the weekend",
        "user_id": "u1",
        "topics": ["ops", "k8s"],
    },
]


def _load():
    vectors = embeddings.embed_texts([d["text"] for d in DOCS])
    index.upsert_documents(DOCS, vectors)


def _ids(conditions):
    ids, total = index.list_ids(conditions=conditions, offset=0, limit=10)
    assert total == len(ids)
    return sorted(ids)


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        (index.Condition("namespace", "eq", ("a",)), ["m1"]),  # not "a|b", not "A"
        (index.Condition("namespace", "eq", ("a|b",)), ["m2"]),
        (index.Condition("namespace", "eq", ("A",)), ["m3"]),
        (index.Condition("namespace", "missing"), ["m4"]),
        (index.Condition("namespace", "ne", ("a",)), ["m2", "m3", "m4"]),
        (index.Condition("topics", "all", ("ops", "k8s")), ["m4"]),
        (index.Condition("topics", "all", ("ops", "nope")), []),
    ],
)
def test_tag_values_match_exactly_case_and_separators_included(condition, expected):
    _load()
    assert _ids([condition]) == expected


def test_filters_narrow_both_vector_and_text_queries():
    _load()
    query = "what pet does Alice have?"
    vector = embeddings.embed_query(query)
    assert [h.id for h in index.vector_search(vector, conditions=[], k=4)][0] == "m1"
    only_u2 = [index.Condition("user_id", "eq", ("u2",))]
    assert [h.id for h in index.vector_search(vector, conditions=only_u2, k=4)] == ["m3"]
    hits, total = index.text_search("alice pet", conditions=only_u2, k=4)
    assert (hits, total) == ([], 0)


def test_a_filtered_text_union_counts_every_match():
    docs = [
        {"id": f"z{i}", "text": f"zebra note number {i}", "namespace": "page" if i % 2 else "p2"} for i in range(25)
    ]
    index.upsert_documents(docs, embeddings.embed_texts([d["text"] for d in docs]))
    hits, total = index.text_search("zebra note", conditions=[index.Condition("namespace", "eq", ("page",))], k=5)
    assert total == 12 and len(hits) == 5
    assert all(int(h.id[1:]) % 2 for h in hits)


def test_deleted_documents_leave_the_index():
    _load()
    assert index.delete_documents(["m1", "m2"]) == 2
    hits = index.vector_search(embeddings.embed_query("cat"), conditions=[], k=10)
    assert sorted(h.id for h in hits) == ["m3", "m4"]


def test_touching_last_accessed_moves_it_past_the_resolution_only_and_never_creates_a_document(redis_client):
    base = datetime(2030, 1, 1, tzinfo=UTC)
    index.upsert_documents([{"id": "m1", "text": "cat", "last_accessed": base}], embeddings.embed_texts(["cat"]))

    def indexed():
        return int(redis_client.hget(index_document_key("m1"), "last_accessed"))

    index.touch_last_accessed({"m1": base + timedelta(minutes=10), "ghost": base}, resolution_seconds=3600)
    assert indexed() == index.to_micros(base)  # within the resolution: the document is not rewritten
    index.touch_last_accessed({"m1": base + timedelta(hours=2)}, resolution_seconds=3600)
    assert indexed() == index.to_micros(base + timedelta(hours=2))
    index.touch_last_accessed({"m1": base}, resolution_seconds=0)
    assert indexed() == index.to_micros(base + timedelta(hours=2))  # never backwards
    assert "ghost" not in index.document_ids()


def test_a_changed_schema_is_recreated_over_the_documents(redis_client, settings):
    _load()
    name, schema_key = settings.MEMORY_INDEX_NAME, f"{settings.MEMORY_INDEX_NAME}:schema"
    fingerprint = redis_client.get(schema_key)
    assert fingerprint  # ensure_index stored the schema it created
    # The index an older release made: only the text and the id tag, under its own fingerprint.
    redis_client.execute_command("FT.DROPINDEX", name)  # the documents stay
    redis_client.execute_command(
        "FT.CREATE",
        name,
        "ON",
        "HASH",
        "PREFIX",
        1,
        f"{settings.MEMORY_INDEX_PREFIX}:",
        "SCHEMA",
        "text",
        "TEXT",
        "memory_id",
        "TAG",
    )
    redis_client.set(schema_key, "fingerprint-of-an-older-schema")
    assert _attributes(redis_client, name) == {"text", "memory_id"}

    index.ensure_index()

    assert _attributes(redis_client, name) == {
        "text",
        "context",
        "memory_id",
        "namespace",
        "user_id",
        "session_id",
        "memory_type",
        "topics",
        "entities",
        "status",
        "extraction_strategy",
        "created_at",
        "updated_at",
        "last_accessed",
        "event_date",
        "pinned",
        "superseded_at",
        "vector",
    }
    assert redis_client.get(schema_key) == fingerprint
    wait_until(
        lambda: int(redis_client.ft(name).info()["num_docs"]) == 4,
        timeout=30,
        what="RediSearch to index the existing documents",
    )
    assert index.document_ids() == {"m1", "m2", "m3", "m4"}  # recreated over them, not from scratch
    assert _ids([index.Condition("namespace", "eq", ("a",))]) == ["m1"]
    assert [h.id for h in index.vector_search(embeddings.embed_query("a grey cat"), conditions=[], k=1)] == ["m1"]


def test_an_unchanged_schema_leaves_the_index_alone(redis_client, settings):
    """ensure_index runs before every write: an up-to-date index must not be dropped and rebuilt."""
    _load()
    name = settings.MEMORY_INDEX_NAME
    redis_client.execute_command("FT.ALTER", name, "SCHEMA", "ADD", "canary", "TAG")  # lost if recreated
    index.ensure_index()
    index.upsert_documents(DOCS[:1], embeddings.embed_texts([DOCS[0]["text"]]))  # calls ensure_index too
    assert "canary" in _attributes(redis_client, name)
    assert int(redis_client.ft(name).info()["num_docs"]) == 4


def _attributes(redis_client, name) -> set[str]:
    return {attribute[1] for attribute in redis_client.ft(name).info()["attributes"]}
