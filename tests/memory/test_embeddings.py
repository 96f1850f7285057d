"""memory.embeddings: the packaged local model and the Redis cache of query embeddings."""

import numpy as np

from memory import embeddings


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
    assert 0 < redis_client.ttl(keys[0]) <= 604_800  # EMBEDDING_CACHE_TTL_SECONDS, a week by default
    # The second call was served from Redis, not the model: a replaced entry is what comes back.
    marker = np.full(384, 0.5, dtype=np.float32)
    redis_client.set(keys[0], marker.tobytes())
    assert np.array_equal(embeddings.embed_query("where does bob sit on planes"), marker)
