"""Memory prompt benchmark against a running deployment (`make run`), beside search.

1. Loads N records (default 10,000) as `long_term_search.py` does, and 64 working-memory
   sessions of 10 turns (8 users), in a namespace of its own.
2. Measures, at concurrency 1 and 16, in the same run: GET /v1/health (the baseline),
   semantic search, and POST /v1/memory/prompt with a session and a long-term search
   (the session's turns, the summary, 10 memories, the query). p50/p95/p99 and
   throughput. Every query text is new (cache-cold: each request embeds its query);
   searches and prompts filter on the same namespace and user.

    make run PORT=8003 RUN_REDIS_PORT=6493 &
    .venv/bin/python benchmarks/memory_prompt.py --url http://127.0.0.1:8003
"""

import argparse
import random
import uuid

import requests
from benchlib import auth_headers, machine
from long_term_search import USERS, load, run, sentence

SESSIONS = 64
TURNS = 10


def put_sessions(http, base: str, namespace: str, rng: random.Random) -> None:
    for i in range(SESSIONS):
        messages = [
            {"role": "user" if t % 2 == 0 else "assistant", "content": " ".join(sentence(rng) for _ in range(3))}
            for t in range(TURNS)
        ]
        body = {"messages": messages, "namespace": namespace, "user_id": USERS[i % 8], "context": sentence(rng)}
        http.put(f"{base}/v1/working-memory/s{i}", json=body, timeout=30).raise_for_status()


def measure(base: str, namespace: str, rng: random.Random, n: int) -> None:
    def post(path):
        return lambda session, body: session.post(f"{base}{path}", json=body, timeout=60).status_code == 200

    def health(session, _):
        return session.get(f"{base}/v1/health", timeout=60).status_code == 200

    def search_body(i, text):
        return {"text": text, "limit": 10, "namespace": {"eq": namespace}, "user_id": {"eq": USERS[i % 8]}}

    def prompt_body(i, text):
        session = {"session_id": f"s{i % SESSIONS}", "namespace": namespace, "user_id": USERS[i % SESSIONS % 8]}
        return {"query": text, "session": {**session, "model_name": "gpt-4o-mini"}, "long_term_search": {"limit": 10}}

    print("| what | conc. | p50 ms | p95 ms | p99 ms | req/s | p50 vs health | errors |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for concurrency in (1, 16):
        baseline = run(health, [None] * n, concurrency)
        cells = [("GET /v1/health (baseline)", baseline)]
        for label, path, body in (
            ("semantic search", "/v1/long-term-memory/search", search_body),
            ("memory prompt (session + search)", "/v1/memory/prompt", prompt_body),
        ):
            texts = [f"{sentence(rng)} {uuid.uuid4().hex[:6]}" for _ in range(n)]
            cells.append((label, run(post(path), [body(i, t) for i, t in enumerate(texts)], concurrency)))
        for label, r in cells:
            print(
                f"| {label} | {concurrency} | {r['p50']:.1f} | {r['p95']:.1f} | {r['p99']:.1f} | {r['rps']:.0f} | "
                f"{r['p50'] / baseline['p50']:.1f}x | {r['errors']} |"
            )


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=200, help="requests per measured cell")
    args = parser.parse_args()
    base = args.url.rstrip("/")
    run_id = uuid.uuid4().hex[:8]
    namespace = f"bench-prompt-{run_id}"
    rng = random.Random(run_id)
    http = requests.Session()
    http.headers.update(auth_headers())
    print(f"machine: {machine()}")
    print(f"run {run_id}: ", end="")
    load(http, base, namespace, rng, args.records)
    put_sessions(http, base, namespace, rng)
    measure(base, namespace, rng, args.requests)


if __name__ == "__main__":
    main()
