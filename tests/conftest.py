"""Shared fixtures. Tests run against the real embedded Redis that `make test` starts,
the real embedding model and real Dramatiq; only the LLM provider is a stand-in."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis
import requests
from django.conf import settings

BASE_DIR = Path(settings.BASE_DIR)
PYTHON = sys.executable


def _assert_disposable_redis() -> redis.Redis:
    """Tests flush Redis: refuse to run against one `localredis` did not start here."""
    client = redis.Redis.from_url(settings.REDIS_URL, decode_responses=True)
    try:
        data_dir = client.config_get("dir")["dir"]
    except redis.RedisError as exc:
        pytest.exit(f"Redis at {settings.REDIS_URL} does not answer ({exc}); run the tests with `make test`.", 2)
    if not Path(data_dir).resolve().is_relative_to((BASE_DIR / "var").resolve()):
        pytest.exit(f"Redis at {settings.REDIS_URL} is not the project's test Redis; run `make test`.", 2)
    return client


@pytest.fixture(scope="session")
def redis_client() -> redis.Redis:
    return _assert_disposable_redis()


@pytest.fixture(autouse=True)
def clean_redis(redis_client):
    """Each test starts from an empty Redis (index, queues, caches, sessions)."""
    redis_client.flushdb()
    from memory import index

    index.get_index.cache_clear()
    yield


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def subprocess_database_url() -> str:
    """DATABASE_URL for child processes, pointing at the test database pytest-django made."""
    from django.db import connection

    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    return f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def child_env(**extra: str) -> dict:
    env = dict(os.environ, DATABASE_URL=subprocess_database_url(), REDIS_URL=settings.REDIS_URL)
    env.update(extra)
    return env


def wait_for_http(url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(url, timeout=1).status_code < 500:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} did not come up within {timeout}s")


def stop_process(proc: subprocess.Popen, sig=signal.SIGTERM, timeout: float = 20.0) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class Deployment:
    """gunicorn + a separate `manage.py rundramatiq`, as `make run` starts them."""

    def __init__(self, env: dict, web_workers: int = 2, worker_threads: int = 2):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = env
        self.worker_threads = worker_threads
        self.web = subprocess.Popen(
            [str(BASE_DIR / ".venv/bin/gunicorn"), "memoryproject.wsgi:application",
             "--bind", f"127.0.0.1:{self.port}", "--workers", str(web_workers), "--log-level", "warning"],
            cwd=BASE_DIR, env=env,
        )
        self.worker = self.start_worker()
        wait_for_http(f"{self.url}/v1/health")

    def start_worker(self) -> subprocess.Popen:
        return subprocess.Popen(
            [PYTHON, "manage.py", "rundramatiq", "--processes", "1", "--threads", str(self.worker_threads)],
            cwd=BASE_DIR, env=self.env, start_new_session=True,
        )

    def kill_worker(self, sig=signal.SIGKILL) -> None:
        """Signal the whole worker process group (rundramatiq forks the real workers)."""
        try:
            os.killpg(self.worker.pid, sig)
        except ProcessLookupError:
            pass
        self.worker.wait(timeout=30)

    def stop(self) -> None:
        stop_process(self.web)
        if self.worker.poll() is None:
            self.kill_worker(signal.SIGTERM)


@pytest.fixture
def deployment(transactional_db):
    """A real multi-process deployment on the test DB and test Redis."""
    deployment = Deployment(child_env())
    yield deployment
    deployment.stop()


@pytest.fixture(scope="session")
def _llm_server_process_wide():
    from tests.llm_server import ScriptedLLMServer

    server = ScriptedLLMServer()
    yield server
    server.close()


@pytest.fixture
def llm_server(_llm_server_process_wide):
    """The scripted OpenAI-compatible server, with an empty script for each test."""
    _llm_server_process_wide.reset()
    yield _llm_server_process_wide
    _llm_server_process_wide.reset()


@pytest.fixture
def llm_settings(settings, llm_server):
    """Point this process's settings at the scripted server (2 s call timeout)."""
    for key, value in llm_server.env().items():
        setattr(settings, key, value)
    settings.LLM_TIMEOUT_SECONDS = 2.0
    return settings


@pytest.fixture
def dramatiq_worker(transactional_db):
    """A real Dramatiq worker on the test broker (test Redis), in threads of this process."""
    import dramatiq

    worker = dramatiq.Worker(dramatiq.get_broker(), worker_threads=2, worker_timeout=100)
    worker.start()
    yield worker
    worker.stop(timeout=30_000)


def wait_until(predicate, timeout: float = 30.0, interval: float = 0.1):
    """Poll `predicate` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s")


@pytest.fixture
def publish_policy(transactional_db):
    """Publish a new version of the default extraction policy: `publish_policy("messages")`."""

    def publish(strategy: str, **fields):
        from policies.models import Policy
        from policies.services import policy_version_create, policy_version_publish

        policy, _ = Policy.objects.get_or_create(name="default")
        version = policy_version_create(policy=policy, strategy=strategy, **fields)
        policy_version_publish(version=version)
        return version

    return publish


@pytest.fixture
def deployment_with(transactional_db):
    """Start a deployment with extra environment for its processes: `deployment_with(KEY="v")`."""
    started = []

    def start(**env: str) -> Deployment:
        started.append(Deployment(child_env(**env)))
        return started[-1]

    yield start
    for deployment in started:
        deployment.stop()
