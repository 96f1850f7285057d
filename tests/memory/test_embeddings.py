"""memory.embeddings: the packaged local model and the Redis cache of query embeddings."""

import threading

import numpy as np
import pytest

from memory import embeddings
from memory.microbatch import MicroBatcher


def test_local_model_gives_normalised_384_dim_vectors_and_ranks_meaning():
    vectors = embeddings.embed_texts(["a kitten", "a young cat", "tax law"])
    assert vectors.shape == (3, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.2


def test_query_embedding_is_cached_in_redis_by_model_text_and_tenant(redis_client):
    first = embeddings.embed_query("where does bob sit on planes", tenant="acme")
    keys = redis_client.keys("embcache:*")
    assert len(keys) == 1 and "local/all-MiniLM-L6-v2" in keys[0]
    assert redis_client.hkeys(keys[0]) == ["acme"]
    assert np.array_equal(embeddings.embed_query("where does bob sit on planes", tenant="acme"), first)
    assert 0 < redis_client.ttl(keys[0]) <= 604_800  # EMBEDDING_CACHE_TTL_SECONDS, a week by default
    # The second call was served from Redis, not the model: a replaced entry is what comes back.
    marker = np.full(384, 0.5, dtype=np.float32)
    redis_client.hset(keys[0], "acme", marker.tobytes())
    assert np.array_equal(embeddings.embed_query("where does bob sit on planes", tenant="acme"), marker)
    # Another tenant never reads acme's entry: it encodes the text itself, into its own entry.
    passes = embeddings.forward_passes
    assert np.array_equal(embeddings.embed_query("where does bob sit on planes", tenant="globex"), first)
    assert embeddings.forward_passes == passes + 1
    assert sorted(redis_client.hkeys(keys[0])) == ["acme", "globex"]


CONCURRENT_QUERIES = 16


def _embed_concurrently(texts: list[str]) -> list[np.ndarray]:
    start = threading.Barrier(len(texts))
    results: list[np.ndarray | None] = [None] * len(texts)

    def call(i: int) -> None:
        start.wait()
        results[i] = embeddings.embed_query(texts[i])

    threads = [threading.Thread(target=call, args=(i,)) for i in range(len(texts))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


@pytest.mark.parametrize("runtime", ["torch", "onnx"])
def test_concurrent_query_misses_share_forward_passes_and_each_gets_its_own_vector(settings, runtime):
    settings.EMBEDDING_RUNTIME = runtime
    texts = [f"which seat does passenger {i} book on flight {100 + i * 7}" for i in range(CONCURRENT_QUERIES)]
    singles = [embeddings.embed_texts([text])[0] for text in texts]
    passes_before = embeddings.forward_passes

    vectors = _embed_concurrently(texts)

    passes = embeddings.forward_passes - passes_before
    assert 1 <= passes < CONCURRENT_QUERIES
    for vector, single in zip(vectors, singles, strict=True):
        assert vector.shape == (384,)
        assert float(vector @ single) >= 0.99999


def test_a_failing_batch_raises_in_every_caller_and_the_batcher_keeps_serving():
    def upper_or_fail(items):
        if "boom" in items:
            raise ValueError("boom in batch")
        return [item.upper() for item in items]

    batcher = MicroBatcher(upper_or_fail, max_wait_s=0.001, max_batch=8)
    with pytest.raises(ValueError, match="boom in batch"):
        batcher.submit("boom")
    assert batcher.submit("next") == "NEXT"
    assert batcher.batches == 2


def test_onnx_vectors_match_torch_vectors(settings):
    texts = ["a kitten", "where does bob sit on planes", "Alice moved to Lisbon in 2021 and works remotely"]
    texts += [f"note {i}: the quarterly budget review moved to thursday at {i % 12 + 1} pm" for i in range(40)]
    settings.EMBEDDING_RUNTIME = "torch"
    torch_vectors = embeddings.embed_texts(texts)
    settings.EMBEDDING_RUNTIME = "onnx"
    onnx_vectors = embeddings.embed_texts(texts)
    cosines = (torch_vectors * onnx_vectors).sum(axis=1)
    assert onnx_vectors.shape == (len(texts), 384)
    assert float(cosines.mean()) >= 0.9999


def test_long_texts_are_encoded_in_several_runs_with_the_vectors_each_gets_alone(settings):
    settings.EMBEDDING_RUNTIME = "onnx"
    words = ["alice", "keeps", "bees", "near", "the", "harbour", "and", "bob", "repairs", "bicycles"]
    # About 5 to 256 tokens: two runs (the last three are past ATTENTION_CELLS_PER_RUN with the others).
    texts = [" ".join(words[i % len(words)] for i in range(n)) for n in (3, 40, 120, 200, 250, 250, 300)]
    passes = embeddings.forward_passes
    together = embeddings.embed_texts(texts)
    assert embeddings.forward_passes == passes + 1  # one chunk, split into runs inside it
    alone = np.stack([embeddings.embed_texts([text])[0] for text in texts])
    assert float((together * alone).sum(axis=1).min()) >= 0.99999
