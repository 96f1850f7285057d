"""Promotion throughput: sessions promoted per minute by the worker, 1 to 4 threads.

Starts its own deployment, as `make run` does (gunicorn 2 workers x 4 threads, and a
separate `manage.py rundramatiq` worker restarted for each thread count), on a fresh
SQLite DB, with the debounce window shortened to 1 s. For each strategy and thread
count it writes S sessions of 6 turns through `PUT /v1/working-memory/{id}` (one user
per session), waits until every session has a succeeded ExtractionRun, and reports:

- throughput: S / (last run finished - first run started), in sessions per minute;
- run time (started -> finished) p50/p95/p99;
- lag (window end -> run finished) p50/p95/p99: queueing plus run time.

Strategies: `messages` (no LLM; 6 message memories per session) and `discrete` against
the scripted OpenAI-compatible server (tests/llm_server.py) answering in a fixed 200 ms
with 3 memories. The 1-thread figure of each strategy is the baseline its scaling
ratios are computed against, in the same run. Run it beside a Redis of its own:

    .venv/bin/python -m memoryproject.localredis exec --port 6493 -- \\
        .venv/bin/python benchmarks/promotion.py --port 8003
"""

import argparse
import os
import signal
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests
from benchlib import machine, percentiles

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))
DB_FILE = BASE_DIR / "var" / "bench-promotion.sqlite3"
WORKER_LOG = BASE_DIR / "var" / "bench-promotion-worker.log"
WINDOW_SECONDS = 1
WARM_SESSIONS = 8
TURNS = [
    "I am planning a trip to {city} in {month} with my partner {name}.",
    "Lovely! Do you have dates in mind for {city}?",
    "We land on the 14th and {name} prefers hotels close to the old town.",
    "Noted: a hotel near the old town of {city} from the 14th.",
    "Also I am vegetarian, so restaurant tips should reflect that.",
    "Understood, I will only suggest vegetarian-friendly places in {city}.",
]
CITIES = ["Lisbon", "Porto", "Seville", "Krakow", "Ghent", "Turin", "Bergen", "Tallinn", "Ljubljana", "Lyon"]
NAMES = ["Anna", "Tomasz", "Ines", "Pieter", "Giulia", "Sven", "Maja", "Luc", "Eva", "Omar"]
MONTHS = ["May", "June", "July", "September", "October"]


def session_body(namespace: str, i: int) -> dict:
    facts = {"city": CITIES[i % len(CITIES)], "name": NAMES[(i // 3) % len(NAMES)], "month": MONTHS[i % 5]}
    return {
        "namespace": namespace,
        "user_id": f"user-{i}",
        "messages": [
            {
                "id": f"{namespace}-s{i}-m{t}",
                "role": "user" if t % 2 == 0 else "assistant",
                "content": f"{text.format(**facts)} (session {i})",
            }
            for t, text in enumerate(TURNS)
        ],
    }


def llm_reply(i: int) -> dict:
    city, name = CITIES[i % len(CITIES)], NAMES[(i // 3) % len(NAMES)]
    memory = {"memory_type": "semantic", "topics": ["travel"], "event_date": None, "source_message_ids": []}
    return {
        "memories": [
            {
                **memory,
                "text": f"User is planning a trip to {city} with their partner {name} (session {i}).",
                "entities": [city, name],
            },
            {
                **memory,
                "text": f"{name} prefers hotels close to the old town of {city} (session {i}).",
                "entities": [name, city],
            },
            {**memory, "text": f"User is vegetarian (stated in session {i}).", "entities": []},
        ]
    }


class Deployment:
    def __init__(self, env: dict, port: int, worker_env: dict):
        self.url, self.worker_env = f"http://127.0.0.1:{port}", worker_env
        self.web = subprocess.Popen(
            [
                str(BASE_DIR / ".venv/bin/gunicorn"),
                "memoryproject.wsgi:application",
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                "2",
                "--threads",
                "4",
                "--log-level",
                "warning",
            ],
            cwd=BASE_DIR,
            env=env,
        )
        self.worker = None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{self.url}/v1/health", timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                time.sleep(0.2)
        raise SystemExit("gunicorn did not come up")

    def start_worker(self, threads: int) -> None:
        with open(WORKER_LOG, "a") as log:
            self.worker = subprocess.Popen(
                [sys.executable, "manage.py", "rundramatiq", "--processes", "1", "--threads", str(threads)],
                cwd=BASE_DIR,
                env=self.worker_env,
                start_new_session=True,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def stop_worker(self) -> None:
        if self.worker is not None:
            os.killpg(self.worker.pid, signal.SIGTERM)
            self.worker.wait(timeout=60)
            self.worker = None

    def stop(self) -> None:
        self.stop_worker()
        self.web.terminate()
        self.web.wait(timeout=30)


def wait_for_runs(ExtractionRun, namespace: str, count: int, timeout: float) -> list:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = list(ExtractionRun.objects.filter(namespace=namespace, status="succeeded"))
        failed = ExtractionRun.objects.filter(namespace=namespace, status="failed").first()
        if failed:
            raise SystemExit(f"run {failed.pk} failed: {failed.error}")
        if len(runs) >= count:
            return runs
        time.sleep(0.25)
    raise SystemExit(f"only {len(runs)} of {count} sessions promoted within {timeout:.0f} s")


def measure(deployment, ExtractionRun, *, strategy: str, threads: int, sessions: int, tag: str) -> dict:
    deployment.start_worker(threads)
    try:
        # Warm-up, not measured: the worker loads the embedding model and opens its
        # connections; concurrent PUTs reach every gunicorn worker (the first PUT of a
        # process loads the token counter, seconds of CPU that would skew the first cell).
        warm = f"{tag}-{strategy}-{threads}-warm"
        with ThreadPoolExecutor(4) as pool:
            statuses = pool.map(
                lambda i: (
                    requests.put(
                        f"{deployment.url}/v1/working-memory/w{i}", timeout=60, json=session_body(warm, 10_000 + i)
                    ).status_code
                ),
                range(WARM_SESSIONS),
            )
            assert set(statuses) == {200}
        wait_for_runs(ExtractionRun, warm, WARM_SESSIONS, timeout=180)

        namespace = f"{tag}-{strategy}-{threads}"
        written = {}
        with requests.Session() as http:
            for i in range(sessions):
                assert (
                    http.put(
                        f"{deployment.url}/v1/working-memory/s{i}", json=session_body(namespace, i), timeout=10
                    ).status_code
                    == 200
                )
                written[f"s{i}"] = time.time()
        runs = wait_for_runs(ExtractionRun, namespace, sessions, timeout=60 + sessions * 10)
    finally:
        deployment.stop_worker()
    first_start = min(r.started_at.timestamp() for r in runs)
    last_finish = max(r.finished_at.timestamp() for r in runs)
    durations = [(r.finished_at - r.started_at).total_seconds() * 1000 for r in runs]
    lags = [(r.finished_at.timestamp() - written[r.session_id] - WINDOW_SECONDS) * 1000 for r in runs]
    created = sum(r.memories_created for r in runs)
    return {
        "per_minute": sessions / (last_finish - first_start) * 60,
        "run": percentiles(durations),
        "lag": percentiles(lags),
        "memories": created,
        "sessions": sessions,
    }


def fresh_database_env(llm_server) -> dict:
    """The benchmark's own migrated SQLite DB and settings, for this process and its children."""
    for path in (DB_FILE, DB_FILE.with_name(DB_FILE.name + "-wal"), DB_FILE.with_name(DB_FILE.name + "-shm")):
        path.unlink(missing_ok=True)
    WORKER_LOG.unlink(missing_ok=True)
    env = dict(
        os.environ,
        DATABASE_URL=f"sqlite:///{DB_FILE}",
        PROMOTION_DEBOUNCE_SECONDS=str(WINDOW_SECONDS),
        LOG_LEVEL="WARNING",
        # Its own gunicorn on 127.0.0.1, so no key is needed (AUTH_MODE=disabled is loopback only).
        AUTH_MODE="disabled",
        **llm_server.env(),
    )
    os.environ.update(env)
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=BASE_DIR, env=env, check=True)
    return env


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=8003)
    parser.add_argument("--sessions", type=int, default=100, help="sessions per strategy and thread count")
    parser.add_argument("--threads", default="1,2,3,4")
    parser.add_argument("--strategies", default="messages,discrete")
    parser.add_argument("--llm-latency", type=float, default=0.2)
    parser.add_argument(
        "--torch-threads", type=int, default=None, help="OMP_NUM_THREADS for the worker (default: unset, as `make run`)"
    )
    args = parser.parse_args()
    if "REDIS_URL" not in os.environ:
        raise SystemExit("run it under `python -m memoryproject.localredis exec --port 6493 -- ...`")

    from tests.llm_server import ScriptedLLMServer

    llm_server = ScriptedLLMServer()
    llm_server.latency = args.llm_latency
    env = fresh_database_env(llm_server)
    worker_env = dict(env, **({"OMP_NUM_THREADS": str(args.torch_threads)} if args.torch_threads else {}))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "memoryproject.settings")
    import django

    django.setup()
    from policies.models import ExtractionRun
    from policies.services import policy_defaults_ensure

    tag = f"bench-{uuid.uuid4().hex[:6]}"
    print(
        f"promotion benchmark; {machine()}; {args.sessions} sessions of {len(TURNS)} turns per cell; "
        f"worker OMP_NUM_THREADS={worker_env.get('OMP_NUM_THREADS', 'unset')}; "
        f"worker output in {WORKER_LOG.relative_to(BASE_DIR)}",
        flush=True,
    )
    deployment = Deployment(env, args.port, worker_env=worker_env)
    results = {}
    try:
        for strategy in args.strategies.split(","):
            policy_defaults_ensure(llm_configured=strategy == "discrete")
            for threads in [int(t) for t in args.threads.split(",")]:
                llm_server.reset()
                llm_server.latency = args.llm_latency
                llm_server.script(*[llm_reply(i) for i in range(args.sessions + WARM_SESSIONS)])
                print(f"  {strategy}, {threads} worker thread(s) ...", end=" ", flush=True)
                figures = measure(
                    deployment, ExtractionRun, strategy=strategy, threads=threads, sessions=args.sessions, tag=tag
                )
                results[(strategy, threads)] = figures
                print(f"{figures['per_minute']:.0f} sessions/min", flush=True)
    finally:
        deployment.stop()
        llm_server.close()

    print_table(results)


def print_table(results: dict) -> None:
    print(
        "\n| strategy | worker threads | sessions/min | vs 1 thread | run p50 ms | run p95 ms | run p99 ms "
        "| lag p50 ms | lag p95 ms | lag p99 ms | memories |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for (strategy, threads), f in results.items():
        base = results.get((strategy, min(t for s, t in results if s == strategy)))
        print(
            f"| {strategy} | {threads} | {f['per_minute']:.0f} | {f['per_minute'] / base['per_minute']:.2f}x "
            f"| {f['run'][0]:.0f} | {f['run'][1]:.0f} | {f['run'][2]:.0f} "
            f"| {f['lag'][0]:.0f} | {f['lag'][1]:.0f} | {f['lag'][2]:.0f} | {f['memories']} |"
        )


if __name__ == "__main__":
    main()
