"""Bad input gets a 4xx naming the field, and nothing is written (DRF test client)."""

import json
from datetime import UTC, datetime, timedelta

import pytest
from rest_framework.test import APIClient

from memory import tokens
from memory.models import MemoryRecord, SourceMessage
from tests.factories import conversation

URL = "/v1/working-memory/s-1"


def put(api, body, query=""):
    return api.put(f"{URL}{query}", body, format="json")


def future(minutes: float) -> str:
    return (datetime.now(UTC) + timedelta(minutes=minutes)).isoformat()


def message(**fields):
    return {"role": "user", "content": "hello", **fields}


@pytest.mark.parametrize(
    "body, loc",
    [
        ({"messages": [message(role=7)]}, ["body", "messages", 0, "role"]),
        ({"messages": [{"content": "no role"}]}, ["body", "messages", 0, "role"]),
        ({"messages": [message(content=42)]}, ["body", "messages", 0, "content"]),
        ({"messages": [message(content=["a", "list"])]}, ["body", "messages", 0, "content"]),
        ({"messages": [message(content="   ")]}, ["body", "messages", 0, "content"]),
        (lambda: {"messages": [message(), message(created_at=future(6))]}, ["body", "messages", 1, "created_at"]),
        ({"messages": [message(created_at="yesterday")]}, ["body", "messages", 0, "created_at"]),
        ({"messages": [message(id=5)]}, ["body", "messages", 0, "id"]),
        ({"messages": [message(id="a"), message(id="a")]}, ["body", "messages", 1, "id"]),
        (
            {"messages": [message(discrete_memory_extracted="yes")]},
            ["body", "messages", 0, "discrete_memory_extracted"],
        ),
        ({"messages": {"role": "user"}}, ["body", "messages"]),
        ({"messages": ["just text"]}, ["body", "messages", 0]),
        ({"ttl_seconds": 0}, ["body", "ttl_seconds"]),
        ({"ttl_seconds": "soon"}, ["body", "ttl_seconds"]),
        ({"data": ["not", "an", "object"]}, ["body", "data"]),
        ({"context": 12}, ["body", "context"]),
        ({"user_id": 12}, ["body", "user_id"]),
        ({"namespace": "n" * 201}, ["body", "namespace"]),
        ({"memories": [{"id": "r-1"}]}, ["body", "memories", 0, "text"]),
        ({"memories": [{"text": "x", "memory_type": "dream"}]}, ["body", "memories", 0, "memory_type"]),
        ({"memories": [{"text": "x", "topics": "travel"}]}, ["body", "memories", 0, "topics"]),
        ({"long_term_memory_strategy": {"strategy": "guess"}}, ["body", "long_term_memory_strategy", "strategy"]),
        (["a", "list"], ["body"]),
    ],
    ids=[
        "role-int",
        "role-missing",
        "content-int",
        "content-list",
        "content-blank",
        "created-at-future",
        "created-at-garbage",
        "id-int",
        "id-duplicate",
        "extracted-flag",
        "messages-object",
        "message-string",
        "ttl-zero",
        "ttl-text",
        "data-list",
        "context-int",
        "user-int",
        "namespace-long",
        "memory-no-text",
        "memory-type",
        "memory-topics",
        "strategy",
        "body-list",
    ],
)
def test_bad_body_is_422_naming_the_field_and_writes_nothing(api, redis_client, body, loc):
    response = put(api, body() if callable(body) else body)  # a callable: the body depends on the clock
    assert response.status_code == 422, response.content
    assert [error["loc"] for error in response.json()["detail"]] == [loc]
    assert redis_client.dbsize() == 0


def test_every_bad_message_is_named_not_only_the_first(api, redis_client):
    response = put(api, {"messages": [message(role=1), message(), message(content=None)]})
    assert response.status_code == 422
    assert [e["loc"] for e in response.json()["detail"]] == [
        ["body", "messages", 0, "role"],
        ["body", "messages", 2, "content"],
    ]
    assert redis_client.dbsize() == 0


def test_a_future_created_at_names_the_limit(api):
    response = put(api, {"messages": [message(created_at=future(10))]})
    assert "more than 5 minutes in the future" in response.json()["detail"][0]["msg"]


def test_created_at_a_little_ahead_is_clock_skew_and_accepted(api):
    response = put(api, {"messages": [message(created_at=future(4))]})
    assert response.status_code == 200


@pytest.mark.parametrize(
    "query, loc",
    [
        ("?model_name=gpt-unknown", ["query", "model_name"]),
        ("?context_window_max=0", ["query", "context_window_max"]),
        ("?context_window_max=many", ["query", "context_window_max"]),
        ("?user_id=" + "u" * 201, ["query", "user_id"]),
    ],
    ids=["model-unknown", "window-zero", "window-text", "user-long"],
)
def test_bad_put_query_is_422_naming_the_parameter(api, redis_client, query, loc):
    response = put(api, {"messages": [message()]}, query)
    assert response.status_code == 422
    assert [e["loc"] for e in response.json()["detail"]] == [loc]
    assert redis_client.dbsize() == 0


@pytest.mark.parametrize(
    "url, loc",
    [
        ("/v1/working-memory/?limit=0", ["query", "limit"]),
        ("/v1/working-memory/?limit=101", ["query", "limit"]),
        ("/v1/working-memory/?offset=-1", ["query", "offset"]),
        (f"{URL}?recent_messages_limit=0", ["query", "recent_messages_limit"]),
        (f"{URL}?model_name=gpt-unknown", ["query", "model_name"]),
        ("/v1/working-memory/" + "s" * 201, ["path", "session_id"]),
    ],
    ids=["limit-zero", "limit-over-100", "offset-negative", "recent-zero", "model-unknown", "session-id-long"],
)
def test_bad_get_parameters_are_422_naming_them(api, url, loc):
    response = api.get(url)
    assert response.status_code == 422
    assert [e["loc"] for e in response.json()["detail"]] == [loc]


def test_malformed_json_is_422_and_writes_nothing(api, redis_client):
    response = api.generic("PUT", URL, '{"messages": [', content_type="application/json")
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body"]
    assert response.json()["detail"][0]["type"] == "json_invalid"
    assert redis_client.dbsize() == 0


def test_ten_megabytes_of_content_is_413_naming_the_limit(api, redis_client):
    response = put(api, {"messages": [message(content="x" * (10 * 1024 * 1024))]})
    assert response.status_code == 413
    detail = response.json()["detail"][0]
    assert detail["loc"] == ["body"] and "WORKING_MEMORY_MAX_BODY_BYTES" in detail["msg"]
    assert redis_client.dbsize() == 0


def test_ten_thousand_messages_is_422_naming_the_limit(api, redis_client):
    response = put(api, {"messages": [message(content=f"m{i}") for i in range(10_000)]})
    assert response.status_code == 422
    detail = response.json()["detail"][0]
    assert detail["loc"] == ["body", "messages"] and "at most 2000" in detail["msg"]
    assert redis_client.dbsize() == 0


def test_the_limits_are_settings(api, settings):
    settings.WORKING_MEMORY_MAX_MESSAGES = 2
    settings.WORKING_MEMORY_MAX_BODY_BYTES = 300
    assert put(api, {"messages": [message(), message(), message()]}).status_code == 422
    assert put(api, {"messages": [message(content="y" * 400)]}).status_code == 413
    assert put(api, {"messages": [message(), message()]}).status_code == 200


def test_a_put_and_a_get_make_no_database_query(api_key, django_assert_num_queries):
    client = APIClient(raise_request_exception=True)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key}")
    client.get("/v1/working-memory/")  # the key's first use reads its row and notes the use
    with django_assert_num_queries(0):  # then the key comes from the auth cache
        assert put(client, {"messages": [message()], "user_id": "alice"}, "?context_window_max=100").status_code == 200
        assert client.get(f"{URL}?model_name=gpt-4o").status_code == 200


def test_recent_messages_limit_returns_the_newest_and_counts_only_them(api):
    put(api, {"messages": [message(content=f"turn {i}") for i in range(5)]})
    body = api.get(f"{URL}?recent_messages_limit=2").json()
    assert [m["content"] for m in body["messages"]] == ["turn 3", "turn 4"]
    assert body["tokens"] == 2 * tokens.count("user: turn 3")


def test_get_with_a_window_returns_the_newest_turns_that_fit(api):
    contents = ["alpha " * 30, "beta " * 30, "gamma " * 30]
    put(api, {"messages": [message(content=c) for c in contents]})
    per_turn = [tokens.count_message("user", c) for c in contents]
    window = per_turn[1] + per_turn[2]
    body = api.get(f"{URL}?context_window_max={window}").json()
    assert [m["content"] for m in body["messages"]] == contents[1:]
    assert body["context_percentage_total_used"] == pytest.approx(100.0)
    # Even a window smaller than the newest turn returns that turn.
    assert [m["content"] for m in api.get(f"{URL}?context_window_max=1").json()["messages"]] == contents[2:]


def test_stored_document_is_exactly_what_get_returns(api, redis_client):
    written = put(
        api, {"messages": [message(id="m-1", created_at="2025-01-01T10:00:00+02:00")], "namespace": "ns"}
    ).json()
    read = api.get(f"{URL}?namespace=ns").json()
    assert read == {**written, "new_session": None}
    assert written["messages"][0]["created_at"] == "2025-01-01T08:00:00Z"  # normalised to UTC
    stored = json.loads(redis_client.hget("wm:s:ns:s-1", "doc"))
    assert stored["messages"] == written["messages"]


def test_a_session_memory_id_longer_than_a_record_id_is_refused_and_nothing_is_written(client, redis_client, db):
    # 128 characters are promoted as the record's id: tests/memory/services/test_promotion_pipeline.py.
    too_long = [{"id": "r" * 129, "text": "Alice's sister is Anna"}]
    body = {"namespace": "travel", "user_id": "alice", "messages": conversation(1), "memories": too_long}
    response = client.put("/v1/working-memory/s-1", body, content_type="application/json")
    assert response.status_code == 422
    assert [e["loc"] for e in response.json()["detail"]] == [["body", "memories", 0, "id"]]
    assert redis_client.keys("*") == []  # no session, no debounce window, no message
    assert SourceMessage.objects.count() == 0 and MemoryRecord.objects.count() == 0
