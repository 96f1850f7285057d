"""GET /metrics under gunicorn with PROMETHEUS_MULTIPROC_DIR (as `make run` starts it):
the request histograms add up every worker process, not only the one that answers."""

from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.helpers import put_session

pytestmark = pytest.mark.multiprocess

PUT_COUNT = ("memory_http_request_duration_seconds_count", "PUT", "v1/working-memory/<str:session_id>", "2xx")


def put_count(deployment) -> float:
    text = requests.get(f"{deployment.url}/metrics", headers=deployment.headers, timeout=10).text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if (sample.name, sample.labels.get("method"), sample.labels.get("route"), sample.labels.get("status"))
        == PUT_COUNT
    )


def test_request_counts_add_up_over_every_gunicorn_worker(deployment_with, tmp_path):
    deployment = deployment_with(PROMETHEUS_MULTIPROC_DIR=str(tmp_path))
    with ThreadPoolExecutor(6) as pool:  # side by side, so both of gunicorn's workers answer
        list(
            pool.map(
                lambda i: put_session(deployment.url, f"m-{i}", [{"id": "t0", "role": "user", "content": "hi"}]),
                range(30),
            )
        )
    assert len(list(tmp_path.glob("histogram_*.db"))) == 2  # each worker wrote its own samples
    assert put_count(deployment) == 30
