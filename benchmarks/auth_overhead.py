"""The latency auth adds: PUT working memory and search at concurrency 16, the same build
served twice in one run, once with AUTH_MODE=required (an API key) and once disabled.

    .venv/bin/python -m memoryproject.localredis exec --port 6496 -- \\
        .venv/bin/python benchmarks/auth_overhead.py

The script migrates its own SQLite database (var/bench-auth.sqlite3), creates a key,
starts two gunicorns (2 workers x 4 threads, as bin/serve) on the same database and
Redis, seeds records for the searches, then measures the two servers in alternating
rounds so drift in the machine's load falls on both. The rate limits are raised out of
the way, but their counters still run (that cost is part of auth's).
"""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from benchlib import machine, percentiles
from working_memory import Client, timed

ROOT = Path(__file__).resolve().parent.parent
SESSIONS = 64
QUERIES = [f"what does user {i} like to drink in the morning" for i in range(16)]


def env(**extra) -> dict:
    return dict(
        os.environ,
        DATABASE_URL=f"sqlite:///{ROOT / 'var' / 'bench-auth.sqlite3'}",
        RATE_LIMIT_WRITES="10000000/min",
        RATE_LIMIT_SEARCHES="10000000/min",
        LOG_LEVEL="WARNING",
        **extra,
    )


def manage(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env(), capture_output=True, text=True, check=True
    )
    return done.stdout


def serve(port: int, auth_mode: str) -> subprocess.Popen:
    return subprocess.Popen(
        [str(ROOT / ".venv/bin/gunicorn"), "memoryproject.wsgi:application", "--bind", f"127.0.0.1:{port}"]
        + ["--workers", "2", "--threads", "4", "--log-level", "warning"],
        cwd=ROOT,
        env=env(AUTH_MODE=auth_mode),
    )


def bearer(key: str | None) -> dict:
    return {"Authorization": f"Bearer {key}"} if key else {}


def wait_up(url: str) -> None:
    for _ in range(600):
        try:
            if Client(url, {}).request("GET", "/v1/health") == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"{url} did not come up")


def measure(url: str, key: str | None, make_request, *, total: int, concurrency: int) -> tuple[list[float], float]:
    """The latencies of `total` requests from `concurrency` threads, and the seconds they took;
    20 warm-up requests per thread first (connections, caches, the key's first use)."""
    return timed(url, make_request, total=total, concurrency=concurrency, warmup=20, headers=bearer(key))


def scenarios() -> dict:
    body = {
        "namespace": "bench",
        "messages": [{"role": "user", "content": f"Turn {i}: a table for two by the river"} for i in range(10)],
    }
    put = json.dumps(body).encode()
    search = [json.dumps({"text": q, "namespace": {"eq": "bench"}, "limit": 10}).encode() for q in QUERIES]
    return {
        "PUT working memory (10 turns)": lambda i: ("PUT", f"/v1/working-memory/bench-{i % SESSIONS}", put),
        "POST search (semantic, cached query embedding)": lambda i: (
            "POST",
            "/v1/long-term-memory/search",
            search[i % len(search)],
        ),
    }


def seed(url: str, key: str) -> None:
    client = Client(url, bearer(key))
    memories = [{"text": f"User {i} drinks green tea in the morning", "namespace": "bench"} for i in range(200)]
    assert client.request("POST", "/v1/long-term-memory/", json.dumps({"memories": memories}).encode()) == 200


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000, help="requests per scenario, server and round")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    (ROOT / "var" / "bench-auth.sqlite3").unlink(missing_ok=True)
    manage("migrate", "--noinput")
    key = manage("apikey", "create", "--name", "bench", "--tenant", "bench", "--namespace", "bench").splitlines()[1]
    servers = {"disabled": ("http://127.0.0.1:8611", None), "required": ("http://127.0.0.1:8612", key)}
    processes = [serve(8611, "disabled"), serve(8612, "required")]
    try:
        for url, _ in servers.values():
            wait_up(url)
        seed(servers["required"][0], key)
        figures = run_rounds(servers, args)
    finally:
        for process in processes:
            process.terminate()
            process.wait()
    report(figures, args)


def run_rounds(servers: dict, args) -> dict:
    figures = {name: {mode: ([], 0.0) for mode in servers} for name in scenarios()}
    for _ in range(args.rounds):
        for name, make_request in scenarios().items():
            for mode, (url, key) in servers.items():
                latencies, seconds = measure(url, key, make_request, total=args.requests, concurrency=args.concurrency)
                figures[name][mode] = (figures[name][mode][0] + latencies, figures[name][mode][1] + seconds)
    return figures


def report(figures: dict, args) -> None:
    print(f"# auth overhead, concurrency {args.concurrency}, {args.rounds} rounds x {args.requests} requests")
    print(f"# {machine()}")
    print("| scenario | auth | p50 ms | p95 ms | p99 ms | req/s |")
    print("|---|---|---:|---:|---:|---:|")
    out = {}
    for name, modes in figures.items():
        out[name] = {}
        for mode, (latencies, seconds) in modes.items():
            p50, p95, p99 = (v * 1000 for v in percentiles(latencies))
            rps = len(latencies) / seconds
            out[name][mode] = {"p50": p50, "p95": p95, "p99": p99, "rps": rps, "n": len(latencies)}
            print(f"| {name} | {mode} | {p50:.2f} | {p95:.2f} | {p99:.2f} | {rps:.0f} |")
        on, off = out[name]["required"], out[name]["disabled"]
        added = [on[k] - off[k] for k in ("p50", "p95", "p99")]
        print(f"| {name} | added by auth | {added[0]:+.2f} | {added[1]:+.2f} | {added[2]:+.2f} | |")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
