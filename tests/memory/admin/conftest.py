"""Fixtures of the admin tests: logged-in clients for each role, pending memories made
the ways the server makes them, and search through the REST API to check the index."""

import pytest
from django.contrib.auth.models import Group, User

from memory.services.long_term import memories_create
from memory.services.roles import POLICY_EDITOR, REVIEWER, roles_ensure

OWNER = {"namespace": "travel", "user_id": "alice"}


def staff_client(client, username: str, group: str | None = None, **flags):
    user = User.objects.create_user(username, f"{username}@example.com", "pw", is_staff=True, **flags)
    if group:
        roles_ensure()
        user.groups.add(Group.objects.get(name=group))
    client.force_login(user)
    return client


@pytest.fixture
def superuser_client(client):
    return staff_client(client, "root", is_superuser=True)


@pytest.fixture
def reviewer_client(client):
    return staff_client(client, "rita", REVIEWER)


@pytest.fixture
def policy_editor_client(client):
    return staff_client(client, "pete", POLICY_EDITOR)


@pytest.fixture
def no_role_client(client):
    return staff_client(client, "nobody")


def pending(*texts: str, **fields) -> list[str]:
    """Create pending memories (no dedup) in OWNER unless `fields` say otherwise; their ids in order."""
    records = [{"text": text, **OWNER, **fields} for text in texts]
    result = memories_create(records=records, status="pending", deduplicate=False, actor="test")
    return [outcome.id for outcome in result.outcomes]


def search_ids(client, text: str, **body) -> list[str]:
    """Ids that default search returns (approved only), through the REST API."""
    payload = {"text": text, "namespace": {"eq": OWNER["namespace"]}, "limit": 50, **body}
    response = client.post("/v1/long-term-memory/search", payload, content_type="application/json")
    assert response.status_code == 200, response.content
    return [memory["id"] for memory in response.json()["memories"]]
