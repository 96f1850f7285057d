"""Soak: mixed load (sessions written and promoted through the scripted LLM, searches,
the index sweep every 10 s) for SOAK_SECONDS (180 in CI), reporting the resident
memory of every process after a warm-up and at the end. Growth after warm-up must
stay under 10% per process. RELIABILITY.md has the longer runs."""

import os
import random
import signal
import threading
import time

import pytest
import requests

from policies.services import policy_defaults_ensure
from tests.helpers import put_session, wait_until
from tests.reliability.support import children, one_memory_per_turn, report, rss_mb, turns
from workers.queue import enqueue_index_sweep

pytestmark = [pytest.mark.reliability, pytest.mark.multiprocess]

SOAK_SECONDS = float(os.environ.get("SOAK_SECONDS", "180"))
WARM_UP_SECONDS = min(60.0, SOAK_SECONDS / 3)
MAX_GROWTH = 0.10
# bin/serve's: a fixed mmap threshold (RELIABILITY.md, "Soak"); SOAK_MALLOC=default leaves glibc's.
MALLOC_ENV = (
    {}
    if os.environ.get("SOAK_MALLOC") == "default"
    else {"MALLOC_MMAP_THRESHOLD_": "131072", "MALLOC_TRIM_THRESHOLD_": "131072"}
)


def processes(deployment) -> dict[str, int]:
    """gunicorn's workers and Dramatiq's worker processes (their parents only fork)."""
    named = {f"gunicorn-{i}": pid for i, pid in enumerate(sorted(children(deployment.web.pid)))}
    named |= {f"dramatiq-{i}": pid for i, pid in enumerate(sorted(children(deployment.worker.pid)))}
    return named


def mixed_load(url: str, headers: dict, stop: threading.Event, counts: dict) -> None:
    rng, n = random.Random(7), 0
    questions = ["which item does the user like", "item number", "what is the user fond of", "garden bees"]
    while not stop.is_set():
        session = rng.randrange(max(n, 1)) if n and rng.random() < 0.3 else n  # new sessions, some extended
        put_session(
            url, f"soak-{session}", turns(session, 0, rng.randint(1, 6)), namespace="soak", user_id=f"u{session % 20}"
        )
        n += session == n
        for _ in range(3):
            body = {
                "text": rng.choice(questions),
                "search_mode": rng.choice(["semantic", "hybrid", "keyword"]),
                "limit": 10,
            }
            assert (
                requests.post(f"{url}/v1/long-term-memory/search", json=body, headers=headers, timeout=30).status_code
                == 200
            )
            counts["searches"] += 1
        counts["writes"] += 1
        time.sleep(0.2)


@pytest.mark.timeout(int(SOAK_SECONDS) + 300)
def test_memory_stays_bounded_under_mixed_load(start_deployment, llm_server):
    policy_defaults_ensure(llm_configured=True)
    llm_server.latency = 0.2
    llm_server.responder = one_memory_per_turn
    deployment = start_deployment(
        worker_threads=4,
        **llm_server.env(),
        PROMOTION_DEBOUNCE_SECONDS="2",
        MEMORY_INDEX_SWEEP_SECONDS="10",
        **MALLOC_ENV,  # as bin/serve runs the processes
    )
    enqueue_index_sweep()  # the periodic sweep, as seed_defaults starts it
    stop, counts = threading.Event(), {"writes": 0, "searches": 0}
    load = threading.Thread(target=mixed_load, args=(deployment.url, deployment.headers, stop, counts), daemon=True)
    started = time.monotonic()
    load.start()
    try:
        time.sleep(WARM_UP_SECONDS)
        pids = processes(deployment)
        at_start = {name: rss_mb(pid) for name, pid in pids.items()}
        wait_until(
            lambda: time.monotonic() - started >= SOAK_SECONDS or not load.is_alive(),
            timeout=SOAK_SECONDS + 60,
            interval=1,
        )
        assert load.is_alive(), "the load stopped early (see its error above)"
        at_end = {name: rss_mb(pid) for name, pid in pids.items()}
    finally:
        stop.set()
        load.join(timeout=60)
    growth = {name: (at_end[name] - at_start[name]) / at_start[name] for name in pids}
    report(
        "soak",
        seconds=int(SOAK_SECONDS),
        warm_up_s=int(WARM_UP_SECONDS),
        writes=counts["writes"],
        searches=counts["searches"],
        rss_mb_start={k: round(v) for k, v in at_start.items()},
        rss_mb_end={k: round(v) for k, v in at_end.items()},
        growth_pct={k: round(100 * v, 1) for k, v in growth.items()},
        malloc=" ".join(f"{k}={v}" for k, v in MALLOC_ENV.items()),
    )
    deployment.kill_worker(signal.SIGTERM)
    assert all(g < MAX_GROWTH for g in growth.values()), growth
