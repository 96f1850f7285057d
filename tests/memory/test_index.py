"""Round trips through the real RedisVL index with the real embedding model."""

import numpy as np
import pytest

from memory import embeddings, index

DOCS = [
    {"id": "m1", "text": "Alice adopted a grey cat called Pixel", "namespace": "a", "user_id": "u1"},
    {"id": "m2", "text": "The quarterly report is due on Friday", "namespace": "a|b", "user_id": "u1"},
    {"id": "m3", "text": "Bob prefers window seats on long flights", "namespace": "A", "user_id": "u2"},
    {"id": "m4", "text": "Kubernetes upgrade zx81 scheduled for the weekend", "user_id": "u1",
     "topics": ["ops", "k8s"]},
]


def _load():
    vectors = embeddings.embed_texts([d["text"] for d in DOCS])
    index.upsert_documents(DOCS, vectors)


def _ids(conditions):
    ids, total = index.list_ids(conditions=conditions, offset=0, limit=10)
    assert total == len(ids)
    return sorted(ids)


def test_local_model_gives_normalised_384_dim_vectors_and_ranks_meaning():
    vectors = embeddings.embed_texts(["a kitten", "a young cat", "tax law"])
    assert vectors.shape == (3, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.2


def test_query_embedding_is_cached_in_redis_by_model_and_text(redis_client):
    first = embeddings.embed_query("where does bob sit on planes")
    keys = redis_client.keys("embcache:*")
    assert len(keys) == 1 and "local/all-MiniLM-L6-v2" in keys[0]
    assert np.array_equal(embeddings.embed_query("where does bob sit on planes"), first)


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
    docs = [{"id": f"z{i}", "text": f"zebra note number {i}", "namespace": "page" if i % 2 else "p2"}
            for i in range(25)]
    index.upsert_documents(docs, embeddings.embed_texts([d["text"] for d in docs]))
    hits, total = index.text_search("zebra note", conditions=[index.Condition("namespace", "eq", ("page",))], k=5)
    assert total == 12 and len(hits) == 5
    assert all(int(h.id[1:]) % 2 for h in hits)


def test_deleted_documents_leave_the_index():
    _load()
    assert index.delete_documents(["m1", "m2"]) == 2
    hits = index.vector_search(embeddings.embed_query("cat"), conditions=[], k=10)
    assert sorted(h.id for h in hits) == ["m3", "m4"]


def test_partial_update_never_creates_a_document_for_a_missing_record():
    _load()
    index.update_fields({"m1": {"pinned": True}, "ghost": {"pinned": True}})
    assert _ids([index.Condition("pinned", "eq", (1,))]) == ["m1"]
    assert "ghost" not in index.document_ids()
