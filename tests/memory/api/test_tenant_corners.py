"""The tenant boundary's corners in long-term memory (issue 20): an undo never acts on
another tenant's record, a deleted record's id stays its owner's, another tenant's id
is answered like any id the caller cannot use, and the query-embedding cache is kept
per tenant, so a search's speed tells nothing about other tenants' searches."""

import pytest
from rest_framework.test import APIClient

from memory import embeddings
from memory.models import MemoryHistory, MemoryRecord
from memory.services.api_keys import api_key_create

pytestmark = pytest.mark.django_db(transaction=True)

A, B = "ns-a", "ns-b"
REFUSED = "id 'x' cannot be used; send another id, or none for a new one"


def key_client(tenant: str, namespace: str) -> APIClient:
    _, secret = api_key_create(
        name=tenant, tenant=tenant, namespaces=[namespace], permissions=["read", "write", "delete"], actor="test"
    )
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


@pytest.fixture
def alpha() -> APIClient:
    return key_client("alpha", A)


@pytest.fixture
def beta() -> APIClient:
    return key_client("beta", B)


def create(client: APIClient, **memory):
    return client.post("/v1/long-term-memory/", {"memories": [memory]}, format="json")


def refusal(response) -> list[dict]:
    assert response.status_code == 422, response.content
    return response.json()["detail"]


def test_a_deleted_records_id_is_refused_to_another_tenant_with_the_message_for_a_live_one(alpha, beta):
    assert create(alpha, id="x", text="Alice likes green tea").json()["memories"][0]["outcome"] == "created"
    live = refusal(create(beta, id="x", text="Bob collects stamps"))
    assert alpha.delete("/v1/long-term-memory?memory_ids=x").json() == {
        "status": "ok, deleted 1 memories",
        "deleted": 1,
    }

    deleted = refusal(create(beta, id="x", text="Bob collects stamps"))

    # One answer whichever it is, and it names neither namespace nor owner.
    assert live == deleted == [{"loc": ["body", "memories", 0, "id"], "msg": REFUSED, "type": "conflict"}]
    assert not MemoryRecord.objects.filter(pk="x").exists()
    assert MemoryHistory.objects.filter(memory_id="x", namespace=B).count() == 0
    # The owner takes its own id back.
    assert create(alpha, id="x", text="Alice likes oolong").json()["memories"][0]["outcome"] == "created"
    assert MemoryRecord.objects.get(pk="x").namespace == A


def _merged_into_x(alpha: APIClient) -> int:
    """Alpha's record x, with y (the same text) merged into it: the MERGED entry's id."""
    create(alpha, id="x", text="Alice likes green tea", user_id="u")
    (outcome,) = create(alpha, id="y", text="alice likes GREEN tea", entities=["Alice"], user_id="u").json()["memories"]
    assert (outcome["id"], outcome["outcome"]) == ("x", "merged_hash")
    return outcome["history_id"]


def test_undoing_a_merge_leaves_another_tenants_record_with_that_id_as_it_was(alpha, beta):
    merge = _merged_into_x(alpha)
    assert alpha.delete("/v1/long-term-memory?memory_ids=x").json() == {
        "status": "ok, deleted 1 memories",
        "deleted": 1,
    }
    # The route no longer gives the id away (previous test); a row written before it did stands in.
    MemoryRecord.objects.create(
        id="x", text="Bob collects stamps", namespace=B, user_id="u", entities=["Alice"], memory_hash="-"
    )
    beta_before = MemoryRecord.objects.filter(pk="x").values().get()
    beta_history = MemoryHistory.objects.filter(memory_id="x", namespace=B).count()

    response = alpha.post(f"/v1/long-term-memory/history/{merge}/undo")

    assert response.status_code == 200, response.content
    restored = response.json()["memory"]
    assert (restored["id"], restored["namespace"], restored["text"]) == ("y", A, "alice likes GREEN tea")
    assert MemoryRecord.objects.filter(pk="x").values().get() == beta_before  # "Alice" not taken back
    assert MemoryHistory.objects.filter(memory_id="x", namespace=B).count() == beta_history == 0


def test_undoing_a_merge_leaves_the_record_alone_once_it_moved_to_another_user(alpha):
    merge = _merged_into_x(alpha)
    moved = alpha.patch("/v1/long-term-memory/x", {"user_id": "v"}, format="json")
    assert moved.status_code == 200, moved.content
    before = MemoryRecord.objects.filter(pk="x").values().get()

    response = alpha.post(f"/v1/long-term-memory/history/{merge}/undo")

    assert response.status_code == 200, response.content
    assert response.json()["memory"]["id"] == "y"
    assert MemoryRecord.objects.filter(pk="x").values().get() == before
    assert before["entities"] == ["Alice"]


def test_another_tenants_id_is_deleted_as_an_unknown_one_is_and_stays(alpha, beta):
    create(alpha, id="a-1", text="Alice likes green tea")
    create(beta, id="b-1", text="Bob likes black tea")

    unknown = beta.delete("/v1/long-term-memory?memory_ids=nobody-has-this")
    foreign = beta.delete("/v1/long-term-memory?memory_ids=a-1")
    mixed = beta.delete("/v1/long-term-memory?memory_ids=a-1,b-1")

    assert (unknown.status_code, foreign.status_code, mixed.status_code) == (200, 200, 200)
    assert unknown.json() == foreign.json() == {"status": "ok, deleted 0 memories", "deleted": 0}
    assert mixed.json() == {"status": "ok, deleted 1 memories", "deleted": 1}
    assert list(MemoryRecord.objects.values_list("id", flat=True)) == ["a-1"]
    assert MemoryHistory.objects.filter(memory_id="a-1").values_list("action", flat=True).get() == "created"


def _search(client: APIClient, text: str) -> int:
    """Forward passes of the model the search made (0: its query vector came from the cache)."""
    before = embeddings.forward_passes
    response = client.post("/v1/long-term-memory/search", {"text": text}, format="json")
    assert response.status_code == 200, response.content
    return embeddings.forward_passes - before


def test_the_query_embedding_cache_is_per_tenant(alpha, beta, redis_client):
    text = "where does alice sit on long flights"
    assert _search(alpha, text) == 1
    # Beta's first search of the same text is a miss like any new text: it cannot tell alpha searched it.
    assert _search(beta, text) == 1
    # Within a tenant, the cache works.
    assert (_search(alpha, text), _search(beta, text)) == (0, 0)
    (key,) = redis_client.keys("embcache:*")
    assert sorted(redis_client.hkeys(key)) == ["alpha", "beta"]
