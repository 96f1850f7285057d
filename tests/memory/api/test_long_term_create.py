"""POST /v1/long-term-memory/: each record's outcome and its possible conflicts in the
answer (the dedup steps themselves: tests/memory/services/test_long_term_create.py and
test_dedup_rules.py)."""

import pytest

from memory.models import MemoryRecord

pytestmark = pytest.mark.django_db(transaction=True)

CAT = "Alice adopted a grey cat called Pixel"
TENANT = {"namespace": "acme", "user_id": "u1"}
PASSPORT_2026 = "Clara's passport expires in March 2026."
PASSPORT_2029 = "Clara's passport expires in July 2029."


def test_the_api_create_reports_each_outcome_and_writes_approved_records(api):
    response = api.post(
        "/v1/long-term-memory/",
        {
            "memories": [
                {"text": CAT, "namespace": "acme", "topics": ["pets"]},
                {"text": CAT.lower(), "namespace": "acme"},
            ]
        },
        format="json",
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "ok"
    assert [m["outcome"] for m in body["memories"]] == ["created", "merged_hash"]
    assert body["memories"][0]["id"] == body["memories"][1]["id"]
    assert list(MemoryRecord.objects.values_list("status", "memory_type")) == [("approved", "semantic")]


def test_the_rest_create_response_lists_the_conflicts(api):
    body = {"memories": [{"text": PASSPORT_2029, **TENANT}]}
    (old,) = api.post("/v1/long-term-memory/", body, format="json").json()["memories"]
    body = {"memories": [{"text": PASSPORT_2026, **TENANT}]}
    (new,) = api.post("/v1/long-term-memory/", body, format="json").json()["memories"]
    assert (old["conflicts"], new["outcome"], new["conflicts"]) == ([], "created", [old["id"]])
