"""The memory changelist: its filters, search, order and columns."""

import re

import pytest

from memory.models import MemoryRecord
from memory.services.long_term import memories_create
from tests.memory.admin.conftest import pending

pytestmark = pytest.mark.django_db(transaction=True)

CHANGELIST = "/admin/memory/memoryrecord/"


def listed(client, query: str = "") -> list[str]:
    """The ids of the changelist's rows, in order."""
    response = client.get(CHANGELIST + query)
    assert response.status_code == 200, response.content[:500]
    return re.findall(r'name="_selected_action" value="([^"]+)"', response.content.decode())


def test_pending_come_first_then_newest(superuser_client):
    (old_pending,) = pending("old pending")
    (approved,) = memories_create(records=[{"text": "approved, newest"}], actor="test").created_ids
    (new_pending,) = pending("new pending")
    MemoryRecord.objects.filter(pk=old_pending).update(created_at="2024-01-01T00:00:00Z")
    MemoryRecord.objects.filter(pk=approved).update(created_at="2030-01-01T00:00:00Z")

    assert listed(superuser_client) == [new_pending, old_pending, approved]


def test_columns_show_text_status_badge_user_session_and_policy_version(superuser_client):
    pending("Alice likes window seats " + "and aisles " * 20, session_id="s-42")
    html = superuser_client.get(CHANGELIST).content.decode()
    assert '<span class="memory-badge memory-badge--pending">pending</span>' in html
    assert "s-42" in html and "alice" in html
    assert "Alice likes window seats and aisles" in html and "aisles " * 20 not in html  # truncated
    for column in ("text", "status", "user id", "session id", "policy version", "created at"):
        assert re.search(rf"<th[^>]*>.*?{column}.*?</th>", html, re.S | re.I), column


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("?status=pending", {"tea", "coffee", "work"}),
        ("?status=approved", {"approved"}),
        ("?namespace=work", {"work"}),
        ("?namespace=__none__", {"approved"}),
        ("?user_id=bob", {"coffee"}),
        ("?memory_type__exact=episodic", {"coffee"}),
        ("?topic=drinks", {"tea", "coffee"}),
        ("?topic=morning%20routine", {"tea"}),
        ("?entity=Bob", {"coffee"}),
        ("?topic=drinks&user_id=alice", {"tea"}),
        ("?q=coffee", {"coffee"}),
        ("?created_at__gte=2020-01-01%2000:00%2B00:00&created_at__lt=2020-01-02%2000:00%2B00:00", {"work"}),
    ],
)
def test_filters_and_search(superuser_client, query, expected):
    ids = {
        "tea": pending("Alice drinks tea.", topics=["drinks", "morning routine"], entities=["Alice"])[0],
        "coffee": pending(
            "Bob drinks coffee.", user_id="bob", memory_type="episodic", topics=["drinks"], entities=["Bob"]
        )[0],
        "work": pending("Alice works at Acme.", namespace="work")[0],
        "approved": memories_create(records=[{"text": "no namespace"}], actor="test").created_ids[0],
    }
    MemoryRecord.objects.filter(pk=ids["work"]).update(created_at="2020-01-01T12:00:00Z")
    names = {v: k for k, v in ids.items()}
    assert {names[i] for i in listed(superuser_client, query)} == expected


def test_topic_and_entity_filters_list_the_values_with_counts(superuser_client):
    pending("a", topics=["drinks", "travel"])
    pending("b", topics=["drinks"], entities=["Alice"])
    html = superuser_client.get(CHANGELIST).content.decode()
    assert re.search(r'href="\?topic=drinks"[^>]*>drinks \(2\)<', html)
    assert re.search(r'href="\?topic=travel"[^>]*>travel \(1\)<', html)
    assert re.search(r'href="\?entity=Alice"[^>]*>Alice \(1\)<', html)


def test_has_merges_finds_the_records_dedup_merged_into(superuser_client):
    (survivor,) = memories_create(records=[{"text": "Alice is vegetarian."}], actor="test").created_ids
    merged = memories_create(records=[{"text": "Alice is vegetarian."}], actor="test")
    assert merged.outcomes[0].outcome != "created"
    (lonely,) = memories_create(records=[{"text": "Bob likes jazz."}], actor="test").created_ids

    assert listed(superuser_client, "?has_merges=yes") == [survivor]
    assert listed(superuser_client, "?has_merges=no") == [lonely]


def test_strategy_and_policy_version_filters_follow_the_extraction_run(
    superuser_client, client, settings, publish_policy
):
    from memory.services.promotion import promotion_run
    from tests.helpers import put_session

    settings.LLM_MODEL = ""
    version = publish_policy("messages", review_mode="pending")
    put_session(client, "s-1", [{"id": "m0", "role": "user", "content": "hello"}], namespace="n", user_id="u")
    run = promotion_run(namespace="n", user_id="u", session_id="s-1")
    (from_run,) = MemoryRecord.objects.filter(extraction_run=run).values_list("id", flat=True)
    (by_api,) = pending("typed in")

    assert listed(superuser_client, "?extraction_run__strategy__exact=messages") == [from_run]
    assert listed(superuser_client, f"?extraction_run__policy_version__id__exact={version.pk}") == [from_run]
    assert listed(superuser_client, f"?policy={version.policy_id}") == [from_run]
    assert set(listed(superuser_client)) == {from_run, by_api}
    assert str(version) in superuser_client.get(CHANGELIST).content.decode()
