"""PostgreSQL stopped for 30 s under working-memory load, on a throwaway cluster of its
own (`15 outage`, port 5439; the main cluster is never touched).

- While it is down, a route that needs the DB answers 503 JSON naming the database,
  fast; never a 500 or a hang. Working-memory PUTs go on answering 200: they touch Redis
  only (the API key is in the auth cache, its last use written before the outage).
- Promotions that hit the outage are retried by Dramatiq and land once it is back:
  every turn is extracted exactly once and no run is left running.

Needs root and PostgreSQL 15's binaries (`make postgres`). Without them the test is
skipped, or fails when RELIABILITY_POSTGRES=required (as `make reliability` sets it).
"""

import json
import os
import shutil
import subprocess
import threading
import time

import pytest
import requests

from tests.helpers import API_KEYS, BASE_DIR, PYTHON, Deployment, child_env, wait_until
from tests.reliability.support import one_memory_per_turn, report, turns

pytestmark = [pytest.mark.reliability, pytest.mark.multiprocess]

CLUSTER = ("15", "outage")
PORT = 5439
DB_URL = f"postgres://outage:outage@127.0.0.1:{PORT}/memory_outage"
OUTAGE_SECONDS = 30.0
SESSIONS = 6
PUT_INTERVAL_SECONDS = 0.2


def sh(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(argv, check=True, capture_output=True, text=True)


def psql(sql: str) -> None:
    sh("su", "postgres", "-c", f'psql -q -p {PORT} -c "{sql}"')


def missing_postgres() -> str | None:
    if os.geteuid() != 0:
        return "the DB outage scenario needs root, to run its own PostgreSQL cluster"
    if not (shutil.which("pg_ctlcluster") and os.path.exists("/usr/lib/postgresql/15/bin/postgres")):
        return "the DB outage scenario needs PostgreSQL 15's binaries: `sudo make postgres`"
    return None


def cluster_up() -> bool:
    return subprocess.run(["pg_isready", "-q", "-h", "127.0.0.1", "-p", str(PORT)]).returncode == 0


@pytest.fixture
def outage_cluster():
    """A fresh `memory_outage` database on the `15 outage` cluster, created if missing."""
    if reason := missing_postgres():
        if os.environ.get("RELIABILITY_POSTGRES") == "required":
            pytest.fail(reason)
        pytest.skip(reason)
    if not any(line.split()[:2] == list(CLUSTER) for line in sh("pg_lsclusters", "-h").stdout.splitlines()):
        sh("pg_createcluster", *CLUSTER, "--port", str(PORT))
    if not cluster_up():
        sh("pg_ctlcluster", *CLUSTER, "start")
    wait_until(cluster_up, timeout=30, what="the outage cluster")
    psql("DROP DATABASE IF EXISTS memory_outage WITH (FORCE)")
    psql("DROP ROLE IF EXISTS outage")
    psql("CREATE ROLE outage LOGIN PASSWORD 'outage'")
    psql("CREATE DATABASE memory_outage OWNER outage")
    manage("migrate", "--noinput")
    yield DB_URL
    if not cluster_up():  # a failure mid-outage must not leave it stopped for the next run
        sh("pg_ctlcluster", *CLUSTER, "start")


def manage(*argv: str, **env: str) -> str:
    done = subprocess.run(
        [PYTHON, "manage.py", *argv], cwd=BASE_DIR, env=child_env(DATABASE_URL=DB_URL, **env), text=True,
        capture_output=True, check=True,
    )  # fmt: skip
    return done.stdout


def on_outage_db(code: str):
    """Run `code` (which prints one JSON line) in Django on the outage DB; its value."""
    return json.loads(manage("shell", "-c", code).strip().splitlines()[-1])


SETUP = """import json
from policies.services import policy_defaults_ensure
from tests.helpers import operator_api_key
policy_defaults_ensure(llm_configured=True)
print(json.dumps(operator_api_key("db outage")))"""

TALLY = """import json
from tests.reliability.support import extraction_tally
print(json.dumps(extraction_tally({sent!r})))"""


class Writer(threading.Thread):
    """Round after round, one more turn for each session (its whole list PUT again)."""

    def __init__(self, deployment: Deployment):
        super().__init__(daemon=True)
        self.deployment = deployment
        self.sent: dict[str, list[str]] = {}
        self.answers: list[tuple[float, int]] = []  # when, status (0: no answer in 5 s)
        self.stopping = threading.Event()

    def run(self):
        count = 0
        while not self.stopping.is_set():
            count += 1
            for s in range(SESSIONS):
                messages = turns(s, 0, count)
                try:
                    status = requests.put(
                        f"{self.deployment.url}/v1/working-memory/db-{s}",
                        json={"messages": messages, "namespace": "db", "user_id": f"u{s}"},
                        headers=self.deployment.headers,
                        timeout=5,
                    ).status_code
                except requests.RequestException:
                    status = 0
                self.answers.append((time.monotonic(), status))
                if status == 200:
                    self.sent[f"db-{s}"] = [m["id"] for m in messages]
                time.sleep(PUT_INTERVAL_SECONDS)


def db_route(deployment: Deployment) -> tuple[int, str, dict, float]:
    """A record's history: read from the DB only (search is served by the Redis index)."""
    sent = time.monotonic()
    response = requests.get(
        f"{deployment.url}/v1/long-term-memory/no-such-memory/history", headers=deployment.headers, timeout=10
    )
    return response.status_code, response.headers["Content-Type"], response.json(), time.monotonic() - sent


def search_status(deployment: Deployment) -> int:
    return requests.post(
        f"{deployment.url}/v1/long-term-memory/search",
        json={"text": "item", "limit": 5},
        headers=deployment.headers,
        timeout=10,
    ).status_code


@pytest.mark.timeout(400)
def test_a_30_s_db_outage_keeps_working_memory_up_and_loses_no_turn(transactional_db, outage_cluster, llm_server):
    started = time.monotonic()
    api_key = on_outage_db(SETUP)
    llm_server.responder = one_memory_per_turn
    env = child_env(DATABASE_URL=outage_cluster, **llm_server.env(), PROMOTION_DEBOUNCE_SECONDS="1")
    deployment = Deployment(env, worker_threads=2)
    try:
        deployment.headers = {"Authorization": f"Bearer {api_key}"}  # the key of the outage DB
        API_KEYS[deployment.url] = api_key
        writer = Writer(deployment)
        writer.start()
        time.sleep(5)
        assert db_route(deployment)[0] == 404  # answered from the DB: no such record
        sh("pg_ctlcluster", *CLUSTER, "stop", "--mode", "fast")
        stopped_at = time.monotonic()
        while_down = []
        while time.monotonic() < stopped_at + OUTAGE_SECONDS:
            while_down.append(db_route(deployment))
            time.sleep(1)
        search = search_status(deployment)  # observed, not promised: the index is in Redis
        sh("pg_ctlcluster", *CLUSTER, "start")
        restarted_at = time.monotonic()
        recovered = wait_until(
            lambda: db_route(deployment)[0] == 404 and time.monotonic(), timeout=30, what="the DB routes back"
        )
        time.sleep(3)  # a few rounds after the outage too
        writer.stopping.set()
        writer.join()
        during = [status for at, status in writer.answers if stopped_at <= at < restarted_at]
        total = sum(len(ids) for ids in writer.sent.values())
        tally_code = TALLY.format(sent=writer.sent)
        settled = wait_until(
            lambda: (t := on_outage_db(tally_code))["lost"] == 0 and t["runs_running"] == 0 and time.monotonic(),
            timeout=180,
            interval=2,
            what="every turn promoted",
        )
        tally = on_outage_db(tally_code)
    finally:
        deployment.stop()
    report(
        "db-outage",
        outage_s=OUTAGE_SECONDS,
        sessions=SESSIONS,
        turns=total,
        puts_during_outage=len(during),
        puts_200_during_outage=during.count(200),
        db_route_503s=sum(1 for status, *_ in while_down if status == 503),
        search_status_during_outage=search,
        db_route_slowest_s=round(max(seconds for *_, seconds in while_down), 2),
        lost=tally["lost"],
        duplicated=tally["duplicated"],
        runs_running=tally["runs_running"],
        api_recovery_s=round(recovered - restarted_at, 2),
        promotion_settled_s=round(settled - restarted_at, 1),
        wall_s=round(time.monotonic() - started),
    )
    assert during and during == [200] * len(during)
    assert {status for _, status in writer.answers} == {200}
    assert [(status, kind.split(";")[0], body["down"]) for status, kind, body, _ in while_down] == [
        (503, "application/json", {"database": "database is not answering"})
    ] * len(while_down)
    assert max(seconds for *_, seconds in while_down) < 5
    assert tally == {"lost": 0, "duplicated": 0, "misnumbered_sessions": 0, "runs_running": 0}
