"""Worker SIGKILL under load: 200 sessions through promotion with the scripted LLM at
1 s a call, the worker killed mid-extraction 20 times at random moments and a new one
started each time. Every turn is extracted exactly once and no run is left running.

Shortened from production, so 20 kills fit in minutes: Dramatiq's heartbeat timeout
(5 s instead of 60 s) and its maintenance chance (every broker call instead of 0.1%),
which together decide when a dead worker's messages are delivered again; and the
debounce (1 s instead of 300 s). Redelivery itself is Dramatiq's, unchanged."""

import os
import random
import signal
import threading
import time

import pytest
from dramatiq.brokers.redis import MAINTENANCE_SCALE

from memory.models import MemoryRecord
from policies.services import policy_defaults_ensure
from tests.helpers import put_session, queued_messages, wait_until
from tests.reliability.support import extraction_tally, one_memory_per_turn, report, turns

pytestmark = [pytest.mark.reliability, pytest.mark.multiprocess]

SESSIONS = int(os.environ.get("RELIABILITY_SESSIONS", "200"))
KILLS = int(os.environ.get("RELIABILITY_KILLS", "20"))
LLM_LATENCY_SECONDS = 1.0
SEED = 16


def write_sessions(url: str, sent: dict[str, list[str]], rng: random.Random) -> None:
    """Three turns per session, then two more for every other session: 800 turns in all."""
    for i in range(SESSIONS):
        put_session(url, f"kill-{i}", turns(i, 0, 3), namespace="load", user_id=f"user-{i}")
        sent[f"kill-{i}"] = [t["id"] for t in turns(i, 0, 3)]
        time.sleep(rng.uniform(0, 0.3))
    for i in range(0, SESSIONS, 2):
        put_session(url, f"kill-{i}", turns(i, 0, 5), namespace="load", user_id=f"user-{i}")
        sent[f"kill-{i}"] = [t["id"] for t in turns(i, 0, 5)]
        time.sleep(rng.uniform(0, 0.1))


def kill_mid_extraction(deployment, llm_server, rng: random.Random) -> float:
    """Wait until the worker is inside an LLM call, kill it at a random moment of the
    call, start a new one; returns seconds until the new one is extracting again."""
    wait_until(lambda: llm_server.in_flight > 0, timeout=180, interval=0.05, what="a run inside its LLM call")
    time.sleep(rng.uniform(0, LLM_LATENCY_SECONDS))
    killed_at = time.monotonic()
    deployment.kill_worker(signal.SIGKILL)
    wait_until(lambda: llm_server.in_flight == 0, timeout=30, interval=0.05, what="the killed calls to end")
    deployment.worker = deployment.start_worker()
    wait_until(lambda: llm_server.in_flight > 0, timeout=180, interval=0.05, what="the new worker to extract")
    return time.monotonic() - killed_at


@pytest.mark.timeout(900)
def test_twenty_kills_mid_extraction_lose_and_duplicate_no_turn(start_deployment, llm_server, redis_client):
    started = time.monotonic()
    policy_defaults_ensure(llm_configured=True)  # the discrete strategy, published
    llm_server.latency = LLM_LATENCY_SECONDS
    llm_server.responder = one_memory_per_turn
    deployment = start_deployment(
        worker_threads=4,
        **llm_server.env(),
        PROMOTION_DEBOUNCE_SECONDS="1",
        LLM_TIMEOUT_SECONDS="30",
        DRAMATIQ_HEARTBEAT_TIMEOUT_SECONDS="5",
        DRAMATIQ_MAINTENANCE_CHANCE=str(MAINTENANCE_SCALE),
    )
    rng, sent = random.Random(SEED), {}
    writer = threading.Thread(target=write_sessions, args=(deployment.url, sent, random.Random(SEED + 1)))
    writer.start()
    recoveries = [kill_mid_extraction(deployment, llm_server, rng) for _ in range(KILLS)]
    writer.join()

    total_turns = sum(len(ids) for ids in sent.values())

    def settled():
        return MemoryRecord.objects.count() >= total_turns and not queued_messages(redis_client, "promote_session")

    wait_until(settled, timeout=420, interval=1, what="every session to be promoted")
    tally = extraction_tally(sent)
    report(
        "worker-sigkill",
        kills=KILLS,
        sessions=len(sent),
        turns=total_turns,
        lost=tally["lost"],
        duplicated=tally["duplicated"],
        runs_running=tally["runs_running"],
        recovery_s_max=round(max(recoveries), 1),
        recovery_s_mean=round(sum(recoveries) / len(recoveries), 1),
        wall_s=round(time.monotonic() - started),
    )
    assert tally == {"lost": 0, "duplicated": 0, "misnumbered_sessions": 0, "runs_running": 0}
    assert MemoryRecord.objects.count() == total_turns
