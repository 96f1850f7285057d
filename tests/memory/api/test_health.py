"""GET /v1/health (no auth) and the OpenAPI schema."""

import json
import time

import pytest
from django.test import override_settings

from memory.redis_client import get_redis
from tests.helpers import free_port


def _with_redis_url(url):
    get_redis.cache_clear()
    return override_settings(REDIS_URL=url)


@pytest.mark.django_db
def test_health_reports_server_time_in_epoch_ms_when_everything_answers(api):
    before = int(time.time() * 1000)
    response = api.get("/v1/health")
    after = int(time.time() * 1000)
    assert response.status_code == 200
    assert set(response.json()) == {"now", "index_drift"}
    assert before <= response.json()["now"] <= after
    assert response.json()["index_drift"] == 0


@pytest.mark.django_db
def test_health_is_503_naming_redis_when_redis_is_down(api):
    with _with_redis_url(f"redis://127.0.0.1:{free_port()}/0"):
        response = api.get("/v1/health")
    get_redis.cache_clear()
    assert response.status_code == 503
    body = response.json()
    assert body == {"detail": "unavailable", "down": {"redis": "redis is not answering"}}  # no host, no port


@pytest.mark.django_db
def test_health_is_503_naming_the_search_module_when_it_is_missing(api, plain_redis):
    with _with_redis_url(plain_redis):
        response = api.get("/v1/health")
    get_redis.cache_clear()
    assert response.status_code == 503
    assert response.json() == {"detail": "unavailable", "down": {"search": "redis lacks the search or JSON module"}}


def test_openapi_schema_is_served(api):
    response = api.get("/openapi.json")
    assert response.status_code == 200
    assert "/v1/health" in json.loads(response.content)["paths"]


@pytest.mark.django_db
def test_a_healthy_answer_is_reused_for_a_second_then_probed_again(api, redis_client, monkeypatch):
    from memory.services import health

    def probes():  # MODULE LIST is the health check's own Redis command
        return redis_client.info("commandstats").get("cmdstat_module|list", {}).get("calls", 0)

    assert api.get("/v1/health").status_code == 200
    before = probes()
    assert api.get("/v1/health").json()["index_drift"] == 0
    assert probes() == before  # reused: no probe within HEALTH_CHECK_MAX_AGE_SECONDS
    assert health.HEALTH_CHECK_MAX_AGE_SECONDS == 1.0
    monkeypatch.setattr(health, "HEALTH_CHECK_MAX_AGE_SECONDS", 0.0)  # as if a second had passed
    assert api.get("/v1/health").status_code == 200
    assert probes() == before + 1


@pytest.mark.django_db
def test_health_answers_json_without_drf_and_other_methods_still_get_drfs_answers(api):
    response = api.get("/v1/health")
    assert response["Content-Type"] == "application/json"
    assert response.content.startswith(b'{"now":')
    assert api.post("/v1/health").status_code == 405
