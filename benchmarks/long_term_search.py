"""Long-term memory load and search benchmark against a running deployment (`make run`).

1. Loads N records (default 10,000) over HTTP in batches of 100 and reports the time
   until all of them are searchable (a filtered listing counts them all).
2. Measures semantic, keyword and hybrid search with user + namespace filters at
   concurrency 1 and 16: p50/p95/p99 latency and throughput. Headline figures are
   cache-COLD: every query text is new (no repeats within or across runs, so every
   semantic/hybrid query embeds). Cache-warm figures repeat a few primed texts.
3. Measures GET /v1/health the same way in the same run, as the baseline.

    make run PORT=8002 RUN_REDIS_PORT=6492 &
    .venv/bin/python benchmarks/long_term_search.py --url http://127.0.0.1:8002
"""

import argparse
import random
import statistics
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import requests
from benchlib import auth_headers, machine, percentiles

WORDS = {
    "who": ["Alice", "Bob", "Carol", "Dan", "Erin", "Frank", "Grace", "Heidi", "Ivan", "Judy"],
    "verb": [
        "booked",
        "cancelled",
        "prefers",
        "bought",
        "repaired",
        "visited",
        "planned",
        "reviewed",
        "sold",
        "painted",
        "ordered",
        "forgot",
        "moved",
        "shared",
        "renewed",
    ],
    "adj": [
        "red",
        "quiet",
        "expensive",
        "vintage",
        "electric",
        "weekly",
        "remote",
        "spicy",
        "heavy",
        "urgent",
        "blue",
        "noisy",
        "cheap",
        "modern",
        "tiny",
    ],
    "thing": [
        "bicycle",
        "flight",
        "apartment",
        "laptop",
        "guitar",
        "garden",
        "invoice",
        "restaurant",
        "concert",
        "subscription",
        "kitchen",
        "camera",
        "contract",
        "sofa",
        "telescope",
        "boat",
        "piano",
        "tent",
    ],
    "place": ["Lisbon", "Berlin", "Osaka", "Denver", "Nairobi", "Lima", "Oslo", "Hanoi", "Perth", "Quebec"],
}
USERS = [f"user-{i}" for i in range(10)]


def sentence(rng: random.Random) -> str:
    w = {k: rng.choice(v) for k, v in WORDS.items()}
    return f"{w['who']} {w['verb']} a {w['adj']} {w['thing']} in {w['place']} ({rng.randrange(10**6)})"


def run(fn, payloads, concurrency):
    """Call fn(session, payload) for each payload with `concurrency` threads; latencies in ms."""
    latencies, errors = [], []
    local = threading.local()

    def one(payload):
        if not hasattr(local, "session"):
            local.session = requests.Session()
            local.session.headers.update(auth_headers())
        started = time.perf_counter()
        ok = fn(local.session, payload)
        latencies.append((time.perf_counter() - started) * 1000)
        if not ok:
            errors.append(payload)

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(one, payloads))
    wall = time.perf_counter() - started
    p50, p95, p99 = percentiles(latencies)
    return {"p50": p50, "p95": p95, "p99": p99, "rps": len(payloads) / wall, "errors": len(errors), "n": len(payloads)}


def load(http, base: str, namespace: str, rng: random.Random, count: int) -> None:
    """Create `count` records in batches of 100, then wait until search sees them all."""
    records = [
        {
            "text": sentence(rng),
            "namespace": namespace,
            "user_id": USERS[i % len(USERS)],
            "topics": [rng.choice(WORDS["thing"])],
        }
        for i in range(count)
    ]
    started = time.perf_counter()
    batch_ms = []
    for start in range(0, len(records), 100):
        t = time.perf_counter()
        response = http.post(
            f"{base}/v1/long-term-memory/",
            json={"memories": records[start : start + 100], "deduplicate": False},
            timeout=120,
        )
        response.raise_for_status()
        batch_ms.append((time.perf_counter() - t) * 1000)
    loaded = time.perf_counter() - started
    while True:
        total = http.post(
            f"{base}/v1/long-term-memory/search",
            json={"text": "", "namespace": {"eq": namespace}, "limit": 1},
            timeout=30,
        ).json()["total"]
        if total >= count:
            break
        time.sleep(0.05)
    searchable = time.perf_counter() - started
    print(
        f"loaded {count} records in {loaded:.1f}s "
        f"({count / loaded:.0f} records/s; batch of 100 p50 {statistics.median(batch_ms):.0f} ms, "
        f"p95 {percentiles(batch_ms)[1]:.0f} ms); all searchable after {searchable:.1f}s\n"
    )


def measure(http, base: str, namespace: str, rng: random.Random, requests_per_cell: int) -> None:
    """Each search mode, cold and warm query cache, at concurrency 1 and 16, beside a health baseline."""

    def search_fn(session, body):
        return session.post(f"{base}/v1/long-term-memory/search", json=body, timeout=60).status_code == 200

    def health_fn(session, _):
        return session.get(f"{base}/v1/health", timeout=60).status_code == 200

    def body(mode, text, i):
        return {
            "text": text,
            "search_mode": mode,
            "limit": 10,
            "namespace": {"eq": namespace},
            "user_id": {"eq": USERS[i % len(USERS)]},
        }

    warm_texts = [sentence(random.Random(f"warm-{i}")) for i in range(5)]
    for mode in ("semantic", "keyword", "hybrid"):  # prime the warm texts' embeddings
        for i, text in enumerate(warm_texts):
            search_fn(http, body(mode, text, i))
    print("| what | concurrency | cache | p50 ms | p95 ms | p99 ms | req/s | x health p50 | errors |")
    print("|---|---|---|---|---|---|---|---|---|")
    n = requests_per_cell
    for concurrency in (1, 16):
        health = run(health_fn, [None] * n, concurrency)
        print(
            f"| GET /v1/health (baseline) | {concurrency} | - | {health['p50']:.1f} | {health['p95']:.1f} | "
            f"{health['p99']:.1f} | {health['rps']:.0f} | 1.0 | {health['errors']} |"
        )
        for mode in ("semantic", "keyword", "hybrid"):
            for cache in ("cold", "warm"):
                if cache == "cold":  # never seen before: a fresh id makes each text unique across runs
                    texts = [f"{sentence(rng)} {uuid.uuid4().hex[:6]}" for _ in range(n)]
                else:
                    texts = [warm_texts[i % len(warm_texts)] for i in range(n)]
                result = run(search_fn, [body(mode, t, i) for i, t in enumerate(texts)], concurrency)
                print(
                    f"| {mode} search | {concurrency} | {cache} | {result['p50']:.1f} | {result['p95']:.1f} | "
                    f"{result['p99']:.1f} | {result['rps']:.0f} | {result['p50'] / health['p50']:.1f} | "
                    f"{result['errors']} |"
                )


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=200, help="requests per measured cell")
    args = parser.parse_args()
    base = args.url.rstrip("/")
    run_id = uuid.uuid4().hex[:8]
    namespace = f"bench-{run_id}"
    rng = random.Random(run_id)
    http = requests.Session()
    http.headers.update(auth_headers())
    print(f"machine: {machine()}")
    print(f"run {run_id}: ", end="")
    load(http, base, namespace, rng, args.records)
    measure(http, base, namespace, rng, args.requests)


if __name__ == "__main__":
    main()
