"""Creating long-term memories: the three dedup steps, merges that can be undone, and
rows and index documents that stay in step (real DB, Redis, embedding model). The REST
create: tests/memory/api/test_long_term_create.py."""

import numpy as np
import pytest
from django.db import transaction

from memory import index
from memory.models import MemoryHistory, MemoryRecord
from memory.services.long_term import (
    MemoryIdConflictError,
    memories_create,
    memory_merge_undo,
)

pytestmark = pytest.mark.django_db(transaction=True)

CAT = "Alice adopted a grey cat called Pixel"
# The same words up to an article, inflection and punctuation: not a hash match, a vector one.
# (A paraphrase, "Alice has adopted a gray cat named Pixel", is kept apart: test_dedup_rules.)
RESPELLED = "Alice adopts the grey cat called Pixel!"


def _record(text, **extra):
    return {"text": text, "namespace": "acme", "user_id": "u1", **extra}


def _docs():
    return index.document_ids()


def test_create_writes_rows_and_their_documents_after_commit():
    result = memories_create(
        actor="test", records=[_record(CAT, topics=["pets"]), _record("The report is due on Friday")]
    )
    ids = [o.id for o in result.outcomes]
    assert [o.outcome for o in result.outcomes] == ["created", "created"]
    assert _docs() == set(ids)
    row = MemoryRecord.objects.get(id=ids[0])
    assert (row.status, row.index_pending, row.embedding_model, len(row.embedding)) == (
        "approved",
        False,
        "local/all-MiniLM-L6-v2",
        384 * 4,
    )


def test_nothing_is_written_or_indexed_when_the_outer_transaction_rolls_back():
    with pytest.raises(RuntimeError), transaction.atomic():
        memories_create(actor="test", records=[_record(CAT)])
        assert MemoryRecord.objects.count() == 1  # visible inside the caller's transaction
        raise RuntimeError("the caller fails after creating")
    assert MemoryRecord.objects.count() == 0
    assert _docs() == set()


def test_step_one_a_known_id_overwrites_its_record_and_keeps_the_old_version():
    (first,) = memories_create(actor="test", records=[_record(CAT, id="client-id-1")]).outcomes
    (second,) = memories_create(
        actor="test", records=[_record("Alice adopted a black dog called Rex", id="client-id-1")]
    ).outcomes
    assert (first.id, second.id, second.outcome) == ("client-id-1", "client-id-1", "updated")
    row = MemoryRecord.objects.get()
    assert row.text == "Alice adopted a black dog called Rex"
    history = MemoryHistory.objects.get(memory_id="client-id-1", action="edited")
    assert (history.actor, history.detail["before"]["text"], history.detail["after"]["text"]) == (
        "test",
        CAT,
        "Alice adopted a black dog called Rex",
    )
    assert list(MemoryHistory.objects.order_by("id").values_list("action", flat=True)) == ["created", "edited"]
    hits = index.vector_search(np.frombuffer(bytes(row.embedding), dtype=np.float32), conditions=[], k=1)
    # 0 up to the index's FLOAT16 rounding (5.4e-5 for this vector).
    assert hits[0].id == "client-id-1" and hits[0].vector_distance == pytest.approx(0.0, abs=1e-4)


def test_step_one_an_id_of_another_owner_is_refused_and_nothing_is_written():
    memories_create(actor="test", records=[_record(CAT, id="shared-id")])
    with pytest.raises(MemoryIdConflictError):
        memories_create(
            actor="test",
            records=[_record("new text", id="fresh"), {"text": "mine now", "id": "shared-id", "namespace": "other"}],
        )
    assert list(MemoryRecord.objects.values_list("id", "text")) == [("shared-id", CAT)]


def test_step_two_same_text_in_the_same_owner_merges_by_hash_but_not_across_owners():
    (original,) = memories_create(actor="test", records=[_record(CAT, topics=["pets"])]).outcomes
    outcomes = memories_create(
        actor="test",
        records=[
            _record("  alice adopted a GREY cat called pixel ", topics=["cats"], extracted_from=["msg-9"]),
            {"text": CAT, "namespace": "acme", "user_id": "u2"},
            {"text": CAT, "namespace": "other", "user_id": "u1"},
        ],
    ).outcomes
    assert [o.outcome for o in outcomes] == ["merged_hash", "created", "created"]
    assert outcomes[0].id == original.id
    row = MemoryRecord.objects.get(id=original.id)
    assert (row.text, row.topics, row.extracted_from) == (CAT, ["pets", "cats"], ["msg-9"])
    assert MemoryRecord.objects.count() == 3


def test_step_three_the_same_words_respelled_merge_within_the_threshold_and_are_recorded():
    (original,) = memories_create(actor="test", records=[_record(CAT)]).outcomes
    (merged,) = memories_create(actor="test", records=[_record(RESPELLED, entities=["Alice"])]).outcomes
    assert (merged.outcome, merged.id) == ("merged_semantic", original.id)
    assert 0 < merged.distance <= 0.1
    history = MemoryHistory.objects.get(pk=merged.history_id)
    assert history.memory_id == original.id and history.action == "merged"
    assert history.detail["step"] == "semantic" and history.detail["distance"] == merged.distance
    assert history.detail["merged"]["text"] == RESPELLED
    assert "cosine distance" in history.reason
    assert MemoryRecord.objects.get().entities == ["Alice"]


def test_step_three_catches_duplicates_within_one_call_and_leaves_unrelated_text_alone():
    outcomes = memories_create(
        actor="test",
        records=[
            _record(CAT),
            _record(RESPELLED),
            _record("Bob prefers window seats on long flights"),
        ],
    ).outcomes
    assert [o.outcome for o in outcomes] == ["created", "merged_semantic", "created"]
    assert outcomes[1].id == outcomes[0].id
    assert MemoryRecord.objects.count() == 2 and len(_docs()) == 2


@pytest.mark.parametrize("how", ["call", "record"])
def test_deduplicate_false_keeps_every_copy(how):
    memories_create(actor="test", records=[_record(CAT)])
    if how == "call":
        outcomes = memories_create(actor="test", records=[_record(CAT)], deduplicate=False).outcomes
    else:
        outcomes = memories_create(actor="test", records=[_record(CAT, deduplicate=False)]).outcomes
    assert outcomes[0].outcome == "created"
    assert MemoryRecord.objects.count() == 2 and len(_docs()) == 2


def test_a_merge_can_be_undone_from_the_history():
    (original,) = memories_create(actor="test", records=[_record(CAT, topics=["pets"])]).outcomes
    respelled = _record(RESPELLED, id="para-1", topics=["adoption"])
    (merged,) = memories_create(actor="test", records=[respelled]).outcomes
    assert MemoryRecord.objects.get(id=original.id).topics == ["pets", "adoption"]

    restored = memory_merge_undo(actor="test", history_id=merged.history_id)

    assert (restored.id, restored.text, restored.topics) == ("para-1", respelled["text"], ["adoption"])
    assert MemoryRecord.objects.get(id=original.id).topics == ["pets"]
    assert _docs() == {original.id, "para-1"}
    assert MemoryHistory.objects.get(pk=merged.history_id).undone_at is not None
    assert set(MemoryHistory.objects.filter(action="unmerged").values_list("memory_id", flat=True)) == {
        original.id,
        "para-1",
    }
    with pytest.raises(ValueError, match="already undone"):
        memory_merge_undo(actor="test", history_id=merged.history_id)


def test_undoing_a_merge_restores_the_absorbed_records_context():
    memories_create(actor="test", records=[_record(CAT)])
    (merged,) = memories_create(
        actor="test", records=[_record(CAT, id="reply-1", context="Bob: Any news about pets?")]
    ).outcomes
    assert merged.outcome == "merged_hash"

    restored = memory_merge_undo(actor="test", history_id=merged.history_id)

    assert (restored.id, restored.text, restored.context) == ("reply-1", CAT, "Bob: Any news about pets?")


def test_rejected_records_are_not_merge_targets():
    (rejected,) = memories_create(actor="test", records=[_record(CAT)], status="rejected").outcomes
    (fresh,) = memories_create(actor="test", records=[_record(CAT)]).outcomes
    assert fresh.outcome == "created" and fresh.id != rejected.id


def test_extraction_provenance_and_review_status_are_kept():
    from policies.models import ExtractionRun

    run = ExtractionRun.objects.create(session_id="s1", strategy="discrete")
    (outcome,) = memories_create(
        actor="test",
        records=[_record(CAT, extracted_from=["m1", "m2"], session_id="s1")],
        status="pending",
        extraction_run=run,
    ).outcomes
    row = MemoryRecord.objects.get(id=outcome.id)
    assert (row.status, row.extraction_run_id, row.extracted_from, row.session_id) == (
        "pending",
        run.pk,
        ["m1", "m2"],
        "s1",
    )
    assert list(run.memories.values_list("id", flat=True)) == [outcome.id]
