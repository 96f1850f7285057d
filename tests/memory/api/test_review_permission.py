"""Changing a memory's review status takes the `review` permission (issue 20): an
agent's key (read, write, delete) cannot approve or reject by PATCHing `status`, by
re-posting a pending text, or by compacting it into an approved copy; a reviewer's key
can. Keys get `review` only when it is asked for."""

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

from memory.models import ApiKey, MemoryHistory, MemoryRecord
from memory.services.api_keys import api_key_create
from tests.factories import MemoryRecordFactory

pytestmark = pytest.mark.django_db(transaction=True)

NS = "desk"
TEXT = "Alice plays chess on Sundays"
AGENT_PERMISSIONS = ["read", "write", "delete"]


def key_client(permissions: list[str]) -> APIClient:
    _, secret = api_key_create(name="k", tenant="acme", namespaces=[NS], permissions=permissions, actor="test")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


@pytest.fixture
def agent() -> APIClient:
    return key_client(AGENT_PERMISSIONS)


@pytest.fixture
def reviewer() -> APIClient:
    return key_client([*AGENT_PERMISSIONS, "review"])


@pytest.fixture
def pending() -> MemoryRecord:
    return MemoryRecordFactory(id="p", text=TEXT, namespace=NS, status="pending", deduplicate=True, actor="t")


def searched_ids(client: APIClient) -> list[str]:
    body = {"text": "chess", "search_mode": "keyword"}
    return [m["id"] for m in client.post("/v1/long-term-memory/search", body, format="json").json()["memories"]]


@pytest.mark.parametrize(
    "changes", [{"status": "approved"}, {"status": "rejected"}, {"status": "approved", "text": "Alice plays go"}]
)
def test_an_agents_key_cannot_patch_status_and_nothing_is_written(agent, pending, changes):
    response = agent.patch("/v1/long-term-memory/p", changes, format="json")

    assert response.status_code == 403
    assert response.json() == {
        "detail": "Field 'status': approving or rejecting a memory needs the review permission "
        "(this credential's permissions: read, write, delete)."
    }
    record = MemoryRecord.objects.get(pk="p")
    assert (record.status, record.text, record.updated_at) == ("pending", TEXT, pending.updated_at)
    assert list(MemoryHistory.objects.filter(memory_id="p").values_list("action", flat=True)) == ["created"]


def test_an_agents_key_still_edits_other_fields(agent, pending):
    response = agent.patch("/v1/long-term-memory/p", {"topics": ["games"]}, format="json")
    assert response.status_code == 200, response.content
    assert (response.json()["topics"], response.json()["status"]) == (["games"], "pending")


def test_a_reviewers_key_approves_by_patching_status(reviewer, pending):
    response = reviewer.patch("/v1/long-term-memory/p", {"status": "approved"}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "approved"
    assert searched_ids(reviewer) == ["p"]


def test_re_posting_a_pending_text_merges_but_does_not_approve_it(agent, reviewer, pending):
    body = {"memories": [{"text": TEXT.lower(), "namespace": NS, "entities": ["Alice"]}]}

    (outcome,) = agent.post("/v1/long-term-memory/", body, format="json").json()["memories"]

    assert (outcome["id"], outcome["outcome"]) == ("p", "merged_hash")
    record = MemoryRecord.objects.get(pk="p")
    assert (record.status, record.entities) == ("pending", ["Alice"])
    assert searched_ids(agent) == []  # default search: approved records only
    assert MemoryHistory.objects.get(pk=outcome["history_id"]).detail["set"] == {}
    # The same post by a reviewer approves it, as before.
    (outcome,) = reviewer.post("/v1/long-term-memory/", body, format="json").json()["memories"]
    assert (outcome["outcome"], MemoryRecord.objects.get(pk="p").status) == ("merged_hash", "approved")


def test_compacting_an_approved_copy_into_a_pending_record_does_not_approve_it(agent, pending):
    copy = {"memories": [{"id": "copy", "text": TEXT, "namespace": NS}], "deduplicate": False}
    assert agent.post("/v1/long-term-memory/", copy, format="json").json()["memories"][0]["outcome"] == "created"

    response = agent.post(f"/v1/long-term-memory/compact?namespace={NS}")

    assert response.status_code == 200, response.content
    assert (response.json()["merged"], response.json()["remaining"]) == (1, 1)
    assert list(MemoryRecord.objects.values_list("id", "status")) == [("p", "pending")]


def test_keys_hold_review_only_when_asked_for(capsys):
    call_command("apikey", "create", "--name", "bot", "--tenant", "acme", "--namespace", "ns")
    call_command(
        "apikey", "create", "--name", "desk", "--tenant", "acme", "--namespace", "ns", "--permissions", "read,review"
    )
    agent, desk = ApiKey.objects.order_by("name")
    assert (agent.name, agent.permissions) == ("bot", ("read", "write", "delete"))
    assert (desk.name, desk.permissions) == ("desk", ("read", "review"))
    assert api_key_create(name="d", tenant="acme", namespaces=["ns"], actor="t")[0].permissions == ("read", "write")
