"""The deployment `make run` starts: gunicorn plus a separate Dramatiq worker."""

import time

import pytest
import requests


@pytest.mark.multiprocess
def test_gunicorn_serves_health_and_the_worker_joins_the_broker(deployment, redis_client):
    response = requests.get(f"{deployment.url}/v1/health", timeout=5)
    assert response.status_code == 200
    assert abs(response.json()["now"] - time.time() * 1000) < 10_000

    # A live Dramatiq Redis-broker worker keeps a heartbeat in Redis.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not redis_client.zcard("dramatiq:__heartbeats__"):
        time.sleep(0.2)
    assert redis_client.zcard("dramatiq:__heartbeats__") >= 1
    assert deployment.worker.poll() is None
