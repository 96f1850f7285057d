"""The index loses its documents while the DB survives (a flush of only the index's
keys): search silently finds nothing, so /metrics and (within its cache's five seconds)
the health check report the drift, and the periodic sweep writes the documents again."""

import time

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from memory.models import MemoryRecord
from memory.redis_keys import index_document_prefix
from memory.services.health import HEALTH_DRIFT_MAX_AGE_SECONDS
from tests.helpers import wait_until
from tests.reliability.support import report
from workers.queue import enqueue_index_sweep

pytestmark = [pytest.mark.reliability, pytest.mark.multiprocess]

RECORDS = 30


def search_total(deployment) -> int:
    response = requests.post(
        f"{deployment.url}/v1/long-term-memory/search",
        json={"text": "", "namespace": {"eq": "idx"}, "limit": 100},
        headers=deployment.headers,
        timeout=10,
    )
    return response.json()["total"]


def drift(deployment) -> tuple[int, float]:
    """The drift as the health check and as /metrics report it."""
    health = requests.get(f"{deployment.url}/v1/health", timeout=10).json()["index_drift"]
    metrics = requests.get(f"{deployment.url}/metrics", headers=deployment.headers, timeout=10).text
    [gauge] = [
        sample.value
        for family in text_string_to_metric_families(metrics)
        for sample in family.samples
        if sample.name == "memory_index_drift_records"
    ]
    return health, gauge


@pytest.mark.timeout(300)
def test_a_flushed_index_shows_as_drift_and_the_sweep_writes_it_again(start_deployment, redis_client):
    deployment = start_deployment(MEMORY_INDEX_SWEEP_SECONDS="2")
    created = requests.post(
        f"{deployment.url}/v1/long-term-memory/",
        json={"memories": [{"text": f"Index fact number {i}.", "namespace": "idx"} for i in range(RECORDS)]},
        headers=deployment.headers,
        timeout=60,
    )
    assert created.status_code == 200, created.text
    assert search_total(deployment) == RECORDS
    assert drift(deployment) == (0, 0)

    documents = list(redis_client.scan_iter(match=f"{index_document_prefix()}*", count=1000))
    assert len(documents) == RECORDS
    redis_client.delete(*documents)  # only the documents: the index definition stays
    assert search_total(deployment) == 0  # what nothing used to notice
    assert drift(deployment)[1] == RECORDS  # /metrics counts afresh
    # The health check's figure comes from a cache shared by the API processes, at most
    # HEALTH_DRIFT_MAX_AGE_SECONDS old.
    wait_until(
        lambda: drift(deployment) == (RECORDS, RECORDS),
        timeout=HEALTH_DRIFT_MAX_AGE_SECONDS + 10,
        interval=0.5,
        what="the health check to report the drift",
    )
    assert MemoryRecord.objects.count() == RECORDS

    lost_at = time.monotonic()
    enqueue_index_sweep()  # as seed_defaults starts the chain on a deploy
    wait_until(lambda: drift(deployment) == (0, 0), timeout=60, interval=0.5, what="the sweep to repair the index")
    repaired_s = time.monotonic() - lost_at
    assert search_total(deployment) == RECORDS
    report("index-lost", records=RECORDS, drift_reported=RECORDS, missing_after_sweep=0, repair_s=round(repaired_s, 1))
