"""Review services: each decision is audited with its actor and before/after values, and
search through the REST API follows it at once (approve in, reject and delete out, an
edit re-embedded)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from memory.models import MemoryHistory, MemoryRecord
from memory.services import review
from memory.services.long_term import memories_create, memories_delete, memory_hash
from memory.services.long_term.edit import ReviewNotAllowedError, memories_edit, memory_edit
from memory.services.long_term.undo import UndoNotPossibleError, memory_history_undo
from tests.factories import memory_records_create

pytestmark = pytest.mark.django_db(transaction=True)

NS, USER = "desk", "alice"
REVIEWER = "admin:rita"
FACTS = {
    "tea": "Alice drinks green tea every morning",
    "lisbon": "Alice's sister Anna lives in Lisbon",
    "piano": "Alice has played the piano since she was six",
}


@pytest.fixture
def pending():
    """Three pending memories of one user, as a review-mode policy leaves them."""
    memory_records_create(
        *({"id": key, "text": text} for key, text in FACTS.items()),
        namespace=NS,
        user_id=USER,
        status="pending",
        deduplicate=True,
        actor="system:promotion",
    )
    return list(FACTS)


def searched(api, text: str, mode: str = "semantic", **filters) -> list[str]:
    body = {"text": text, "search_mode": mode, "namespace": {"eq": NS}, "limit": 10, **filters}
    response = api.post("/v1/long-term-memory/search", body, format="json")
    assert response.status_code == 200, response.content
    return [m["id"] for m in response.json()["memories"]]


def history(memory_id: str) -> list[tuple]:
    return list(
        MemoryHistory.objects.filter(memory_id=memory_id).order_by("id").values_list("action", "actor", "reason")
    )


def test_pending_memories_are_not_searchable_until_approved(api, pending):
    assert searched(api, "green tea", "keyword") == []
    approved = review.memory_approve(memory_id="tea", actor=REVIEWER)
    assert approved.status == "approved"
    assert searched(api, "green tea", "keyword") == ["tea"]
    assert searched(api, "What does Alice drink in the morning?") == ["tea"]
    assert history("tea") == [("created", "system:promotion", "created"), ("approved", REVIEWER, "approved")]
    entry = MemoryHistory.objects.get(memory_id="tea", action="approved")
    assert (entry.detail["before"]["status"], entry.detail["after"]["status"]) == ("pending", "approved")
    assert (entry.namespace, entry.user_id) == (NS, USER)


def test_reject_takes_a_memory_out_of_default_search_and_keeps_the_reason(api, pending):
    review.memories_approve(memory_ids=["tea", "lisbon"], actor=REVIEWER)
    review.memory_reject(memory_id="lisbon", reason="  Wrong or   hallucinated ", actor=REVIEWER)
    assert searched(api, "sister Anna Lisbon", "keyword") == []
    assert searched(api, "sister Anna Lisbon", "keyword", status={"eq": "rejected"}) == ["lisbon"]
    assert history("lisbon")[-1] == ("rejected", REVIEWER, "Wrong or hallucinated")


def test_a_rejection_needs_a_reason_and_writes_nothing_without_one(pending):
    with pytest.raises(ValueError, match="needs a reason"):
        review.memory_reject(memory_id="tea", reason="   ", actor=REVIEWER)
    assert MemoryRecord.objects.get(pk="tea").status == "pending"
    assert history("tea") == [("created", "system:promotion", "created")]


def test_an_edit_re_embeds_and_re_hashes_so_search_finds_the_new_text(api, pending):
    review.memory_approve(memory_id="tea", actor=REVIEWER)
    before = MemoryRecord.objects.get(pk="tea")
    edited = memory_edit(
        memory_id="tea",
        changes={"text": "Alice drinks black coffee every morning", "topics": ["drinks"]},
        actor=REVIEWER,
        may_review=True,
    )
    assert edited.memory_hash == memory_hash("Alice drinks black coffee every morning") != before.memory_hash
    assert edited.embedding != before.embedding
    assert searched(api, "black coffee", "keyword") == ["tea"]
    assert searched(api, "green tea", "keyword") == []
    entry = MemoryHistory.objects.get(memory_id="tea", action="edited")
    assert (entry.actor, entry.detail["changed"]) == (REVIEWER, ["text", "topics"])
    assert (entry.detail["before"]["text"], entry.detail["after"]["text"]) == (
        FACTS["tea"],
        "Alice drinks black coffee every morning",
    )


@pytest.mark.parametrize(
    ("changes", "may_review", "error", "message"),
    [
        ({"status": "approved"}, False, ReviewNotAllowedError, "needs the review permission"),
        ({"extracted_from": ["m1"]}, True, ValueError, "not editable: extracted_from"),
        ({"text": "  "}, True, ValueError, "cannot be empty"),
    ],
)
def test_an_edit_that_is_not_allowed_is_refused_and_writes_nothing(pending, changes, may_review, error, message):
    with pytest.raises(error, match=message):
        memory_edit(memory_id="tea", changes=changes, actor=REVIEWER, may_review=may_review)
    row = MemoryRecord.objects.get(pk="tea")
    assert (row.status, row.namespace, row.text) == ("pending", NS, FACTS["tea"])
    assert MemoryHistory.objects.filter(memory_id="tea").count() == 1


def test_bulk_pin_and_unpin_count_what_they_changed(pending):
    assert review.memories_pin(memory_ids=["tea", "piano", "no-such-id"], actor=REVIEWER) == 2
    assert set(MemoryRecord.objects.filter(pinned=True).values_list("id", flat=True)) == {"tea", "piano"}
    assert review.memories_unpin(memory_ids=["piano"], actor=REVIEWER) == 1
    assert list(MemoryRecord.objects.filter(pinned=True).values_list("id", flat=True)) == ["tea"]
    assert [a for a, _, _ in history("piano")] == ["created", "pinned", "unpinned"]


def test_bulk_reject_and_bulk_edit_write_one_history_row_per_record(api, pending):
    assert review.memories_reject(memory_ids=["tea", "piano"], reason="Not a durable fact", actor=REVIEWER) == 2
    assert len(memories_edit(memory_ids=["tea", "lisbon"], changes={"topics": ["family"]}, actor=REVIEWER)) == 2
    assert MemoryHistory.objects.filter(action="rejected", actor=REVIEWER).count() == 2
    assert MemoryHistory.objects.filter(action="edited", actor=REVIEWER).count() == 2
    assert list(MemoryRecord.objects.order_by("id").values_list("id", "status", "topics")) == [
        ("lisbon", "pending", ["family"]),
        ("piano", "rejected", []),
        ("tea", "rejected", ["family"]),
    ]


def test_delete_removes_the_memory_from_search_and_undo_brings_it_back(api, pending):
    review.memories_approve(memory_ids=list(FACTS), actor=REVIEWER)
    review.memory_delete(memory_id="piano", actor=REVIEWER)
    assert searched(api, "piano", "keyword") == []
    deleted = MemoryHistory.objects.get(memory_id="piano", action="deleted")
    assert (deleted.actor, deleted.detail["before"]["text"]) == (REVIEWER, FACTS["piano"])

    restored = memory_history_undo(history_id=deleted.pk, actor=REVIEWER)
    assert (restored.id, restored.text, restored.status) == ("piano", FACTS["piano"], "approved")
    assert searched(api, "piano", "keyword") == ["piano"]
    assert history("piano")[-1] == ("restored", REVIEWER, f"restored from delete {deleted.pk}")
    with pytest.raises(UndoNotPossibleError, match="already undone"):
        memory_history_undo(history_id=deleted.pk, actor=REVIEWER)


def test_a_merge_is_undone_through_the_review_service(api):
    first = {"id": "a", "text": "Alice likes green tea", "namespace": NS, "user_id": USER}
    memories_create(records=[first], actor="test")
    (merged,) = memories_create(records=[{**first, "id": "b", "topics": ["drinks"]}], actor="api:anonymous").outcomes
    assert (merged.id, merged.outcome) == ("a", "merged_hash")
    restored = memory_history_undo(history_id=merged.history_id, actor=REVIEWER)
    assert restored.id == "b"
    assert sorted(searched(api, "green tea", "keyword")) == ["a", "b"]
    assert MemoryRecord.objects.get(pk="a").topics == []
    assert MemoryHistory.objects.get(pk=merged.history_id).actor == "api:anonymous"


def test_only_merges_and_deletes_can_be_undone(pending):
    approved = review.memory_approve(memory_id="tea", actor=REVIEWER)
    entry = MemoryHistory.objects.get(memory_id=approved.id, action="approved")
    with pytest.raises(UndoNotPossibleError, match="approved entry cannot be undone"):
        memory_history_undo(history_id=entry.pk, actor=REVIEWER)
    with pytest.raises(UndoNotPossibleError, match="no history entry 999999"):
        memory_history_undo(history_id=999999, actor=REVIEWER)


def test_the_sweep_drops_delete_snapshots_past_their_retention_and_keeps_the_audit_row(settings, pending):
    from workers import actors

    settings.MEMORY_DELETED_RETENTION_DAYS = 30
    memories_delete(memory_ids=["tea", "piano"], actor=REVIEWER)
    old = MemoryHistory.objects.get(memory_id="tea", action="deleted")
    MemoryHistory.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=31))

    actors.memories_index_sweep.fn()

    old.refresh_from_db()
    assert (old.detail, old.purged_at is not None, old.actor) == ({}, True, REVIEWER)
    recent = MemoryHistory.objects.get(memory_id="piano", action="deleted")
    assert (recent.detail["before"]["text"], recent.purged_at) == (FACTS["piano"], None)
    with pytest.raises(UndoNotPossibleError, match="after 30 days"):
        memory_history_undo(history_id=old.pk, actor=REVIEWER)
    assert not MemoryRecord.objects.filter(pk="tea").exists()


def test_undoing_a_merge_keeps_a_reviewers_later_approval_of_the_survivor(api):
    first = {"id": "a", "text": "Alice likes green tea", "namespace": NS, "user_id": USER}
    memories_create(records=[first], status="pending", actor="system:promotion")
    (merged,) = memories_create(records=[{**first, "id": "b"}], status="pending", actor="system:promotion").outcomes
    review.memory_approve(memory_id="a", actor=REVIEWER)

    restored = memory_history_undo(history_id=merged.history_id, actor=REVIEWER)

    assert (restored.id, restored.status) == ("b", "pending")
    assert MemoryRecord.objects.get(pk="a").status == "approved"
    assert searched(api, "green tea", "keyword") == ["a"]


def test_undoing_a_merge_that_approved_the_survivor_puts_it_back_to_pending(api):
    first = {"id": "a", "text": "Alice likes green tea", "namespace": NS, "user_id": USER}
    memories_create(records=[first], status="pending", actor="system:promotion")
    (merged,) = memories_create(records=[{**first, "id": "b"}], status="approved", actor="api:anonymous").outcomes
    assert MemoryRecord.objects.get(pk="a").status == "approved"  # an approved duplicate approves it

    memory_history_undo(history_id=merged.history_id, actor=REVIEWER)

    assert list(MemoryRecord.objects.order_by("id").values_list("id", "status")) == [
        ("a", "pending"),
        ("b", "approved"),
    ]


def test_a_records_birth_comes_before_a_merge_into_it_in_the_same_call():
    facts = [{"id": i, "text": "Alice likes green tea", "namespace": NS, "user_id": USER} for i in ("a", "b")]
    memories_create(records=facts, actor="system:promotion")
    assert list(MemoryHistory.objects.filter(memory_id="a").values_list("action", flat=True)) == ["merged", "created"]
