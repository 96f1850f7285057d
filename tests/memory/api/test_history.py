"""A record's history over REST, undo over REST, and PATCH of `status` as a review decision."""

import pytest

from memory.models import MemoryHistory, MemoryRecord
from memory.services.long_term import memories_create

pytestmark = pytest.mark.django_db(transaction=True)

TENANT = {"namespace": "h", "user_id": "alice"}


def keyword_ids(api, text: str) -> list[str]:
    body = {"text": text, "search_mode": "keyword", "namespace": {"eq": "h"}}
    return [m["id"] for m in api.post("/v1/long-term-memory/search", body, format="json").json()["memories"]]


@pytest.mark.parametrize(
    ("status", "action", "found"), [("approved", "approved", True), ("rejected", "rejected", False)]
)
def test_patching_status_is_recorded_as_the_decision_and_search_follows(api, api_key, status, action, found):
    memories_create(
        records=[{"id": "p", "text": "Alice plays chess on Sundays", **TENANT}], status="pending", actor="t"
    )
    response = api.patch("/v1/long-term-memory/p", {"status": status}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["status"] == status
    assert keyword_ids(api, "chess") == (["p"] if found else [])
    entry = MemoryHistory.objects.get(memory_id="p", action=action)
    assert (entry.actor, entry.reason) == ("api:key-" + api_key.partition(".")[0], f"{action} through the API")


def test_an_unknown_status_is_a_422_naming_the_field_and_changes_nothing(api):
    memories_create(records=[{"id": "p", "text": "Alice plays chess", **TENANT}], status="pending", actor="t")
    response = api.patch("/v1/long-term-memory/p", {"status": "maybe"}, format="json")
    assert response.status_code == 422
    assert [e["loc"] for e in response.json()["detail"]] == [["body", "status"]]
    assert MemoryRecord.objects.get(pk="p").status == "pending"
    assert MemoryHistory.objects.filter(memory_id="p").count() == 1


def test_history_lists_every_change_newest_first_with_its_actor_also_after_a_delete(api, api_key):
    key_actor = "api:key-" + api_key.partition(".")[0]  # the key's public prefix, never its secret
    assert (
        api.post(
            "/v1/long-term-memory/",
            {"memories": [{"id": "r", "text": "Alice owns a red bike", **TENANT}]},
            format="json",
        ).status_code
        == 200
    )
    api.patch("/v1/long-term-memory/r", {"text": "Alice owns a blue bike"}, format="json")
    api.delete("/v1/long-term-memory?memory_ids=r")

    response = api.get("/v1/long-term-memory/r/history")
    assert response.status_code == 200
    body = response.json()
    assert (body["memory_id"], body["total"]) == ("r", 3)
    assert [(e["action"], e["actor"], e["undoable"]) for e in body["history"]] == [
        ("deleted", key_actor, True),
        ("edited", key_actor, False),
        ("created", key_actor, False),
    ]
    assert body["history"][1]["detail"]["after"]["text"] == "Alice owns a blue bike"
    assert api_key.partition(".")[2] not in response.content.decode()


def test_history_of_an_unknown_record_is_a_404(api):
    assert api.get("/v1/long-term-memory/nope/history").status_code == 404


def test_undo_of_a_merge_over_rest_brings_the_absorbed_record_back(api):
    memories_create(records=[{"id": "a", "text": "Alice likes green tea", **TENANT}], actor="t")
    body = {"memories": [{"id": "b", "text": "alice likes  GREEN tea", "entities": ["Alice"], **TENANT}]}
    (outcome,) = api.post("/v1/long-term-memory/", body, format="json").json()["memories"]
    assert (outcome["id"], outcome["outcome"]) == ("a", "merged_hash")
    assert keyword_ids(api, "green tea") == ["a"]

    response = api.post(f"/v1/long-term-memory/history/{outcome['history_id']}/undo")
    assert response.status_code == 200, response.content
    assert (response.json()["memory"]["id"], response.json()["memory"]["entities"]) == ("b", ["Alice"])
    assert sorted(keyword_ids(api, "green tea")) == ["a", "b"]
    assert MemoryRecord.objects.get(pk="a").entities == []

    again = api.post(f"/v1/long-term-memory/history/{outcome['history_id']}/undo")
    assert again.status_code == 409
    assert "already undone" in again.json()["detail"]
    assert MemoryRecord.objects.count() == 2


def test_undo_of_an_unknown_entry_is_a_404_and_of_an_edit_a_409(api):
    memories_create(records=[{"id": "a", "text": "Alice likes tea", **TENANT}], actor="t")
    assert api.post("/v1/long-term-memory/history/424242/undo").status_code == 404
    created = MemoryHistory.objects.get(memory_id="a")
    response = api.post(f"/v1/long-term-memory/history/{created.pk}/undo")
    assert response.status_code == 409
    assert response.json() == {"detail": "a created entry cannot be undone; edit the record"}
