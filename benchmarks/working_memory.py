"""Working-memory PUT and GET latency and throughput against a running server.

Start the deployment first (gunicorn + a Dramatiq worker), e.g.

    make run PORT=8001 RUN_REDIS_PORT=6491

then run

    .venv/bin/python benchmarks/working_memory.py --url http://127.0.0.1:8001

Each scenario runs at concurrency 1 and 16 (persistent HTTP/1.1 connections, one per
client thread) after a warm-up, and reports p50/p95/p99 latency and requests per second.
`GET /v1/health` (a DB query and two Redis commands) is measured in the same run as the
baseline, and every scenario is reported as a ratio of it. The script only speaks HTTP,
so it can measure the reference server (agent-memory-server) the same way.
"""

import argparse
import http.client
import json
import sys
import threading
import time
from datetime import UTC, datetime
from urllib.parse import urlsplit

from benchlib import auth_headers, machine, percentiles

AUTH = auth_headers()
SESSIONS = 64  # sessions the PUTs rotate over, so writes replace existing sessions


def conversation(turns: int, session: int) -> dict:
    """A realistic session: alternating turns of ~40 words, all with ids and timestamps."""
    now = datetime.now(UTC).replace(microsecond=0)
    return {
        "namespace": "bench",
        "user_id": f"user-{session % 8}",
        "messages": [
            {
                "id": f"s{session}-m{i}",
                "role": "user" if i % 2 == 0 else "assistant",
                "content": f"Turn {i}: " + "I would like to book a table for two near the river on Friday " * 3,
                "created_at": now.isoformat(),
            }
            for i in range(turns)
        ],
        "data": {"locale": "en-GB", "step": turns},
    }


class Client:
    """One persistent connection; `request` returns the status."""

    def __init__(self, base_url: str):
        parts = urlsplit(base_url)
        self.connection = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=60)

    def request(self, method: str, path: str, body: bytes | None = None) -> int:
        headers = {**AUTH, "Content-Type": "application/json"} if body is not None else dict(AUTH)
        self.connection.request(method, path, body=body, headers=headers)
        response = self.connection.getresponse()
        response.read()
        return response.status


def run(base_url: str, make_request, *, total: int, concurrency: int, warmup: int) -> dict:
    """Send `total` requests from `concurrency` threads; `make_request(i)` -> (method, path, body)."""
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    counter = iter(range(total))

    def worker():
        client = Client(base_url)
        for i in range(warmup):
            client.request(*make_request(-1 - i))
        barrier.wait()
        mine = []
        while True:
            with lock:
                i = next(counter, None)
            if i is None:
                break
            method, path, body = make_request(i)
            started = time.perf_counter()
            status = client.request(method, path, body)
            mine.append(time.perf_counter() - started)
            if status != 200:
                errors.append(f"{method} {path} -> {status}")
        with lock:
            latencies.extend(mine)

    barrier = threading.Barrier(concurrency + 1)
    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if errors:
        raise SystemExit(f"{len(errors)} requests failed, e.g. {errors[0]}")
    p50, p95, p99 = percentiles(latencies)
    return {"p50": p50 * 1000, "p95": p95 * 1000, "p99": p99 * 1000, "rps": total / elapsed, "n": total}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8001")
    parser.add_argument("--requests", type=int, default=2000, help="requests per scenario and concurrency")
    parser.add_argument("--concurrency", default="1,16")
    parser.add_argument("--label", default="this server")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    levels = [int(c) for c in args.concurrency.split(",")]

    bodies = {turns: [json.dumps(conversation(turns, s)).encode() for s in range(SESSIONS)] for turns in (10, 100)}
    setup = Client(args.url)
    for s in range(SESSIONS):  # every GET finds its session
        assert setup.request("PUT", f"/v1/working-memory/bench-{s}", bodies[10][s]) == 200

    def kib(turns: int) -> str:
        return f"{len(bodies[turns][0]) / 1024:.1f} KiB"

    def get_path(i: int) -> str:
        s = i % SESSIONS
        return f"/v1/working-memory/bench-{s}?namespace=bench&user_id=user-{s % 8}"

    scenarios = {
        "GET /v1/health (baseline)": lambda i: ("GET", "/v1/health", None),
        f"PUT 10 turns ({kib(10)})": lambda i: (
            "PUT",
            f"/v1/working-memory/bench-{i % SESSIONS}",
            bodies[10][i % SESSIONS],
        ),
        "GET 10 turns": lambda i: ("GET", get_path(i), None),
        f"PUT 100 turns ({kib(100)})": lambda i: (
            "PUT",
            f"/v1/working-memory/bench-{i % SESSIONS}",
            bodies[100][i % SESSIONS],
        ),
        "GET 100 turns": lambda i: ("GET", get_path(i), None),
    }
    print(f"{args.label} at {args.url}; {machine()}", flush=True)
    results = {}
    for name, make_request in scenarios.items():
        for concurrency in levels:
            print(f"  {name} at concurrency {concurrency}: {args.requests} requests ...", end=" ", flush=True)
            figures = run(
                args.url,
                make_request,
                total=args.requests,
                concurrency=concurrency,
                warmup=max(20, args.requests // 50),
            )
            results[(name, concurrency)] = figures
            print(f"p50 {figures['p50']:.2f} ms, {figures['rps']:.0f} req/s", flush=True)

    print_table(args.label, results)
    if args.json:
        with open(args.json, "w") as out:
            json.dump({f"{name} @ {c}": f for (name, c), f in results.items()}, out, indent=1)


def print_table(label: str, results: dict) -> None:
    print(f"\n| {label}: scenario | conc. | p50 ms | p95 ms | p99 ms | req/s | p50 vs health | req/s vs health |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for (name, concurrency), f in results.items():
        base = results[("GET /v1/health (baseline)", concurrency)]
        print(
            f"| {name} | {concurrency} | {f['p50']:.2f} | {f['p95']:.2f} | {f['p99']:.2f} | {f['rps']:.0f} "
            f"| {f['p50'] / base['p50']:.2f}x | {f['rps'] / base['rps']:.2f}x |"
        )


if __name__ == "__main__":
    sys.exit(main())
