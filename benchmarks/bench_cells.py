"""The measured cells of `make bench`, built from the per-operation scripts' load and
request loops (long_term_search.py, working_memory.py), each with the servers' CPU."""

import json
import random
import time
import uuid

import long_term_search as lts
import redis
import working_memory as wm
from benchlib import percentiles

CONCURRENCY = 16
USERS = 50
NAMESPACES = 3
CELLS = (
    "working memory PUT",
    "working memory GET",
    "semantic search (cold)",
    "keyword search (cold)",
    "keyword search, short (cold)",
    "hybrid search (cold)",
    "memory prompt (cold)",
    "semantic search (warm, labelled)",
    "health",
)


def filtered_search(namespace_prefix: str, mode: str, text: str, i: int) -> dict:
    """The i-th search body: filtered by one user and one namespace as the load spreads
    records over them, limit 10."""
    return {
        "text": text,
        "search_mode": mode,
        "limit": 10,
        "namespace": {"eq": f"{namespace_prefix}-{i % NAMESPACES}"},
        "user_id": {"eq": f"user-{i % USERS}"},
    }


def short_keywords(rng: random.Random) -> str:
    """Two or three content words of the kinds a loaded record holds, no stopwords: a keyword
    query as the reference's docs advise ("Alice laptop", "red bicycle Lisbon"), where the
    full-question cell asks a whole sentence."""
    kinds = rng.choice(
        [("who", "thing"), ("thing", "place"), ("adj", "thing"), ("who", "verb", "thing"), ("adj", "thing", "place")]
    )
    return " ".join(rng.choice(lts.WORDS[kind]) for kind in kinds)


def load(http, base: str, redis_url: str, run_id: str, rng: random.Random, count: int) -> dict:
    """`count` records for USERS users in NAMESPACES namespaces, in batches of 100
    (`deduplicate: false`); then wait until a filtered listing finds them all."""
    records = [
        {
            "id": f"{run_id}-{i}",
            "text": lts.sentence(rng),
            "namespace": f"bench-{run_id}-{i % NAMESPACES}",
            "user_id": f"user-{i % USERS}",
            "topics": [rng.choice(lts.WORDS["thing"])],
        }
        for i in range(count)
    ]
    started = time.perf_counter()
    batch_ms = []
    for start in range(0, count, 100):
        t = time.perf_counter()
        response = http.post(
            f"{base}/v1/long-term-memory/",
            json={"memories": records[start : start + 100], "deduplicate": False},
            timeout=300,
        )
        if response.status_code != 200:
            raise SystemExit(f"load: {response.status_code} {response.text[:300]}")
        batch_ms.append((time.perf_counter() - t) * 1000)
    acknowledged = time.perf_counter() - started
    # Searchable, not acknowledged: the reference indexes after its response. Both servers
    # keep long-term memories in a RediSearch index named memory_records on their own
    # Redis, and RediSearch indexes a document as it is written.
    while _indexed(redis_url) < count:
        if time.perf_counter() - started > 1800:
            raise SystemExit("records not all searchable after 30 minutes")
        time.sleep(0.1)
    searchable = time.perf_counter() - started
    return {
        "acknowledged_s": round(acknowledged, 1),
        "searchable_s": round(searchable, 1),
        "batch_p50_ms": round(percentiles(batch_ms)[0]),
        "batch_p95_ms": round(percentiles(batch_ms)[1]),
    }


def _indexed(redis_url: str) -> int:
    try:
        info = redis.Redis.from_url(redis_url, decode_responses=True).ft("memory_records").info()
    except redis.ResponseError:  # not created yet
        return 0
    return int(info["num_docs"])


def _settled(deployment, *, window: float = 0.5, busy: float = 0.05, limit: float = 120) -> None:
    """Wait until the servers' processes are idle (under `busy` CPU seconds in a `window`):
    work a cell left queued (access counts, indexing) is charged to that cell, not the next."""
    deadline = time.monotonic() + limit
    before = deployment.server_cpu() + deployment.redis_cpu()
    while time.monotonic() < deadline:
        time.sleep(window)
        now = deployment.server_cpu() + deployment.redis_cpu()
        if now - before < busy:
            return
        before = now


def _measured(deployment, self_cpu, requests: int, call) -> dict:
    _settled(deployment)
    server, redis, client = deployment.server_cpu(), deployment.redis_cpu(), self_cpu()
    figures = call()
    client = self_cpu() - client
    _settled(deployment)  # the cell's queued work counts as its CPU
    return {
        **{k: round(v, 2) for k, v in figures.items() if k in ("p50", "p95", "p99", "rps")},
        "n": requests,
        "server_cpu_ms": round(1000 * (deployment.server_cpu() - server) / requests, 2),
        "redis_cpu_ms": round(1000 * (deployment.redis_cpu() - redis) / requests, 2),
        "client_cpu_ms": round(1000 * client / requests, 2),
    }


def run_cells(deployment, http, *, records: int, requests_per_cell: int, self_cpu) -> dict:
    base, n = deployment.base, requests_per_cell
    run_id = uuid.uuid4().hex[:8]
    rng = random.Random(run_id)
    print(f"   loading {records} records ...", end=" ", flush=True)
    loaded = load(http, base, deployment.redis_url, run_id, rng, records)
    print(loaded, flush=True)
    memory = {"after the load": deployment.process_memory()}
    cells = {}
    session_bodies = [json.dumps(wm.conversation(10, s)).encode() for s in range(wm.SESSIONS)]
    for s in range(wm.SESSIONS):
        http.put(
            f"{base}/v1/working-memory/bench-{s}",
            data=session_bodies[s],
            headers={"Content-Type": "application/json"},
            timeout=30,
        ).raise_for_status()
    warmup = 2

    def put_request(i):
        return "PUT", f"/v1/working-memory/bench-{i % wm.SESSIONS}", session_bodies[i % wm.SESSIONS]

    def wm_cell(make_request):
        return _measured(
            deployment,
            self_cpu,
            n * 2 + CONCURRENCY * warmup,
            lambda: wm.run(base, make_request, total=n * 2, concurrency=CONCURRENCY, warmup=warmup),
        )

    wm.run(base, put_request, total=CONCURRENCY * 8, concurrency=CONCURRENCY, warmup=0)  # unmeasured: first use
    cells["working memory PUT"] = wm_cell(put_request)
    cells["working memory GET"] = wm_cell(
        lambda i: (
            "GET",
            f"/v1/working-memory/bench-{i % wm.SESSIONS}?namespace=bench&user_id=user-{i % wm.SESSIONS % 8}",
            None,
        )
    )

    def search_body(mode, text, i):
        return filtered_search(f"bench-{run_id}", mode, text, i)

    def search_cell(mode, texts, path="/v1/long-term-memory/search", make_body=search_body):
        bodies = [make_body(mode, t, i) for i, t in enumerate(texts)]
        return _measured(
            deployment, self_cpu, len(bodies), lambda: _checked(lts.run(_post(base, path), bodies, CONCURRENCY))
        )

    def prompt_body(mode, text, i):
        # One of the working-memory sessions above, and a search filtered as the others are.
        s = i % wm.SESSIONS
        session = {"session_id": f"bench-{s}", "namespace": "bench", "user_id": f"user-{s % 8}"}
        return {"query": text, "session": session, "long_term_search": search_body(mode, text, i)}

    for mode in ("semantic", "keyword", "hybrid"):  # unmeasured: every worker loads its model first
        search_cell(mode, [f"{lts.sentence(rng)} {uuid.uuid4().hex[:6]}" for _ in range(3 * CONCURRENCY)])
    for mode in ("semantic", "keyword", "hybrid"):
        cells[f"{mode} search (cold)"] = search_cell(
            mode, [f"{lts.sentence(rng)} {uuid.uuid4().hex[:6]}" for _ in range(n)]
        )
        if mode == "keyword":
            cells["keyword search, short (cold)"] = search_cell(mode, [short_keywords(rng) for _ in range(n)])
    prompt_texts = [f"{lts.sentence(rng)} {uuid.uuid4().hex[:6]}" for _ in range(n)]
    cells["memory prompt (cold)"] = search_cell("semantic", prompt_texts, "/v1/memory/prompt", prompt_body)
    warm = [lts.sentence(random.Random(f"warm-{i}")) for i in range(5)]
    search_cell("semantic", warm)  # primes the warm texts
    cells["semantic search (warm, labelled)"] = search_cell("semantic", [warm[i % 5] for i in range(n)])
    cells["health"] = _measured(
        deployment,
        self_cpu,
        n * 2,
        lambda: _checked(
            lts.run(
                lambda session, _: session.get(f"{base}/v1/health", timeout=60).status_code == 200,
                [None] * (n * 2),
                CONCURRENCY,
            )
        ),
    )
    for name, figures in cells.items():
        print(f"   {name}: {figures}", flush=True)
    memory["after all cells"] = deployment.process_memory()
    return {"load": loaded, "cells": cells, "memory": memory}


def _post(base, path):
    def call(session, body):
        return session.post(f"{base}{path}", json=body, timeout=60).status_code == 200

    return call


def _checked(figures: dict) -> dict:
    if figures.get("errors"):
        raise SystemExit(f"{figures['errors']} of {figures['n']} requests failed")
    return figures
