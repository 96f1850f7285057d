"""Query embeddings at concurrency 1 and 16 inside one process: one encode per query
(the old path: `embed_texts([text])` under the lock) against the micro-batcher
(`embed_query`, cache-cold: every text is new), for each runtime.

    PYTHONPATH=. DJANGO_SETTINGS_MODULE=memoryproject.settings .venv/bin/python benchmarks/query_embedding.py

Needs a Redis at REDIS_URL (the query cache); `python -m memoryproject.localredis exec
--port 6503 -- ...` starts one.
"""

import threading
import time
import uuid

import django

django.setup()

from benchlib import machine, percentiles  # noqa: E402
from django.conf import settings  # noqa: E402

from memory import embeddings, redis_keys  # noqa: E402
from memory.redis_client import get_redis_bytes  # noqa: E402

PER_THREAD = 24


def _run(call, concurrency: int) -> tuple[float, float, float, float, int]:
    run_id = uuid.uuid4().hex[:8]
    latencies: list[float] = []
    start = threading.Barrier(concurrency + 1)

    def client(worker: int) -> None:
        start.wait()
        for i in range(PER_THREAD):
            began = time.perf_counter()
            call(f"what did user {worker} say about trip {i} to the coast, run {run_id}")
            latencies.append((time.perf_counter() - began) * 1000)

    threads = [threading.Thread(target=client, args=(w,)) for w in range(concurrency)]
    for thread in threads:
        thread.start()
    passes, began = embeddings.forward_passes, time.perf_counter()
    start.wait()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    p50, p95, _ = percentiles(latencies)
    return p50, p95, len(latencies) / elapsed, elapsed, embeddings.forward_passes - passes


def _one_encode_per_query(text: str) -> None:
    """The path before the batcher: the same cache look-up, then an encode of its own."""
    client = get_redis_bytes()
    key = redis_keys.query_embedding_key(model=settings.EMBEDDING_MODEL, text=text)
    if client.get(key) is None:
        client.set(key, embeddings.embed_texts([text])[0].tobytes(), ex=60)


def main() -> None:
    print(f"machine: {machine()}, {settings.EMBEDDING_TORCH_THREADS} thread(s) per encode")
    print("| runtime | path | conc. | p50 ms | p95 ms | queries/s | forward passes / queries |")
    print("|---|---|---:|---:|---:|---:|---:|")
    paths = {"one encode per query": _one_encode_per_query, "micro-batched": embeddings.embed_query}
    for runtime in ("torch", "onnx"):
        settings.EMBEDDING_RUNTIME = runtime
        embeddings.embed_texts(["warm up"] * 16)
        for concurrency in (1, 16):
            for name, call in paths.items():
                p50, p95, rate, _, passes = _run(call, concurrency)
                queries = concurrency * PER_THREAD
                cells = f"{p50:.1f} | {p95:.1f} | {rate:.0f} | {passes} / {queries}"
                print(f"| {runtime} | {name} | {concurrency} | {cells} |")


if __name__ == "__main__":
    main()
