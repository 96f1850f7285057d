"""Forget as on the reference (issue 22): a dry run unless `dry_run` is false, and a key
bound to one namespace acts there without naming it; an operator key (or one with
several namespaces) must still name one."""

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from agent_memory_client import MemoryAPIClient, MemoryClientConfig
from agent_memory_client.models import ForgetPolicy
from rest_framework.test import APIClient

from memory.models import MemoryHistory, MemoryRecord
from memory.services.api_keys import api_key_create
from tests.factories import memory_records_create
from tests.helpers import auth_headers

pytestmark = pytest.mark.django_db(transaction=True)

OLD = datetime.now(UTC) - timedelta(days=90)
POLICY = {"policy": {"max_age_days": 30}}


@pytest.fixture
def old_records():
    """Two old records in namespace f, one fresh in f, one old in g."""
    memory_records_create(
        {"id": "f-old-1", "text": "Alice liked tea", "namespace": "f", "created_at": OLD},
        {"id": "f-old-2", "text": "Alice liked coffee", "namespace": "f", "created_at": OLD},
        {"id": "f-new", "text": "Alice likes juice", "namespace": "f"},
        {"id": "g-old", "text": "Bob liked tea", "namespace": "g", "created_at": OLD},
    )


def _stored() -> tuple[list[str], int]:
    return sorted(MemoryRecord.objects.values_list("id", flat=True)), MemoryHistory.objects.count()


def _key(*namespaces: str) -> APIClient:
    _, secret = api_key_create(
        name="k", tenant="t", namespaces=list(namespaces), permissions=["read", "write", "delete"], actor="test"
    )
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


def _forget(client, query: str = "", body: dict = POLICY):
    response = client.post(f"/v1/long-term-memory/forget{query}", body, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def test_a_forget_without_dry_run_deletes_nothing_and_says_what_it_would_delete(api, old_records):
    before = _stored()

    answer = _forget(api, "?namespace=f")

    assert (answer["dry_run"], answer["deleted_ids"], answer["deleted"]) == (True, ["f-old-1", "f-old-2"], 2)
    assert _stored() == before


@pytest.mark.parametrize(
    ("query", "body", "deletes"),
    [
        ("&dry_run=false", {}, True),  # the reference's query parameter
        ("", {"dry_run": False}, True),  # ours, in the body
        ("&dry_run=true", {"dry_run": False}, False),  # either saying true is a dry run
        ("&dry_run=false", {"dry_run": True}, False),
        ("", {"dry_run": None}, False),  # null is not said
    ],
)
def test_only_a_dry_run_said_false_and_none_said_true_deletes(api, old_records, query, body, deletes):
    answer = _forget(api, f"?namespace=f{query}", {**POLICY, **body})

    assert (answer["dry_run"], answer["deleted_ids"]) == (not deletes, ["f-old-1", "f-old-2"])
    left = ["f-new", "g-old"] if deletes else ["f-new", "f-old-1", "f-old-2", "g-old"]
    assert _stored()[0] == left


def test_a_key_with_one_namespace_forgets_there_without_naming_it(old_records):
    agent = _key("f")

    answer = _forget(agent, "?dry_run=false")

    assert (answer["dry_run"], answer["deleted_ids"]) == (False, ["f-old-1", "f-old-2"])
    assert _stored()[0] == ["f-new", "g-old"]


def test_an_operator_key_or_one_with_several_namespaces_must_name_it(api, old_records):
    before = _stored()
    for client, msg in [
        (api, "Required: name the namespace to act in."),
        (_key("f", "g"), "Required: this credential has several namespaces (namespaces f, g)."),
    ]:
        response = client.post("/v1/long-term-memory/forget?dry_run=false", POLICY, format="json")
        assert response.status_code == 422, response.content
        assert [(e["loc"], e["msg"]) for e in response.json()["detail"]] == [(["query", "namespace"], msg)]
    assert _stored() == before


async def _client_forgets(url: str) -> list:
    async with MemoryAPIClient(MemoryClientConfig(base_url=url)) as client:
        client._client.headers.update(auth_headers(url))  # the client has no auth option
        policy = ForgetPolicy(max_age_days=30)
        return [
            await client.forget_long_term_memories(policy, namespace="f"),
            # The client sends dry_run only when it is true: this call previews, as on the reference.
            await client.forget_long_term_memories(policy, namespace="f", dry_run=False),
        ]


def test_agent_memory_client_forgets_as_on_the_reference(live_server, old_records):
    before = _stored()

    answers = asyncio.run(_client_forgets(live_server.url))

    assert [(a.dry_run, a.deleted_ids) for a in answers] == [(True, ["f-old-1", "f-old-2"])] * 2
    assert _stored() == before
