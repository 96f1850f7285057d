"""The process's own Prometheus metrics (request latency, embedding cache use).

Counted where they happen, in every process. Under gunicorn each worker process
counts its own; with PROMETHEUS_MULTIPROC_DIR set (bin/serve sets it) every process
writes its samples there and `GET /metrics` adds them up. The figures read from the
DB and Redis at scrape time (runs, lag, queues, drift) are in
memory.selectors.metrics.
"""

from prometheus_client import Counter, Histogram

# Seconds, from a cached read (milliseconds) to an embedding on a cold model (seconds).
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

REQUEST_LATENCY = Histogram(
    "memory_http_request_duration_seconds",
    "Time to answer an HTTP request, by route pattern, method and status class.",
    ["route", "method", "status"],
    buckets=LATENCY_BUCKETS,
)
EMBEDDING_CACHE = Counter(
    "memory_embedding_cache_requests_total",
    "Query embeddings looked up in the Redis cache, by result (hit or miss).",
    ["result"],
)
