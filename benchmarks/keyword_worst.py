"""What the worst allowed keyword query costs (issue 20): CPU of this process and of Redis.

The worst keyword (or hybrid: it runs the same BM25 part) search is the most query terms
(textquery.MAX_TERMS, 32), every one matching every record, at the deepest page the API
allows (`offset + limit`), over records as long as they may be. This loads such a
collection straight into the index (synthetic vectors, no DB rows: BM25 reads only
Redis), then times `index.text_search` at a depth: once in a fresh process (the token
cache cold), then warm. Run it against its own embedded Redis:

    .venv/bin/python -m memoryproject.localredis exec --port 6499 -- \
        .venv/bin/python benchmarks/keyword_worst.py --depth 1000

Redis CPU is the main thread's user + system time from INFO, before and after.
"""

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

TERMS = [f"term{i:02d}" for i in range(32)]


def _redis_cpu_ms(client) -> float:
    info = client.info("cpu")
    return 1000 * (info["used_cpu_user_main_thread"] + info["used_cpu_sys_main_thread"])


def load(index, *, records: int, chars: int, long_records: int, long_chars: int, disjoint: bool) -> None:
    """`records` documents of about `chars` characters and `long_records` of `long_chars`,
    in one namespace, each holding every query term once (or, `disjoint`, one term each,
    so every term brings different candidates)."""
    rng = np.random.default_rng(7)
    for first in range(0, records + long_records, 1000):
        last = min(first + 1000, records + long_records)
        documents = []
        for n in range(first, last):
            size = chars if n < records else long_chars
            filler = " ".join(f"filler{(n * 7 + j) % 5000}" for j in range(size // 11))
            base = TERMS[n % len(TERMS)] if disjoint else " ".join(TERMS)
            documents.append({"id": f"kw{n}", "text": f"{base} {filler}"[:size], "namespace": "bench"})
        vectors = rng.standard_normal((len(documents), 384)).astype(np.float32)
        index.upsert_documents(documents, vectors)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--depth", type=int, required=True, help="offset + limit of the search")
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--chars", type=int, default=2_000)
    parser.add_argument("--long-records", type=int, default=20)
    parser.add_argument("--long-chars", type=int, default=100_000)
    parser.add_argument("--warm-runs", type=int, default=3)
    parser.add_argument("--disjoint", action="store_true", help="each record holds one query term")
    args = parser.parse_args()

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "memoryproject.settings")
    os.environ.setdefault("MEMORY_INDEX_NAME", "bench_keyword_worst")
    # Not the index's name: its keys (the schema's, the shape's) must not look like documents.
    os.environ.setdefault("MEMORY_INDEX_PREFIX", "bench_keyword_worst_doc")
    import django

    django.setup()
    from memory import index
    from memory.redis_client import get_redis_bytes

    client = get_redis_bytes()
    index.ensure_index()
    shape = json.dumps([args.records, args.chars, args.long_records, args.long_chars, args.disjoint]).encode()
    if client.get(b"bench_keyword_worst:shape") != shape:
        index.drop_index(delete_documents=True)
        sizes = {"chars": args.chars, "long_records": args.long_records, "long_chars": args.long_chars}
        load(index, records=args.records, disjoint=args.disjoint, **sizes)
        client.set(b"bench_keyword_worst:shape", shape)
    conditions = [index.Condition("namespace", "eq", ("bench",))]
    query = " ".join(TERMS)
    runs = []
    for _ in range(1 + args.warm_runs):
        redis_before, cpu_before, wall_before = _redis_cpu_ms(client), time.process_time(), time.perf_counter()
        hits, total = index.text_search(query, conditions=conditions, k=args.depth)
        runs.append(
            {
                "process_cpu_ms": round(1000 * (time.process_time() - cpu_before), 1),
                "redis_cpu_ms": round(_redis_cpu_ms(client) - redis_before, 1),
                "wall_ms": round(1000 * (time.perf_counter() - wall_before), 1),
                "hits": len(hits),
                "total": total,
            }
        )
    shipped = {}
    if hasattr(index, "keyword_candidates"):  # the bounded version (issue 20)
        found = index.keyword_candidates(query, conditions=conditions, k=args.depth)
        shipped = {
            "per_term": found.per_term,
            "candidates": len(found.candidates),
            "text_bytes": sum(len(c.text) + len(c.context) for c in found.candidates),
        }
    print(
        json.dumps(
            {
                "depth": args.depth,
                "disjoint": args.disjoint,
                "shipped": shipped,
                "records": args.records,
                "chars": args.chars,
                "long_records": args.long_records,
                "long_chars": args.long_chars,
                "cold": runs[0],
                "warm": runs[1:],
                "max_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
