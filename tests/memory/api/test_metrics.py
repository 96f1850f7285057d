"""GET /metrics: Prometheus text for an operator, refused to everyone else."""

import pytest
from prometheus_client.parser import text_string_to_metric_families

from memory.models import MemoryRecord
from memory.services.api_keys import api_key_create
from policies.models import ExtractionRun
from policies.services import policy_defaults_ensure
from tests.helpers import put_session

pytestmark = pytest.mark.django_db(transaction=True)  # documents are indexed on commit


def samples(response) -> dict[tuple, float]:
    """(sample name, sorted labels) -> value, from the Prometheus text."""
    text = response.content.decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def scoped_key(**fields) -> str:
    _, secret = api_key_create(name="scoped", tenant="acme", actor="test", **fields)
    return secret


def test_an_operator_key_reads_runs_by_status_drift_queues_and_usage_per_policy_version(api, redis_client):
    version = policy_defaults_ensure(llm_configured=False)
    for status, tokens in [("succeeded", 10), ("succeeded", 5), ("failed", 0), ("running", 0)]:
        ExtractionRun.objects.create(
            session_id="s", strategy="messages", status=status, policy_version=version, tokens_in=tokens, tokens_out=1
        )
    api.post("/v1/long-term-memory/", {"memories": [{"text": "Alice keeps bees.", "namespace": "n"}]}, format="json")
    [record_id] = MemoryRecord.objects.values_list("id", flat=True)
    redis_client.delete(f"memory_record:{record_id}")  # the index loses the record's document

    response = api.get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    figures = samples(response)
    policy = version.policy.name
    assert figures[("memory_extraction_runs", (("status", "succeeded"),))] == 2
    assert figures[("memory_extraction_runs", (("status", "failed"),))] == 1
    assert figures[("memory_extraction_runs", (("status", "running"),))] == 1
    assert figures[("memory_index_drift_records", ())] == 1
    tokens_in = (("direction", "in"), ("policy", policy), ("version", str(version.number)))
    assert figures[("memory_extraction_tokens_total", tokens_in)] == 15
    assert figures[("memory_queue_messages", (("queue", "default"),))] == 0


def test_request_latency_is_a_histogram_per_route_pattern_and_the_request_id_is_echoed(api):
    messages = [{"id": "m0", "role": "user", "content": "hello"}]
    before = samples(api.get("/metrics"))
    for session_id in ("a", "b"):
        put_session(api, session_id, messages)
    response = api.get("/v1/health", HTTP_X_REQUEST_ID="req-42")
    assert response["X-Request-ID"] == "req-42"
    after = samples(api.get("/metrics"))
    count = (
        "memory_http_request_duration_seconds_count",
        (("method", "PUT"), ("route", "v1/working-memory/<str:session_id>"), ("status", "2xx")),
    )
    assert after[count] - before.get(count, 0) == 2


def test_cache_hits_and_misses_of_query_embeddings_are_counted(api):
    before = samples(api.get("/metrics"))
    for _ in range(3):
        api.post("/v1/long-term-memory/search", {"text": "a question no one asked before"}, format="json")
    after = samples(api.get("/metrics"))
    name = "memory_embedding_cache_requests_total"
    hits = after[(name, (("result", "hit"),))] - before.get((name, (("result", "hit"),)), 0)
    misses = after[(name, (("result", "miss"),))] - before.get((name, (("result", "miss"),)), 0)
    assert (hits, misses) == (2, 1)


@pytest.mark.parametrize(
    "credential, status",
    [
        (None, 401),
        ("namespaces", 403),
        ("users", 403),
    ],
    ids=["no-credential", "a-key-of-some-namespaces", "a-key-of-some-users"],
)
def test_metrics_are_refused_to_anyone_but_an_operator(client, credential, status):
    from django.test import Client

    keys = {
        "namespaces": lambda: scoped_key(namespaces=["acme"], permissions=["read"]),
        "users": lambda: scoped_key(namespaces=["*"], user_ids=["u1"], permissions=["read"]),
    }
    headers = {"Authorization": f"Bearer {keys[credential]()}"} if credential else {}
    response = Client(headers=headers).get("/metrics")
    assert response.status_code == status
    assert "detail" in response.json()
    assert b"memory_" not in response.content


def test_a_staff_session_reads_the_metrics(django_user_model):
    from django.test import Client

    staff = django_user_model.objects.create_user("ops", password="pw-ops-123", is_staff=True)
    browser = Client()
    browser.force_login(staff)
    assert browser.get("/metrics").status_code == 200
