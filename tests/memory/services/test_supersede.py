"""An update supersedes; it does not overwrite or vanish. Promotion with the scripted LLM:
the run is shown the user's nearest stored memories under short ids, the reply labels
each new memory add / update / noop, and an update keeps both rows, the old one marked
superseded by the new one and out of default search."""

import json

import pytest

from memory.models import MemoryHistory, MemoryRecord
from memory.services import review
from memory.services.long_term import memories_create, memories_supersede
from memory.services.promotion import promotion_run
from policies.models import ExtractionRun
from tests.helpers import put_session

NS, USER = "travel", "alice"
OWNER = {"namespace": NS, "user_id": USER}
OLD_FACT = "User's sister Anna lives in Porto."
NEW_FACT = "User's sister Anna lives in Lisbon."


def turn(message_id, content, role="user", at="2024-05-04T09:30:00Z"):
    return {"id": message_id, "role": role, "content": content, "created_at": at}


def item(text, sources, **labels):
    return {
        "text": text,
        "memory_type": "semantic",
        "topics": [],
        "entities": [],
        "event_date": None,
        "source_message_ids": sources,
        **labels,
    }


def promote(session_id):
    return promotion_run(namespace=NS, user_id=USER, session_id=session_id)


def sent(llm_server, n):
    return json.loads(llm_server.requests[n]["messages"][1]["content"])


def search(client, text, **body):
    response = client.post(
        "/v1/long-term-memory/search",
        {"text": text, "namespace": {"eq": NS}, "user_id": {"eq": USER}, "limit": 10, **body},
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    return response.json()


@pytest.fixture
def stated(client, llm_settings, llm_server, publish_policy):
    """A first session stated the fact; it is stored as one current record."""
    publish_policy("discrete")
    llm_server.script({"memories": [item(OLD_FACT, ["a0"])]})
    put_session(client, "s-1", [turn("a0", "My sister Anna lives in Porto.")], **OWNER)
    run = promote("s-1")
    assert (run.status, run.memories_created) == ("succeeded", 1)
    return MemoryRecord.objects.get()


def test_a_correction_supersedes_the_fact_it_replaces_and_both_rows_stay(client, llm_server, stated):
    llm_server.script({"memories": [item(NEW_FACT, ["b0"], action="update", replaces="k1")]})
    put_session(client, "s-2", [turn("b0", "Actually Anna moved, she lives in Lisbon now.")], **OWNER)

    run = promote("s-2")

    # The prompt showed the stored fact under a short id; the rules say how to label.
    assert sent(llm_server, 1)["known_memories"] == [{"id": "k1", "text": OLD_FACT}]
    assert "known_memories" not in sent(llm_server, 0)  # nothing was known yet
    assert '"update"' in llm_server.requests[1]["messages"][0]["content"]
    assert (run.status, run.memories_created, run.memories_deduplicated, run.memories_dropped) == (
        "succeeded",
        1,
        0,
        0,
    )
    old = MemoryRecord.objects.get(id=stated.id)
    new = MemoryRecord.objects.get(extraction_run=run)
    assert MemoryRecord.objects.count() == 2
    assert (old.text, old.superseded_by_id, old.superseded_at is not None) == (OLD_FACT, new.id, True)
    assert (new.text, new.superseded_by_id, new.superseded_at) == (NEW_FACT, None, None)

    # Default search: only the current record, however close the old text is.
    found = search(client, "Where does Anna live?")
    assert [(m["id"], m["superseded_by"], m["supersedes"]) for m in found["memories"]] == [(new.id, None, [old.id])]
    assert found["total"] == 1
    assert "chain" not in found["memories"][0]
    listed = search(client, "")  # list by filter: the same rule
    assert [m["id"] for m in listed["memories"]] == [new.id]

    # On request: both, each with its chain (newest first).
    both = search(client, "Where does Anna live?", include_superseded=True)
    by_id = {m["id"]: m for m in both["memories"]}
    assert set(by_id) == {old.id, new.id} and both["total"] == 2
    assert (by_id[old.id]["superseded_by"], by_id[old.id]["supersedes"], by_id[old.id]["chain"]) == (
        new.id,
        [],
        [new.id, old.id],
    )
    assert (by_id[new.id]["superseded_by"], by_id[new.id]["supersedes"], by_id[new.id]["chain"]) == (
        None,
        [old.id],
        [new.id, old.id],
    )

    # History: the old record says what superseded it, by whom; the new one what it supersedes.
    [superseded] = MemoryHistory.objects.filter(memory_id=old.id, action=MemoryHistory.Action.SUPERSEDED)
    assert (superseded.actor, superseded.detail["superseded_by"], superseded.reason) == (
        "system:promotion",
        new.id,
        f"updated by run {run.pk}",
    )
    assert list(MemoryHistory.objects.filter(memory_id=old.id).values_list("action", flat=True)) == [
        "superseded",
        "created",
    ]
    assert list(MemoryHistory.objects.filter(memory_id=new.id).values_list("action", "actor", "detail")) == [
        ("edited", "system:promotion", {"supersedes": old.id, "changed": []}),
        ("created", "system:promotion", {}),
    ]

    detail = client.get(f"/v1/long-term-memory/{old.id}").json()
    assert (detail["superseded_by"], detail["superseded_at"] is not None, detail["supersedes"]) == (new.id, True, [])
    assert client.get(f"/v1/long-term-memory/{new.id}").json()["supersedes"] == [old.id]


def test_a_later_run_is_shown_only_current_memories(client, llm_server, stated):
    llm_server.script(
        {"memories": [item(NEW_FACT, ["b0"], action="update", replaces="k1")]},
        {"memories": []},
    )
    put_session(client, "s-2", [turn("b0", "Anna lives in Lisbon now.")], **OWNER)
    promote("s-2")
    put_session(client, "s-3", [turn("c0", "Where does my sister Anna live?")], **OWNER)

    promote("s-3")

    assert sent(llm_server, 2)["known_memories"] == [{"id": "k1", "text": NEW_FACT}]


def test_noop_creates_nothing_and_counts_as_deduplicated(client, llm_server, stated):
    llm_server.script(
        {
            "memories": [
                item("User's sister Anna lives in Porto, in Portugal.", ["b0"], action="noop", replaces=None),
                item("User likes window seats.", ["b0"], action="add", replaces=None),
            ]
        }
    )
    put_session(client, "s-2", [turn("b0", "Anna is still in Porto. I like window seats.")], **OWNER)

    run = promote("s-2")

    assert (run.memories_created, run.memories_deduplicated, run.memories_dropped) == (1, 1, 0)
    assert sorted(MemoryRecord.objects.values_list("text", "superseded_by")) == [
        ("User likes window seats.", None),
        (OLD_FACT, None),
    ]
    assert not MemoryHistory.objects.filter(action=MemoryHistory.Action.SUPERSEDED).exists()


def test_a_reply_without_labels_adds_as_before(client, llm_server, stated):
    llm_server.script({"memories": [item("User's sister Anna has a dog.", ["b0"])]})  # no action, no replaces
    put_session(client, "s-2", [turn("b0", "Anna has a dog.")], **OWNER)

    run = promote("s-2")

    assert (run.memories_created, run.memories_deduplicated, run.memories_dropped) == (1, 0, 0)
    assert MemoryRecord.objects.count() == 2
    assert MemoryRecord.objects.filter(superseded_by__isnull=False).count() == 0


def test_an_update_naming_an_unknown_id_adds(client, llm_server, stated):
    llm_server.script({"memories": [item(NEW_FACT, ["b0"], action="update", replaces="k7")]})
    put_session(client, "s-2", [turn("b0", "Anna lives in Lisbon now.")], **OWNER)

    run = promote("s-2")

    assert (run.memories_created, run.memories_deduplicated, run.memories_dropped) == (1, 0, 0)
    assert sorted(MemoryRecord.objects.values_list("text", "superseded_by")) == [(NEW_FACT, None), (OLD_FACT, None)]
    assert [m["text"] for m in search(client, "Where does Anna live?")["memories"]].count(OLD_FACT) == 1


def test_an_update_is_never_deduplicated_into_the_record_it_replaces(client, llm_settings, llm_server, stated):
    # Within the dedup threshold of the old text: a plain add would merge into it.
    llm_settings.MEMORY_DEDUP_DISTANCE_THRESHOLD = 0.5
    llm_server.script({"memories": [item(NEW_FACT, ["b0"], action="update", replaces="k1")]})
    put_session(client, "s-2", [turn("b0", "Anna lives in Lisbon now.")], **OWNER)

    run = promote("s-2")

    assert (run.memories_created, run.memories_deduplicated) == (1, 0)
    assert MemoryRecord.objects.get(id=stated.id).superseded_by.text == NEW_FACT
    assert not MemoryHistory.objects.filter(action=MemoryHistory.Action.MERGED).exists()


def test_an_update_repeating_the_known_text_is_a_duplicate_not_a_new_row(client, llm_server, stated):
    llm_server.script({"memories": [item(OLD_FACT, ["b0"], action="update", replaces="k1")]})
    put_session(client, "s-2", [turn("b0", "Anna lives in Porto.")], **OWNER)

    run = promote("s-2")

    assert (run.memories_created, run.memories_deduplicated) == (0, 1)
    assert list(MemoryRecord.objects.values_list("id", "superseded_by")) == [(stated.id, None)]


def test_a_pending_update_supersedes_once_a_reviewer_approves_it(client, llm_server, publish_policy, stated):
    publish_policy("discrete", review_mode="pending")
    llm_server.script({"memories": [item(NEW_FACT, ["b0"], action="update", replaces="k1")]})
    put_session(client, "s-2", [turn("b0", "Anna lives in Lisbon now.")], **OWNER)

    run = promote("s-2")

    assert run.memories_created == 1
    assert MemoryRecord.objects.get(id=stated.id).superseded_by_id is None
    assert [m["id"] for m in search(client, "Where does Anna live?")["memories"]] == [stated.id]

    # The reviewer approves the correction: only now does it supersede the old fact.
    new = MemoryRecord.objects.get(text=NEW_FACT)
    review.memory_approve(memory_id=new.id, actor="admin:rita")
    assert MemoryRecord.objects.get(id=stated.id).superseded_by_id == new.id
    assert [m["id"] for m in search(client, "Where does Anna live?")["memories"]] == [new.id]
    superseded = MemoryHistory.objects.get(memory_id=stated.id, action=MemoryHistory.Action.SUPERSEDED)
    assert (superseded.actor, superseded.reason) == ("admin:rita", "an approved update")
    review.memory_approve(memory_id=new.id, actor="admin:rita")  # approving again changes nothing
    assert MemoryHistory.objects.filter(action=MemoryHistory.Action.SUPERSEDED).count() == 1


def test_without_an_llm_nothing_is_superseded(client, settings, publish_policy):
    settings.LLM_MODEL = ""
    publish_policy("messages")
    put_session(client, "s-1", [turn("a0", "My sister Anna lives in Porto.")], **OWNER)
    put_session(client, "s-2", [turn("b0", "My sister Anna lives in Lisbon now.")], **OWNER)
    promote("s-1")
    promote("s-2")
    client.post(
        "/v1/long-term-memory/",
        {"memories": [{"text": NEW_FACT, **OWNER}, {"text": OLD_FACT, **OWNER}]},
        content_type="application/json",
    )

    assert MemoryRecord.objects.count() == 4
    assert MemoryRecord.objects.filter(superseded_by__isnull=False).count() == 0
    assert ExtractionRun.objects.filter(status="succeeded").count() == 2


@pytest.mark.django_db(transaction=True)
def test_supersede_skips_what_it_cannot_apply():
    created = memories_create(
        records=[
            {"text": "A", **OWNER},
            {"text": "B", **OWNER},
            {"text": "C", **OWNER},
            {"text": "D", "namespace": NS, "user_id": "bob"},
        ],
        deduplicate=False,
        actor="test",
    )
    a, b, c, d = (o.id for o in created.outcomes)

    result = memories_supersede(pairs=[(a, b), (a, c), (b, b), (c, d), ("gone", c)], actor="test")

    assert result.superseded == [(a, b)]
    assert result.skipped == {
        (a, c): f"already superseded by {b}",
        (b, b): "a record cannot supersede itself",
        (c, d): "records of different namespaces or users",
        ("gone", c): "record not found",
    }
    assert MemoryHistory.objects.filter(action=MemoryHistory.Action.SUPERSEDED).count() == 1


def test_an_add_in_the_same_run_never_merges_into_the_record_an_update_supersedes(
    client, llm_settings, llm_server, stated
):
    # Within the dedup threshold of the old text, the add would merge into the record the
    # update supersedes, and leave search with it; updates go first, so it cannot.
    llm_settings.MEMORY_DEDUP_DISTANCE_THRESHOLD = 0.5
    also = "User's sister Anna loves the old town of Porto."  # no detail differs from OLD_FACT
    llm_server.script(
        {"memories": [item(also, ["b0"], action="add"), item(NEW_FACT, ["b0"], action="update", replaces="k1")]}
    )
    put_session(client, "s-2", [turn("b0", "Anna lives in Lisbon now, she still loves Porto's old town.")], **OWNER)

    run = promote("s-2")

    assert MemoryRecord.objects.get(id=stated.id).superseded_by.text == NEW_FACT
    assert (run.memories_created, run.memories_deduplicated) == (2, 0)
    current = [m["text"] for m in search(client, "Anna Porto old town")["memories"]]
    assert also in current and OLD_FACT not in current
    assert not MemoryHistory.objects.filter(action=MemoryHistory.Action.MERGED, memory_id=stated.id).exists()
