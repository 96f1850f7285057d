"""Plain helpers shared by the tests (fixtures live in conftest.py): polling, child
processes and the gunicorn + worker deployment, writing sessions, and reading the
Dramatiq queues in Redis."""

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests
from django.conf import settings

BASE_DIR = Path(settings.BASE_DIR)
PYTHON = sys.executable

# The Dramatiq Redis broker keeps each queued message's data in a hash until the
# message is acknowledged: one hash for the queue, one for its delay queue.
QUEUE_MESSAGES = "dramatiq:default.msgs"
DELAYED_MESSAGES = "dramatiq:default.DQ.msgs"
# The API key each live Deployment's requests carry, by its base URL (AUTH_MODE=required).
API_KEYS: dict[str, str] = {}


def operator_api_key(name: str = "tests") -> str:
    """A new key over every namespace with every permission: what the shared clients carry."""
    from memory.services.api_keys import api_key_create

    _, secret = api_key_create(
        name=name, tenant="tests", namespaces=["*"], permissions=["read", "write", "delete", "review"], actor="test"
    )
    return secret


def auth_headers(url: str) -> dict:
    return {"Authorization": f"Bearer {API_KEYS[url]}"} if url in API_KEYS else {}


def wait_until(predicate, timeout: float = 45.0, interval: float = 0.1, what: str = "condition"):
    """Poll `predicate` until it returns something truthy and return that; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def redis_ms(redis_client) -> int:
    """Now on the Redis clock, in ms, as the server's scripts read it (TIME)."""
    seconds, micros = redis_client.time()
    return int(seconds) * 1000 + int(micros) // 1000


def queued_messages(redis_client, actor_name: str | None = None, *, delayed: bool | None = None) -> list[dict]:
    """Messages sent and not yet acknowledged (queued, delayed, or being processed), decoded.

    `delayed=True` reads only the delay queue, `False` only the ready queue.
    """
    hashes = {None: (QUEUE_MESSAGES, DELAYED_MESSAGES), True: (DELAYED_MESSAGES,), False: (QUEUE_MESSAGES,)}[delayed]
    messages = [json.loads(raw) for key in hashes for raw in redis_client.hvals(key)]
    return [m for m in messages if actor_name is None or m["actor_name"] == actor_name]


def pending_access_counts(redis_client) -> dict[str, int]:
    """Search hits counted in Redis and not yet flushed to the DB, per record id."""
    from memory.redis_keys import ACCESS_COUNTS_KEY

    raw = redis_client.hgetall(ACCESS_COUNTS_KEY)
    return {(k.decode() if isinstance(k, bytes) else k): int(v) for k, v in raw.items()}


def wait_until_no_messages(redis_client, actor_name: str | None = None, timeout: float = 45.0) -> None:
    """Wait until every message (of `actor_name`) is acknowledged. Dramatiq enqueues a
    retry, a re-arm or a delayed message's move to the ready queue before it acknowledges
    the message that caused it, so once none is left, none will run again."""
    wait_until(
        lambda: not queued_messages(redis_client, actor_name),
        timeout=timeout,
        what=f"no outstanding {actor_name or 'Dramatiq'} messages",
    )


def redis_state() -> dict[bytes, tuple]:
    """Every key in the test Redis with its type and value, to show what a call changed.

    Values are read in a canonical order (a large hash's field order changes when Redis
    rehashes it, on reads too, so DUMP is not a stable picture of one)."""
    import redis

    client = redis.Redis.from_url(settings.REDIS_URL)
    readers = {
        b"string": client.get,
        b"hash": lambda k: sorted(client.hgetall(k).items()),
        b"list": lambda k: client.lrange(k, 0, -1),
        b"set": lambda k: sorted(client.smembers(k)),
        b"zset": lambda k: client.zrange(k, 0, -1, withscores=True),
    }
    try:
        state = {}
        for key in client.scan_iter(count=1000):
            kind = client.type(key)
            state[key] = (kind, readers.get(kind, client.dump)(key))
        return state
    finally:
        client.close()


def db_rows() -> dict[str, list[tuple]]:
    """Every row of the memory and policies apps, per model, to show what a call changed
    (API keys left out: their last_used_at moves with every authenticated use)."""
    from django.apps import apps

    from memory.models import ApiKey

    models = [*apps.get_app_config("memory").get_models(), *apps.get_app_config("policies").get_models()]
    models = [model for model in models if model is not ApiKey]
    return {
        model._meta.label: sorted(
            (tuple(bytes(v) if isinstance(v, memoryview) else v for v in row) for row in model.objects.values_list()),
            key=repr,
        )
        for model in models
    }


def put_session(client, session_id: str, messages: list[dict], query: str = "", **fields) -> dict:
    """PUT a working-memory session and return the response body (asserting a 200).

    `client` is a Django test client or APIClient, or the base URL of a live server.
    `fields` go into the body (namespace, user_id, memories, context, ...).
    """
    body = {"messages": messages, **fields}
    path = f"/v1/working-memory/{session_id}{query}"
    if isinstance(client, str):
        response = requests.put(client + path, json=body, headers=auth_headers(client), timeout=10)
        assert response.status_code == 200, response.text
        return response.json()
    response = client.generic("PUT", path, json.dumps(body), content_type="application/json")
    assert response.status_code == 200, response.content
    return response.json()


def with_client(url: str, work, *, api_key: str | None = None, **config):
    """Run `await work(client)` on a fresh agent-memory-client for the server at `url`,
    carrying `api_key` (by default the Deployment's key for that URL)."""
    from agent_memory_client import MemoryAPIClient, MemoryClientConfig

    api_key = api_key or API_KEYS.get(url)

    async def main():
        async with MemoryAPIClient(MemoryClientConfig(base_url=url, **config)) as client:
            if api_key:  # the client has no auth option; its httpx client takes headers
                client._client.headers["Authorization"] = f"Bearer {api_key}"
            return await work(client)

    return asyncio.run(main())


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
    def answers():
        try:
            return requests.get(url, timeout=1).status_code < 500
        except requests.RequestException:
            return False

    wait_until(answers, timeout=timeout, interval=0.2, what=f"{url} to come up")


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
        self.api_key = API_KEYS[self.url] = operator_api_key(f"deployment {self.port}")
        self.headers = {"Authorization": f"Bearer {self.api_key}"}
        self.env = env
        self.worker_threads = worker_threads
        self.web = subprocess.Popen(
            [
                str(BASE_DIR / ".venv/bin/gunicorn"),
                "memoryproject.wsgi:application",
                "--config",
                "memoryproject/gunicorn_conf.py",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                str(web_workers),
                "--log-level",
                "warning",
            ],
            cwd=BASE_DIR,
            env=env,
        )
        self.worker = self.start_worker()
        wait_for_http(f"{self.url}/v1/health")

    def start_worker(self) -> subprocess.Popen:
        return subprocess.Popen(
            [PYTHON, "manage.py", "rundramatiq", "--processes", "1", "--threads", str(self.worker_threads)],
            cwd=BASE_DIR,
            env=self.env,
            start_new_session=True,
        )

    def kill_worker(self, sig=signal.SIGKILL) -> None:
        """Signal the whole worker process group (rundramatiq forks the real workers)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.worker.pid, sig)
        self.worker.wait(timeout=30)

    def stop(self) -> None:
        stop_process(self.web)
        if self.worker.poll() is None:
            self.kill_worker(signal.SIGTERM)


def db_rows_containing(needle: str) -> dict[str, int]:
    """How many rows of each model of every installed app hold `needle` (case-insensitive)
    in any field, the primary key included; models with none are left out.

    Each row is serialised with Django's serializer (every field, JSON nested as JSON,
    binary as base64), so no text-like field can be missed by listing fields by hand."""
    from django.apps import apps
    from django.core import serializers

    needle = needle.casefold()
    found = {}
    for model in apps.get_models(include_auto_created=True):
        rows = serializers.serialize("python", model._default_manager.all())
        hits = sum(needle in json.dumps(row, default=str, ensure_ascii=False).casefold() for row in rows)
        if hits:
            found[model._meta.label] = hits
    return found


def redis_keys_containing(needle: str) -> set[bytes]:
    """Every key of the test Redis whose name or value holds `needle` (case-insensitive):
    strings, hash fields and values, list, set and sorted-set members, JSON documents and
    stream entries. A key of any other type fails the scan, so nothing goes unread."""
    import redis

    client = redis.Redis.from_url(settings.REDIS_URL)
    readers = {
        b"string": lambda k: [client.get(k)],
        b"hash": lambda k: [part for item in client.hgetall(k).items() for part in item],
        b"list": lambda k: client.lrange(k, 0, -1),
        b"set": lambda k: list(client.smembers(k)),
        b"zset": lambda k: client.zrange(k, 0, -1),
        b"ReJSON-RL": lambda k: [client.execute_command("JSON.GET", k)],
        b"stream": lambda k: [repr(entry).encode() for entry in client.xrange(k)],
        b"none": lambda k: [],  # expired or deleted since the SCAN named it
    }
    needle_bytes = needle.casefold().encode()
    try:
        found = set()
        for key in client.scan_iter(count=1000):
            kind = client.type(key)
            assert kind in readers, f"Redis key {key!r} has type {kind!r}, which the scan cannot read"
            if any(needle_bytes in (part or b"").lower() for part in [key, *readers[kind](key)]):
                found.add(key)
        return found
    finally:
        client.close()


@contextlib.contextmanager
def server_redis_at(url: str, *, text_client: bool = True):
    """This process's server clients point at `url` (the Dramatiq broker keeps its own):
    all of them, or, without `text_client`, only the index's bytes client, so working
    memory and the cache still answer on the live Redis."""
    from django.test import override_settings

    from memory import index
    from memory.redis_client import get_redis, get_redis_bytes

    get_redis()  # made now, on the live Redis, and kept unless replaced

    def reset():
        if text_client:
            get_redis.cache_clear()
        get_redis_bytes.cache_clear()
        index.get_index.cache_clear()

    reset()
    try:
        with override_settings(REDIS_URL=url):
            yield
    finally:
        reset()


def dead_redis() -> str:
    return f"redis://127.0.0.1:{free_port()}/0"


OPEN_BIND_REFUSED = "AUTH_MODE=disabled is refused: {server} is bound to {address}, not only to loopback"


def refused_start(command: list[str]) -> subprocess.CompletedProcess:
    """Start a server with AUTH_MODE=disabled; it must refuse (exit 1) rather than serve."""
    done = subprocess.run(
        command, cwd=BASE_DIR, env=child_env(AUTH_MODE="disabled"), capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 1, done.stderr
    return done


def nothing_listens(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0
