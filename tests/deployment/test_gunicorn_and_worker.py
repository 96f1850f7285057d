"""The deployment `make run` starts: gunicorn plus a separate Dramatiq worker."""

import time

import pytest
import requests

from tests.helpers import wait_until


@pytest.mark.multiprocess
def test_gunicorn_serves_health_and_the_worker_joins_the_broker(deployment, redis_client):
    response = requests.get(f"{deployment.url}/v1/health", timeout=5)
    assert response.status_code == 200
    assert abs(response.json()["now"] - time.time() * 1000) < 10_000

    # A live Dramatiq Redis-broker worker keeps a heartbeat in Redis.
    wait_until(
        lambda: redis_client.zcard("dramatiq:__heartbeats__"), timeout=60, interval=0.2, what="the worker's heartbeat"
    )
    assert redis_client.zcard("dramatiq:__heartbeats__") >= 1
    assert deployment.worker.poll() is None
