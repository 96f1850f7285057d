"""A session's memories, message ids, session id and TTL follow the same rules as the
long-term create and the MCP tools (memory.api.fields): what one door refuses, every door
refuses, with a 422 naming the field, and nothing is written (issue 20). The MCP side:
tests/mcp/test_working_memory_shared_rules.py."""

import pytest

from memory.api.fields import RECORD_ID_MAX_LENGTH, TAG_MAX_LENGTH

URL = "/v1/working-memory/s-1"


def put(api, body, url=URL):
    return api.put(url, body, format="json")


def memory(**fields):
    return {"text": "Alice likes tea", **fields}


@pytest.mark.parametrize(
    "body, loc",
    [
        # A 1 MB text fits the 2 MB body but not a record (MEMORY_MAX_TEXT_CHARS, 100,000).
        ({"memories": [memory(text="x" * 1_000_000)]}, ["body", "memories", 0, "text"]),
        ({"memories": [memory(text="nul \x00 inside")]}, ["body", "memories", 0, "text"]),
        ({"memories": [memory(id="r-1\nr-2")]}, ["body", "memories", 0, "id"]),
        ({"memories": [memory(id="r" * (RECORD_ID_MAX_LENGTH + 1))]}, ["body", "memories", 0, "id"]),
        ({"memories": [memory(topics=["travel", "a\nb"])]}, ["body", "memories", 0, "topics", 1]),
        ({"memories": [memory(topics=[" travel"])]}, ["body", "memories", 0, "topics", 0]),
        ({"memories": [memory(topics=["t" * (TAG_MAX_LENGTH + 1)])]}, ["body", "memories", 0, "topics", 0]),
        ({"memories": [memory(topics=[f"t{i}" for i in range(101)])]}, ["body", "memories", 0, "topics"]),
        ({"memories": [memory(entities=["Ali\tce"])]}, ["body", "memories", 0, "entities", 0]),
        ({"memories": [memory(entities=[7])]}, ["body", "memories", 0, "entities", 0]),
        ({"memories": [memory(extracted_from=["m-1\nm-2"])]}, ["body", "memories", 0, "extracted_from", 0]),
        ({"messages": [{"role": "user", "content": "hi", "id": "m\n1"}]}, ["body", "messages", 0, "id"]),
    ],
    ids=[
        "text-1mb",
        "text-nul",
        "id-newline",
        "id-long",
        "topic-newline",
        "topic-space",
        "topic-long",
        "topics-101",
        "entity-tab",
        "entity-int",
        "extracted-from-newline",
        "message-id-newline",
    ],
)
def test_a_memory_the_long_term_create_refuses_is_refused_in_the_session(api, redis_client, body, loc):
    response = put(api, body)
    assert response.status_code == 422, response.content
    assert [error["loc"] for error in response.json()["detail"]] == [loc]
    assert redis_client.dbsize() == 0


def test_the_text_limit_is_the_long_term_setting(api, settings):
    settings.MEMORY_MAX_TEXT_CHARS = 10
    refused = put(api, {"memories": [memory(text="x" * 11)]})
    assert refused.status_code == 422
    assert refused.json()["detail"][0]["msg"] == "Ensure this field has no more than 10 characters."
    assert put(api, {"memories": [memory(text="x" * 10)]}).status_code == 200


def test_a_valid_memory_is_stored_with_its_tags(api):
    body = put(api, {"memories": [memory(id="r-1", topics=["travel"], entities=["Alice"])]}).json()
    assert [(m["id"], m["topics"], m["entities"]) for m in body["memories"]] == [("r-1", ["travel"], ["Alice"])]


@pytest.mark.parametrize("method", ["get", "put", "delete"])
@pytest.mark.parametrize(
    "session_id, msg, kind",
    [
        ("a%0Ab", "Must not contain control characters.", "invalid"),
        ("%20a", "Must not start or end with whitespace.", "invalid"),
        ("s" * 201, "Ensure this field has no more than 200 characters.", "max_length"),
    ],
    ids=["newline", "leading-space", "long"],
)
def test_the_path_session_id_is_checked_as_the_mcp_tools_check_it(api, redis_client, method, session_id, msg, kind):
    response = getattr(api, method)(f"/v1/working-memory/{session_id}", {"messages": []}, format="json")
    assert response.status_code == 422
    assert response.json()["detail"] == [{"loc": ["path", "session_id"], "msg": msg, "type": kind}]
    assert redis_client.dbsize() == 0


def test_a_ttl_over_the_maximum_is_refused_naming_the_setting(api, redis_client, settings):
    settings.WORKING_MEMORY_MAX_TTL_SECONDS = 3600
    response = put(api, {"ttl_seconds": 3601})
    assert response.status_code == 422
    assert response.json()["detail"] == [
        {
            "loc": ["body", "ttl_seconds"],
            "msg": "At most 3600 seconds are accepted (WORKING_MEMORY_MAX_TTL_SECONDS).",
            "type": "max_value",
        }
    ]
    assert redis_client.dbsize() == 0
    assert put(api, {"ttl_seconds": 3600}).json()["ttl_seconds"] == 3600
    assert 0 < redis_client.pttl("wm:s::s-1") <= 3_600_000


def test_the_default_maximum_ttl_is_a_year(api):
    assert put(api, {"ttl_seconds": 365 * 24 * 3600 + 1}).status_code == 422
    assert put(api, {"ttl_seconds": 365 * 24 * 3600}).status_code == 200


def test_a_setting_changed_after_a_put_holds_for_the_next_put(api, settings):
    # The serializers are bound once per thread (memory.api.working_memory.bound): a
    # setting their fields read must still hold from the next request on.
    assert put(api, {"ttl_seconds": 3601}).status_code == 200
    settings.WORKING_MEMORY_MAX_TTL_SECONDS = 3600
    assert put(api, {"ttl_seconds": 3601}).json()["detail"][0]["msg"] == (
        "At most 3600 seconds are accepted (WORKING_MEMORY_MAX_TTL_SECONDS)."
    )
