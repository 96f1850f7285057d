"""Redis SIGKILLed (not SHUTDOWN: no RDB, no final fsync) under write load, on a Redis
supervised as `make run` supervises it, with the AOF fsynced every second.

- While it is down the API answers 503 JSON naming Redis, fast; never a 500 or a hang.
- The supervisor restarts it from its AOF; the API recovers with no process restart.
- Every PUT acknowledged more than the fsync window before the kill survives; the lost
  ones (the last second) are counted and their age measured.
- Promotion messages queued (delayed) before the kill survive it and fire.
- The index is rebuilt from the DB (`reindex_memories`) with 0 records missing.
"""

import signal
import subprocess
import threading
import time

import pytest
import requests

from memory.models import MemoryRecord
from memory.services.health import HEALTH_DRIFT_MAX_AGE_SECONDS
from memoryproject import localredis
from policies.services import policy_defaults_ensure
from tests.helpers import BASE_DIR, PYTHON, child_env, free_port, put_session, stop_process, wait_until
from tests.reliability.support import report

pytestmark = [pytest.mark.reliability, pytest.mark.multiprocess]

FSYNC_WINDOW_SECONDS = 1.0  # appendfsync everysec
DOWN_SECONDS = 5.0


@pytest.fixture
def supervised_redis(tmp_path):
    port = free_port()
    supervisor = subprocess.Popen(
        [PYTHON, "-m", "memoryproject.localredis", "supervise", "--port", str(port), "--dir", str(tmp_path)],
        cwd=BASE_DIR,
    )
    wait_until(lambda: localredis.answering(port), timeout=30, what="the supervised Redis")
    yield port, tmp_path, supervisor
    stop_process(supervisor)


class Writer(threading.Thread):
    """PUTs one-turn sessions as fast as it can, noting each answer and when it came."""

    def __init__(self, url: str, headers: dict):
        super().__init__(daemon=True)
        self.url, self.headers = url, headers
        self.answers: list[tuple[str, float, int, str, float]] = []  # session, at, status, type, seconds
        self.stopping = threading.Event()

    def run(self):
        n = 0
        while not self.stopping.is_set():
            session = f"load-{n}"
            body = {"messages": [{"id": "t0", "role": "user", "content": f"turn of {session}"}], "namespace": "load"}
            sent = time.monotonic()
            try:
                response = requests.put(
                    f"{self.url}/v1/working-memory/{session}", json=body, headers=self.headers, timeout=5
                )
                status, kind = response.status_code, response.headers.get("Content-Type", "")
            except requests.RequestException as exc:
                status, kind = 0, type(exc).__name__  # a hang or a dropped connection
            self.answers.append((session, time.monotonic(), status, kind, time.monotonic() - sent))
            n += 1


def one_turn(text: str) -> list[dict]:
    return [{"id": "t0", "role": "user", "content": text}]


def kill_redis(data_dir) -> float:
    pid = localredis.server_pid(data_dir)
    assert pid is not None
    subprocess.run(["kill", "-KILL", str(pid)], check=True)
    return time.monotonic()


def api_answers_while_down(deployment) -> list[tuple[int, str, float]]:
    """Status, content type and seconds of a few calls that need Redis, while it is down."""
    answers = []
    for method, path, body in [
        ("get", "/v1/health", None),
        ("put", "/v1/working-memory/down-1", {"messages": one_turn("while down")}),
        ("get", "/v1/working-memory/early-1", None),
        ("post", "/v1/long-term-memory/search", {"text": "early fact"}),
    ]:
        sent = time.monotonic()
        response = requests.request(method, deployment.url + path, json=body, headers=deployment.headers, timeout=10)
        answers.append((response.status_code, response.headers["Content-Type"], time.monotonic() - sent))
        assert "redis" in response.json()["down"], response.text
    return answers


@pytest.mark.timeout(600)
def test_a_redis_sigkill_under_writes_loses_nothing_fsynced_and_recovers_by_itself(start_deployment, supervised_redis):
    port, data_dir, supervisor = supervised_redis
    url = f"redis://127.0.0.1:{port}/0"
    policy_defaults_ensure(llm_configured=False)  # the messages strategy: no LLM needed
    deployment = start_deployment(REDIS_URL=url, PROMOTION_DEBOUNCE_SECONDS="1")
    for i in range(10):  # promoted before the kill: their documents are in the index
        put_session(deployment.url, f"early-{i}", one_turn(f"early fact {i}"), namespace="w")
    wait_until(lambda: MemoryRecord.objects.count() == 10, timeout=90, what="the early sessions promoted")
    # With the worker stopped, these sessions' promotion messages wait in Redis at the kill.
    deployment.kill_worker(signal.SIGTERM)
    for i in range(10):
        put_session(deployment.url, f"queued-{i}", one_turn(f"queued fact {i}"), namespace="w")

    writer = Writer(deployment.url, deployment.headers)
    writer.start()
    time.sleep(3)
    supervisor.send_signal(signal.SIGSTOP)  # holds the restart, so the outage can be watched
    killed_at = kill_redis(data_dir)
    time.sleep(0.5)
    while_down = api_answers_while_down(deployment)
    time.sleep(DOWN_SECONDS)
    supervisor.send_signal(signal.SIGCONT)
    wait_until(lambda: localredis.answering(port), timeout=60, what="the supervisor to restart Redis")
    restarted_at = time.monotonic()
    recovered = wait_until(
        lambda: put_ok(deployment) and time.monotonic(), timeout=60, interval=0.1, what="the API to recover"
    )
    writer.stopping.set()
    writer.join()

    statuses = sorted({status for _, _, status, _, _ in writer.answers})
    assert set(statuses) <= {200, 503}, statuses  # never a 500, an HTML page or a hang
    assert all(kind.startswith("application/json") for _, _, _, kind, _ in writer.answers)
    assert max(seconds for _, _, _, _, seconds in writer.answers) < 5
    assert [(status, kind.split(";")[0]) for status, kind, _ in while_down] == [(503, "application/json")] * 4

    survived, lost = check_acknowledged(deployment, writer, killed_at)
    deployment.worker = deployment.start_worker()
    promoted = MemoryRecord.objects.filter(namespace="w")
    wait_until(lambda: promoted.count() == 20, timeout=120, what="the queued sessions promoted")
    # The writer's sessions are still being promoted; a row committed a moment before
    # its index hook counts as drift, so the count after the reindex needs no writer.
    deployment.kill_worker(signal.SIGTERM)
    drift_after_restart = health(deployment)["index_drift"]
    reindex(url)
    # /v1/health shares its drift figure for HEALTH_DRIFT_MAX_AGE_SECONDS: the one read
    # just before the reindex may still be served, so wait for a fresh one.
    wait_until(lambda: health(deployment)["index_drift"] == 0, timeout=HEALTH_DRIFT_MAX_AGE_SECONDS + 10, what="0")
    drift_after_reindex = health(deployment)["index_drift"]
    search = requests.post(
        f"{deployment.url}/v1/long-term-memory/search",
        json={"text": "", "namespace": {"eq": "w"}, "limit": 100},
        headers=deployment.headers,
        timeout=10,
    ).json()
    assert search["total"] == 20  # every record searchable again
    report(
        "redis-sigkill",
        acknowledged_puts=len(survived) + len(lost),
        lost_puts=len(lost),
        lost_within_s=round(max((killed_at - at for at in lost), default=0.0), 2),
        answers_503=sum(1 for _, _, status, _, _ in writer.answers if status == 503),
        answers_5xx_other=sum(1 for _, _, status, _, _ in writer.answers if status >= 500 and status != 503),
        queued_promotions_lost=10 - promoted.filter(session_id__startswith="queued-").count(),
        index_drift_after_restart=drift_after_restart,
        index_missing_after_reindex=drift_after_reindex,
        redis_restart_s=round(restarted_at - killed_at - DOWN_SECONDS - 0.5, 2),
        api_recovery_s=round(recovered - restarted_at, 2),
    )
    assert drift_after_reindex == 0
    assert all(killed_at - at < FSYNC_WINDOW_SECONDS + 0.5 for at in lost)


def put_ok(deployment) -> bool:
    response = requests.put(
        f"{deployment.url}/v1/working-memory/after",
        json={"messages": one_turn("after")},
        headers=deployment.headers,
        timeout=5,
    )
    return response.status_code == 200


def check_acknowledged(deployment, writer: Writer, killed_at: float) -> tuple[list[str], list[float]]:
    """Sessions whose PUT was acknowledged before the kill and are still there, and the
    acknowledgement times of those that are not."""
    survived, lost = [], []
    for session, at, status, _, _ in writer.answers:
        if status != 200 or at >= killed_at:
            continue
        response = requests.get(
            f"{deployment.url}/v1/working-memory/{session}?namespace=load", headers=deployment.headers, timeout=10
        )
        if response.status_code == 200 and response.json()["messages"][0]["content"] == f"turn of {session}":
            survived.append(session)
        else:
            lost.append(at)
    return survived, lost


def health(deployment) -> dict:
    return requests.get(f"{deployment.url}/v1/health", timeout=10).json()


def reindex(redis_url: str) -> None:
    subprocess.run(
        [PYTHON, "manage.py", "reindex_memories"],
        cwd=BASE_DIR,
        env=child_env(REDIS_URL=redis_url),
        check=True,
        capture_output=True,
    )
