"""GET /metrics under gunicorn with PROMETHEUS_MULTIPROC_DIR (as `make run` starts it):
the request histograms add up every worker process, not only the one that answers."""

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.helpers import put_session

pytestmark = pytest.mark.multiprocess

PUT_COUNT = ("memory_http_request_duration_seconds_count", "PUT", "v1/working-memory/<str:session_id>", "2xx")
ROUND = 12  # concurrent PUTs per round
WORKERS = 2  # gunicorn's --workers in tests (bin/serve's default)


def put_count(deployment) -> float:
    text = requests.get(f"{deployment.url}/metrics", headers=deployment.headers, timeout=10).text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if (sample.name, sample.labels.get("method"), sample.labels.get("route"), sample.labels.get("status"))
        == PUT_COUNT
    )


def put_round(deployment, pool, first: int) -> None:
    turn = [{"id": "t0", "role": "user", "content": "hi"}]
    list(pool.map(lambda i: put_session(deployment.url, f"m-{i}", turn), range(first, first + ROUND)))


def test_request_counts_add_up_over_every_gunicorn_worker(deployment_with, tmp_path):
    """Which worker accepts a connection is the kernel's choice, and one still loading its
    model may take none of a short burst; so rounds go on until every worker has written
    its samples (each worker's file appears with its first answer), then the total is exact."""
    deployment = deployment_with(PROMETHEUS_MULTIPROC_DIR=str(tmp_path))
    sent, deadline = 0, time.monotonic() + 120
    with ThreadPoolExecutor(6) as pool:
        while len(list(tmp_path.glob("histogram_*.db"))) < WORKERS and time.monotonic() < deadline:
            put_round(deployment, pool, sent)
            sent += ROUND
    assert len(list(tmp_path.glob("histogram_*.db"))) == WORKERS  # each worker wrote its own samples
    assert put_count(deployment) == sent
