"""Round trips through the real RedisVL index with the real embedding model."""

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from memory import embeddings, index, index_format
from memory.redis_client import get_redis_bytes
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
        "hidden",
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


# Every status a document may carry (None: a document written without one) and both
# supersession states: the `hidden` exclusions must select exactly what the clauses
# they replaced selected.
LIVENESS_DOCS = [
    {"id": f"{status or 'none'}-{'old' if superseded else 'cur'}", "text": "a note", "status": status,
     "superseded_at": datetime(2030, 1, 1, tzinfo=UTC) if superseded else None}
    for status in ("approved", "pending", "rejected", None)
    for superseded in (False, True)
]  # fmt: skip
APPROVED_CLAUSE = index.Condition("status", "eq", ("approved",))
CURRENT_CLAUSE = index.Condition("superseded_at", "missing")
HIDDEN_NOT_UNAPPROVED = index.Condition("hidden", "none", ("unapproved",))
HIDDEN_NOT_SUPERSEDED = index.Condition("hidden", "none", ("superseded",))


@pytest.mark.parametrize(
    ("replaced", "exclusion", "expected"),
    [
        ([APPROVED_CLAUSE], [HIDDEN_NOT_UNAPPROVED], ["approved-cur", "approved-old"]),
        ([CURRENT_CLAUSE], [HIDDEN_NOT_SUPERSEDED], ["approved-cur", "none-cur", "pending-cur", "rejected-cur"]),
        ([APPROVED_CLAUSE, CURRENT_CLAUSE], [index.Condition("hidden", "none", ("unapproved", "superseded"))],
         ["approved-cur"]),
        ([index.Condition("status", "eq", ("pending",)), CURRENT_CLAUSE],
         [index.Condition("status", "eq", ("pending",)), HIDDEN_NOT_SUPERSEDED], ["pending-cur"]),
    ],
)  # fmt: skip
def test_the_hidden_tag_excludes_exactly_what_the_status_and_superseded_clauses_left_out(
    redis_client, replaced, exclusion, expected
):
    index.upsert_documents(LIVENESS_DOCS, embeddings.embed_texts(["a note"] * len(LIVENESS_DOCS)))
    assert _ids(replaced) == _ids(exclusion) == expected
    assert redis_client.hget(index_document_key("rejected-old"), "hidden") == "unapproved\x1fsuperseded"
    assert redis_client.hget(index_document_key("approved-cur"), "hidden") is None
    vector = embeddings.embed_query("a note")
    assert sorted(h.id for h in index.vector_search(vector, conditions=exclusion, k=10)) == expected
    assert index.vector_search_counted(vector, conditions=exclusion, k=10)[1] == len(expected)


def _write_old_format(redis_client, docs):
    """Documents as the release before issue 24 wrote them: FLOAT32 vectors, no `hidden`."""
    vectors = embeddings.embed_texts([d["text"] for d in docs])
    for doc, vector in zip(docs, vectors, strict=True):
        row = {k: index._field_value(v) for k, v in doc.items() if v is not None and k != "id"}
        row |= {"memory_id": doc["id"], "vector": np.asarray(vector, dtype=np.float32).tobytes()}
        redis_client.hset(index_document_key(doc["id"]), mapping=row)
    return vectors


def test_documents_of_the_float32_format_are_rewritten_in_place_and_searchable_after_the_upgrade(
    redis_client, settings
):
    name, schema_key = settings.MEMORY_INDEX_NAME, f"{settings.MEMORY_INDEX_NAME}:schema"
    docs = [{**d, "text": f"{d['id']} note about llamas", "namespace": "n"} for d in LIVENESS_DOCS]
    vectors = _write_old_format(redis_client, docs)
    # The old release's index over them (FLOAT32), under its own fingerprint.
    prefix = f"{settings.MEMORY_INDEX_PREFIX}:"
    redis_client.execute_command(
        "FT.CREATE", name, "ON", "HASH", "PREFIX", 1, prefix, "SCHEMA", "memory_id", "TAG",
        "vector", "VECTOR", "HNSW", 6, "TYPE", "FLOAT32", "DIM", 384, "DISTANCE_METRIC", "COSINE",
    )  # fmt: skip
    redis_client.set(schema_key, "fingerprint-of-the-float32-schema")
    wait_until(lambda: int(redis_client.ft(name).info()["num_docs"]) == 8, timeout=30, what="the old index")

    index.ensure_index()

    wait_until(lambda: int(redis_client.ft(name).info()["num_docs"]) == 8, timeout=30, what="the new index")
    assert int(redis_client.ft(name).info()["hash_indexing_failures"]) == 0
    assert index.count([]) == 8
    assert index.count([index.Condition("hidden", "none", ("unapproved", "superseded"))]) == 1
    assert _ids([HIDDEN_NOT_SUPERSEDED]) == ["approved-cur", "none-cur", "pending-cur", "rejected-cur"]
    hits, total = index.vector_search_counted(
        embeddings.embed_query("pending-old note about llamas"), conditions=[], k=1
    )
    assert ([h.id for h in hits], total) == (["pending-old"], 8)
    stored = index.stored_vectors([d["id"] for d in docs])
    for doc, vector in zip(docs, vectors, strict=True):
        assert np.array_equal(stored[doc["id"]], vector.astype(np.float16).astype(np.float32))
    assert redis_client.hget(index_document_key("approved-cur"), "text") == "approved-cur note about llamas"
    assert index_format.upgrade_documents(get_redis_bytes(), prefix.encode()) == 0  # nothing left to rewrite
