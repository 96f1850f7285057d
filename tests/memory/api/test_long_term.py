"""Long-term memory routes: clear 422s with nothing written, edit/delete keeping the
index in step, forgetting and compaction."""

from datetime import UTC, datetime, timedelta

import pytest

from memory import index
from memory.api.long_term.serializers import EditMemorySerializer
from memory.models import MemoryHistory, MemoryRecord
from memory.services.long_term import EDITABLE_FIELDS, memories_create

pytestmark = pytest.mark.django_db(transaction=True)

MEGABYTE_TEXT = "x" * (1024 * 1024)


def _loc(response):
    assert response.status_code == 422, response.content
    (error,) = response.json()["detail"]
    return error["loc"]


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"text": "x", "namespace": {"like": "a"}}, ["body", "namespace", "like"]),
        ({"text": "x", "created_at": {"after": "2024-01-01T00:00:00Z"}}, ["body", "created_at", "after"]),
        ({"text": "x", "limit": 0}, ["body", "limit"]),
        ({"text": "x", "limit": 1000}, ["body", "limit"]),
        ({"text": "x", "offset": -1}, ["body", "offset"]),
        ({"text": "x", "offset": 9995, "limit": 10}, ["body", "offset"]),
        ({"text": MEGABYTE_TEXT}, ["body", "text"]),
        ({"text": "x", "created_at": {"gt": "last tuesday"}}, ["body", "created_at", "gt"]),
        ({"text": "x", "event_date": {"between": ["2024-01-02T00:00:00Z"]}}, ["body", "event_date", "between"]),
        (
            {"text": "x", "event_date": {"between": ["2024-02-01T00:00:00Z", "2024-01-01T00:00:00Z"]}},
            ["body", "event_date", "between"],
        ),
        ({"text": "x", "memory_type": {"eq": "gossip"}}, ["body", "memory_type", "eq"]),
        ({"text": "x", "topics": {"any": []}}, ["body", "topics", "any"]),
        ({"text": "x", "topics": {"any": "pets"}}, ["body", "topics", "any"]),
        ({"text": "x", "user_id": "u1"}, ["body", "user_id"]),
        ({"text": "x", "search_mode": "fuzzy"}, ["body", "search_mode"]),
        ({"text": "x", "hybrid_alpha": 1.5}, ["body", "hybrid_alpha"]),
        ({"text": "x", "search_mode": "keyword", "distance_threshold": 0.2}, ["body", "distance_threshold"]),
        ({"text": "", "distance_threshold": 0.2}, ["body", "distance_threshold"]),
        ({"text": 42}, ["body", "text"]),
    ],
)
def test_bad_search_input_is_a_422_naming_the_field(api, body, loc):
    assert _loc(api.post("/v1/long-term-memory/search", body, format="json")) == loc


@pytest.mark.parametrize(
    ("memories", "loc"),
    [
        ([{"text": MEGABYTE_TEXT}], ["body", "memories", 0, "text"]),
        ([{"text": "ok", "context": MEGABYTE_TEXT}], ["body", "memories", 0, "context"]),
        ([{"text": "ok", "context": ["a list"]}], ["body", "memories", 0, "context"]),
        ([{"text": "ok"}, {"namespace": "a"}], ["body", "memories", 1, "text"]),
        ([{"text": "   "}], ["body", "memories", 0, "text"]),
        ([{"text": "ok", "memory_type": "gossip"}], ["body", "memories", 0, "memory_type"]),
        ([{"text": "ok", "event_date": "soon"}], ["body", "memories", 0, "event_date"]),
        ([{"text": "ok", "topics": "pets"}], ["body", "memories", 0, "topics"]),
        ([{"text": "ok", "namespace": "a\x1fb"}], ["body", "memories", 0, "namespace"]),
        ([{"text": "a", "id": "same"}, {"text": "b", "id": "same"}], ["body", "memories", 1, "id"]),
        ([], ["body", "memories"]),
    ],
)
def test_bad_create_input_is_a_422_and_writes_nothing(api, memories, loc):
    assert _loc(api.post("/v1/long-term-memory/", {"memories": memories}, format="json")) == loc
    assert MemoryRecord.objects.count() == 0 and index.document_ids() == set()


def test_a_create_that_reuses_another_tenants_id_is_refused(api):
    memories_create(actor="test", records=[{"id": "taken", "text": "mine", "namespace": "a"}])
    response = api.post(
        "/v1/long-term-memory/",
        {"memories": [{"text": "new", "namespace": "b"}, {"id": "taken", "text": "theirs", "namespace": "b"}]},
        format="json",
    )
    assert _loc(response) == ["body", "memories", 1, "id"]
    assert list(MemoryRecord.objects.values_list("id", "text")) == [("taken", "mine")]


def test_edit_ignores_unknown_fields_but_needs_one_it_knows_and_answers_404_for_unknown_ids(api):
    (outcome,) = memories_create(actor="test", records=[{"text": "Alice likes tea"}]).outcomes
    # The reference ignores a field its edit does not know; one alone is nothing to edit.
    assert _loc(api.patch(f"/v1/long-term-memory/{outcome.id}", {"txt": "typo"}, format="json")) == ["body"]
    assert _loc(api.patch(f"/v1/long-term-memory/{outcome.id}", {"text": ""}, format="json")) == ["body", "text"]
    assert MemoryRecord.objects.get().text == "Alice likes tea"
    assert api.patch("/v1/long-term-memory/nope", {"text": "x"}, format="json").status_code == 404
    assert api.get("/v1/long-term-memory/nope").status_code == 404


def test_the_patch_accepts_exactly_the_fields_the_edit_service_edits():
    # Two declarations of one list (the API's serializer documents it in the schema, the
    # service enforces it for every door): they must not drift apart.
    editable = (
        "text", "context", "memory_type", "namespace", "user_id", "session_id",
        "topics", "entities", "event_date", "pinned", "metadata", "status",
    )  # fmt: skip
    assert tuple(EditMemorySerializer().fields) == editable
    assert editable == EDITABLE_FIELDS


def test_a_text_edit_re_embeds_re_hashes_and_moves_the_document(api, api_key):
    (outcome,) = memories_create(
        actor="test", records=[{"text": "Alice drinks green tea every morning", "namespace": "n"}]
    ).outcomes
    before = MemoryRecord.objects.get()
    response = api.patch(
        f"/v1/long-term-memory/{outcome.id}",
        {"text": "Alice switched to black coffee", "topics": ["drinks"]},
        format="json",
    )
    assert response.status_code == 200
    assert (response.json()["text"], response.json()["topics"]) == ("Alice switched to black coffee", ["drinks"])
    after = MemoryRecord.objects.get()
    assert after.memory_hash != before.memory_hash and after.embedding != before.embedding
    assert api.get(f"/v1/long-term-memory/{outcome.id}").json()["text"] == "Alice switched to black coffee"

    def search(text, mode):
        return api.post(
            "/v1/long-term-memory/search",
            {"text": text, "search_mode": mode, "topics": {"eq": "drinks"}},
            format="json",
        ).json()

    assert [m["id"] for m in search("black coffee", "keyword")["memories"]] == [outcome.id]
    assert search("green tea", "keyword")["total"] == 0
    top = search("Alice switched to black coffee", "semantic")["memories"][0]
    assert top["dist"] == pytest.approx(0.0, abs=1e-4)
    edit = MemoryHistory.objects.get(memory_id=outcome.id, action="edited")
    assert (edit.actor, edit.detail["before"]["text"], edit.detail["changed"]) == (
        "api:key-" + api_key.partition(".")[0],
        before.text,
        ["text", "topics"],
    )


def test_delete_removes_rows_and_documents_and_keeps_a_snapshot(api):
    ids = [
        o.id
        for o in memories_create(
            actor="test", records=[{"text": t} for t in ("one fact", "two facts", "three")]
        ).outcomes
    ]
    assert _loc(api.delete("/v1/long-term-memory")) == ["query", "memory_ids"]
    response = api.delete(f"/v1/long-term-memory?memory_ids={ids[0]}&memory_ids={ids[1]}&memory_ids=unknown")
    assert response.json() == {"status": "ok, deleted 2 memories", "deleted": 2}
    assert index.document_ids() == {ids[2]}
    assert list(MemoryRecord.objects.values_list("id", flat=True)) == [ids[2]]
    assert api.get(f"/v1/long-term-memory/{ids[0]}").status_code == 404
    snapshot = MemoryHistory.objects.get(memory_id=ids[0], action="deleted").detail["before"]
    assert snapshot["text"] == "one fact"
    body = api.post("/v1/long-term-memory/search", {"text": "fact", "search_mode": "keyword"}, format="json").json()
    assert body["total"] == 0


def test_forget_applies_age_inactivity_budget_and_pins_and_dry_run_deletes_nothing(api, settings):
    now = datetime.now(UTC)
    old = now - timedelta(days=100)
    memories_create(
        actor="test",
        records=[
            {"id": "old-idle", "text": "old idle", "namespace": "f", "created_at": old, "last_accessed": old},
            {"id": "old-used", "text": "old but used", "namespace": "f", "created_at": old, "last_accessed": now},
            {
                "id": "old-pinned",
                "text": "old pinned",
                "namespace": "f",
                "created_at": old,
                "last_accessed": old,
                "pinned": True,
            },
            {"id": "old-spared", "text": "old spared", "namespace": "f", "created_at": old, "last_accessed": old},
            {"id": "fresh", "text": "fresh", "namespace": "f"},
            {"id": "elsewhere", "text": "old elsewhere", "namespace": "g", "created_at": old, "last_accessed": old},
        ],
        deduplicate=False,
    )
    body = {"policy": {"max_age_days": 30, "max_inactive_days": 30}, "pinned_ids": ["old-spared"]}
    dry = api.post("/v1/long-term-memory/forget?namespace=f&dry_run=true", body, format="json").json()
    assert dry == {
        "scanned": 5,
        "deleted": 1,
        "deleted_ids": ["old-idle"],
        "dry_run": True,
        "remaining": 0,
        "max_per_call": settings.MEMORY_FORGET_MAX_PER_CALL,
    }
    assert MemoryRecord.objects.count() == 6
    real = api.post("/v1/long-term-memory/forget?namespace=f&dry_run=false", body, format="json").json()
    assert real["deleted_ids"] == ["old-idle"] and not MemoryRecord.objects.filter(id="old-idle").exists()
    assert "old-idle" not in index.document_ids()
    budget = api.post(
        "/v1/long-term-memory/forget?namespace=f", {"policy": {"budget": 1}, "dry_run": False}, format="json"
    ).json()
    assert budget["deleted_ids"] == ["old-used", "old-spared"]  # the freshest stays; pinned never go
    assert set(MemoryRecord.objects.values_list("id", flat=True)) == {"fresh", "old-pinned", "elsewhere"}
    assert _loc(api.post("/v1/long-term-memory/forget", {"policy": {}}, format="json")) == ["body", "policy"]


def test_compact_merges_stored_duplicates_into_the_oldest_and_records_each_merge(api):
    now = datetime.now(UTC)
    memories_create(
        actor="test",
        records=[
            {
                "id": "a1",
                "text": "Alice adopted a grey cat called Pixel",
                "namespace": "c",
                "created_at": now - timedelta(2),
            },
            {"id": "a2", "text": "alice adopted a grey cat called pixel", "namespace": "c", "created_at": now},
            {
                "id": "a3",
                "text": "Alice adopts the grey cat called Pixel!",
                "namespace": "c",
                "topics": ["pets"],
                "created_at": now - timedelta(1),
            },
            {"id": "b1", "text": "Bob prefers window seats on long flights", "namespace": "c"},
            {"id": "x1", "text": "Alice adopted a grey cat called Pixel", "namespace": "other"},
        ],
        deduplicate=False,
    )
    response = api.post("/v1/long-term-memory/compact?namespace=c")
    assert response.json() == {"status": "ok, 2 memories remaining after compaction", "merged": 2, "remaining": 2}
    assert set(MemoryRecord.objects.values_list("id", flat=True)) == {"a1", "b1", "x1"}
    assert MemoryRecord.objects.get(id="a1").topics == ["pets"]
    merges = MemoryHistory.objects.filter(memory_id="a1", action="merged")
    assert sorted((m.detail["merged"]["id"], m.detail["step"]) for m in merges) == [("a2", "hash"), ("a3", "semantic")]
    assert index.document_ids() == {"a1", "b1", "x1"}
