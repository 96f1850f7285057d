"""Search latency as the collection grows (issue 15): 10k, 100k and 1M records.

One deployment (`bench_deploy.OURS`: gunicorn 2 x 8 threads and the worker, on a fresh
embedded Redis and SQLite). Records are added, size after size, through the server's
own modules in this process (rows by `bulk_create`, documents by
`memory.index.upsert_records`) with synthetic vectors: random unit vectors, seeded,
since embedding a million texts on 2 cores would take hours. They belong to 50 users in
3 namespaces at every size, so a user's filtered set grows with the collection (67
records at 10k, 6,667 at 1M): the case that costs a filtered vector search most.

At each size: semantic search over HTTP (filtered by user and namespace, limit 10,
every text new, so each request embeds its query with the real model) at concurrency
1 and 16, and Redis' `used_memory` and the DB file, for the memory per 100k records.

    .venv/bin/python benchmarks/scale.py [--sizes 10000,100000,1000000] [--requests 200]
        [--port 8021] [--redis-port 6520]

Its files (SQLite, Redis' data, logs) live in var/bench/scale/, apart from `make bench`'s.
Besides `used_memory`, each size reports the index's own sizes (FT.INFO) and one
document's hash (MEMORY USAGE), for where a record's bytes go.
"""

import argparse
import copy
import json
import os
import random
import sys
import time
import uuid
from pathlib import Path

import numpy as np
import redis

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

import bench_deploy  # noqa: E402
import long_term_search as lts  # noqa: E402
from bench_cells import NAMESPACES, USERS, _post, filtered_search  # noqa: E402
from bench_deploy import OURS, VAR, Deployment  # noqa: E402
from benchlib import machine  # noqa: E402

CHUNK = 10_000
DIMENSIONS = 384
SCALE_VAR = VAR / "scale"
# FT.INFO's sizes (MB) reported at each size.
INDEX_SIZES = (
    "vector_index_sz_mb", "inverted_sz_mb", "doc_table_size_mb", "sortable_values_size_mb", "key_table_size_mb",
    "tag_overhead_sz_mb", "text_overhead_sz_mb", "total_index_memory_sz_mb",
)  # fmt: skip


def scale_spec(port: int, redis_port: int) -> dict:
    """`make bench`'s deployment of ours on its own ports and files, so a scale run never
    shares (or deletes) another benchmark's."""
    spec = copy.deepcopy(OURS)
    old_bind = f"127.0.0.1:{OURS['port']}"
    spec.update(port=port, redis_port=redis_port)
    spec["processes"] = [[f"127.0.0.1:{port}" if a == old_bind else a for a in c] for c in spec["processes"]]
    spec["env"]["DATABASE_URL"] = f"sqlite:///{SCALE_VAR / 'ours.sqlite3'}"
    bench_deploy.VAR = SCALE_VAR  # Deployment.start clears and logs under its VAR
    return spec


def django_for(deployment: Deployment) -> None:
    """Point this process's Django at the deployment's DB and Redis, then set it up."""
    os.environ.update(deployment.spec["env"])  # the deployment's own DB, not make bench's
    os.environ["REDIS_URL"] = deployment.redis_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "memoryproject.settings")
    import django

    django.setup()


def add_records(start: int, stop: int, run_id: str, rng: np.random.Generator) -> None:
    """Records start..stop-1: rows, then their index documents, CHUNK at a time."""
    from memory import index
    from memory.models import MemoryRecord

    for first in range(start, stop, CHUNK):
        last = min(first + CHUNK, stop)
        vectors = rng.standard_normal((last - first, DIMENSIONS)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        records = [
            MemoryRecord(
                id=f"{run_id}-{i}",
                text=f"synthetic fact {i} of user {i % USERS}",
                namespace=f"scale-{run_id}-{i % NAMESPACES}",
                user_id=f"user-{i % USERS}",
                memory_hash=f"{run_id}-{i}",
                embedding=vector.tobytes(),
                embedding_model="synthetic",
                index_pending=False,
            )
            for i, vector in zip(range(first, last), vectors, strict=True)
        ]
        MemoryRecord.objects.bulk_create(records, batch_size=1000)
        index.upsert_records(records)
        print(f"   {last:,} records", end="\r", flush=True)
    print()


def indexed(redis_url: str) -> int:
    return int(redis.Redis.from_url(redis_url).ft("memory_records").info()["num_docs"])


def memory_figures(deployment: Deployment, sample_key: str) -> dict:
    client = redis.Redis.from_url(deployment.redis_url)
    info, ft = client.info("memory"), client.ft("memory_records").info()
    return {
        "redis_used_mb": round(info["used_memory"] / 2**20, 1),
        "db_mb": round(db_bytes(deployment) / 2**20, 1),
        "index_mb": {name: round(float(ft[name]), 2) for name in INDEX_SIZES if name in ft},
        "hash_bytes": client.memory_usage(sample_key, samples=0),
    }


def db_bytes(deployment: Deployment) -> int:
    """The SQLite file after a checkpoint (bulk_create's pages would otherwise sit in the WAL), and what
    the WAL still holds."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    path = Path(deployment.spec["env"]["DATABASE_URL"].removeprefix("sqlite:///"))
    return sum(p.stat().st_size for p in (path, Path(f"{path}-wal")) if p.exists())


def search_figures(deployment: Deployment, run_id: str, requests_n: int, concurrency: int) -> dict:
    rng = random.Random(f"{run_id}-{concurrency}")
    bodies = [
        filtered_search(f"scale-{run_id}", "semantic", f"{lts.sentence(rng)} {uuid.uuid4().hex[:6]}", i)
        for i in range(requests_n)
    ]
    figures = lts.run(_post(deployment.base, "/v1/long-term-memory/search"), bodies, concurrency)
    if figures.get("errors"):
        raise SystemExit(f"{figures['errors']} of {requests_n} searches failed")
    return {k: round(figures[k], 2) for k in ("p50", "p95", "p99", "rps")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--json", default=str(VAR / "scale.json"))
    parser.add_argument("--port", type=int, default=OURS["port"])
    parser.add_argument("--redis-port", type=int, default=OURS["redis_port"])
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    run_id = uuid.uuid4().hex[:8]
    results = {"run": run_id, "machine": machine(), "command": " ".join([sys.executable, *sys.argv]), "sizes": {}}
    print(f"scale run {run_id}: {results['machine']}", flush=True)
    SCALE_VAR.mkdir(parents=True, exist_ok=True)
    deployment = Deployment(scale_spec(args.port, args.redis_port), records=max(sizes))
    try:
        if not deployment.start():
            raise SystemExit(deployment.error)
        django_for(deployment)
        rng, have = np.random.default_rng(7), 0
        search_figures(deployment, run_id, 48, 16)  # unmeasured: every worker loads its model
        for size in sizes:
            started = time.perf_counter()
            add_records(have, size, run_id, rng)
            have = size
            while indexed(deployment.redis_url) < size:
                time.sleep(0.5)
            loaded_s = round(time.perf_counter() - started, 1)
            row = {"added_s": loaded_s, **memory_figures(deployment, f"memory_record:{run_id}-0")}
            for concurrency in (1, 16):
                row[f"c{concurrency}"] = search_figures(deployment, run_id, args.requests, concurrency)
            results["sizes"][size] = row
            print(f"   {size:,}: {row}", flush=True)
    finally:
        deployment.stop()
    print_table(results)
    Path(args.json).write_text(json.dumps(results, indent=2))
    print(f"\nfigures written to {args.json}")


def print_table(results: dict) -> None:
    sizes = results["sizes"]
    print(
        "\n| records | search p50 / p95 / p99 ms (conc. 1) | req/s | p50 / p95 / p99 ms (conc. 16) | req/s "
        "| Redis used MB | DB MB |"
    )
    print("|---:|---|---:|---|---:|---:|---:|")
    for size, row in sizes.items():
        one, many = row["c1"], row["c16"]
        print(
            f"| {size:,} | {one['p50']:.1f} / {one['p95']:.1f} / {one['p99']:.1f} | {one['rps']:.0f} "
            f"| {many['p50']:.0f} / {many['p95']:.0f} / {many['p99']:.0f} | {many['rps']:.0f} "
            f"| {row['redis_used_mb']} | {row['db_mb']} |"
        )
    for size, row in sizes.items():
        print(
            f"\n{size:,}: one document's hash {row.get('hash_bytes')} bytes; FT.INFO MB {row.get('index_mb')}", end=""
        )
    print()
    if len(sizes) > 1:
        (small, a), (large, b) = list(sizes.items())[0], list(sizes.items())[-1]

        def per_100k(key):
            return (b[key] - a[key]) / ((large - small) / 100_000)

        print(
            f"\np95 growth {small:,} -> {large:,}: conc. 1 {b['c1']['p95'] / a['c1']['p95']:.2f}x, "
            f"conc. 16 {b['c16']['p95'] / a['c16']['p95']:.2f}x; per 100k records: Redis "
            f"{per_100k('redis_used_mb'):.0f} MB, DB {per_100k('db_mb'):.0f} MB"
        )


if __name__ == "__main__":
    os.chdir(BASE_DIR)
    main()
