"""Round trips through the real RedisVL index with the real embedding model."""

import numpy as np
from redisvl.query.filter import Tag

from memory import embeddings, index

DOCS = [
    {"id": "m1", "text": "Alice adopted a grey cat called Pixel", "namespace": "a", "user_id": "u1"},
    {"id": "m2", "text": "The quarterly report is due on Friday", "namespace": "a", "user_id": "u1"},
    {"id": "m3", "text": "Bob prefers window seats on long flights", "namespace": "b", "user_id": "u2"},
    {"id": "m4", "text": "Kubernetes upgrade zx81 scheduled for the weekend", "namespace": "a", "user_id": "u1"},
]


def _load():
    vectors = embeddings.embed_texts([d["text"] for d in DOCS])
    index.upsert_documents(DOCS, vectors)


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


def test_hybrid_query_round_trips_text_and_vector_with_filters():
    _load()
    query = "what pet does Alice have?"
    hits = index.hybrid_search(query, embeddings.embed_query(query), filter_expression=None, k=3)
    assert hits[0].id == "m1"
    assert hits[0].vector_distance is not None and hits[0].text_score is not None

    # A rare keyword the vector alone would not rank first.
    hits = index.hybrid_search("zx81", embeddings.embed_query("zx81"), filter_expression=None, k=4, alpha=0.3)
    assert hits[0].id == "m4"

    # Filters are applied to both halves of the query: namespace b holds only m3.
    hits = index.hybrid_search(query, embeddings.embed_query(query), filter_expression=Tag("namespace") == "b", k=4)
    assert [h.id for h in hits] == ["m3"]


def test_deleted_documents_leave_the_index():
    _load()
    assert index.delete_documents(["m1", "m2"]) == 2
    hits = index.vector_search(embeddings.embed_query("cat"), filter_expression=None, k=10)
    assert sorted(h.id for h in hits) == ["m3", "m4"]
