"""A record's context: searched and embedded with its text, returned beside it, editable,
and never part of the text. A reply like "Yes, last Saturday!" is found by the question
it answers."""

import pytest

from memory.models import MemoryHistory, MemoryRecord
from memory.services.long_term import memory_hash

pytestmark = pytest.mark.django_db(transaction=True)  # documents are indexed on commit

REPLY = {
    "id": "reply",
    "text": "Sam: Yes, last Saturday. The kids loved it!",
    "context": "Alex: Did you ever take the kids to the aquarium?",
    "namespace": "family",
}
OTHERS = [
    {"id": "dinner", "text": "Sam: We had pasta for dinner with the kids.", "namespace": "family"},
    {"id": "work", "text": "Sam: Work was busy this week.", "namespace": "family"},
    {"id": "elsewhere", "text": "Sam: The aquarium was closed.", "namespace": "other"},
]


@pytest.fixture(autouse=True)
def family_records(api):
    response = api.post("/v1/long-term-memory/", {"memories": [REPLY, *OTHERS], "deduplicate": False}, format="json")
    assert response.status_code == 200, response.content


def search(api, text, mode, namespace="family"):
    response = api.post(
        "/v1/long-term-memory/search",
        {"text": text, "search_mode": mode, "namespace": {"eq": namespace}},
        format="json",
    )
    assert response.status_code == 200, response.content
    return response.json()


@pytest.mark.parametrize("mode", ["keyword", "semantic", "hybrid"])
def test_a_reply_is_found_by_the_words_of_the_turn_it_answers(api, mode):
    found = search(api, "When did Sam take the kids to the aquarium?", mode)
    assert found["memories"][0]["id"] == "reply"
    assert (found["memories"][0]["text"], found["memories"][0]["context"]) == (REPLY["text"], REPLY["context"])


def test_context_is_returned_apart_from_the_text_and_does_not_change_the_hash(api):
    record = api.get("/v1/long-term-memory/reply").json()
    assert (record["text"], record["context"]) == (REPLY["text"], REPLY["context"])
    assert record["memory_hash"] == memory_hash(REPLY["text"])
    assert api.get("/v1/long-term-memory/dinner").json()["context"] == ""


def test_a_context_edit_re_embeds_and_moves_the_document_but_keeps_the_hash(api):
    before = MemoryRecord.objects.get(id="reply")
    response = api.patch("/v1/long-term-memory/reply", {"context": "Alex: How was the zoo trip?"}, format="json")
    assert response.status_code == 200, response.content
    after = MemoryRecord.objects.get(id="reply")
    assert (after.text, after.context) == (REPLY["text"], "Alex: How was the zoo trip?")
    assert after.memory_hash == before.memory_hash
    assert after.embedding != before.embedding
    assert search(api, "aquarium", "keyword")["total"] == 0
    assert [m["id"] for m in search(api, "zoo", "keyword")["memories"]] == ["reply"]
    history = MemoryHistory.objects.get(memory_id="reply", action="edited")
    assert (history.reason, history.detail["before"]["context"]) == ("changed context", REPLY["context"])


def test_a_null_context_edit_clears_it(api):
    response = api.patch("/v1/long-term-memory/reply", {"context": None}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["context"] == ""
    assert search(api, "aquarium", "keyword")["total"] == 0
