"""A tag value with surrounding whitespace or a DEL is refused: RediSearch trims tags
when it indexes them, so " acme" would be stored as "acme" and match acme's records,
and its tag syntax cannot take an escaped DEL (found by the filter property test)."""

import pytest

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "method, path, body, loc",
    [
        ("put", "/v1/working-memory/s1", {"messages": [], "namespace": " acme"}, ["body", "namespace"]),
        (
            "post",
            "/v1/long-term-memory/",
            {"memories": [{"text": "t", "user_id": "u1 "}]},
            ["body", "memories", 0, "user_id"],
        ),
        (
            "post",
            "/v1/long-term-memory/",
            {"memories": [{"text": "t", "topics": ["a\u00a0"]}]},
            ["body", "memories", 0, "topics", 0],
        ),
        ("post", "/v1/long-term-memory/search", {"namespace": {"eq": "acme "}}, ["body", "namespace", "eq"]),
        ("post", "/v1/long-term-memory/search", {"topics": {"any": ["ok", " x"]}}, ["body", "topics", "any"]),
        ("post", "/v1/long-term-memory/search", {"namespace": {"eq": "a\x7f"}}, ["body", "namespace", "eq"]),
        ("put", "/v1/working-memory/s1", {"messages": [], "user_id": "\x7f"}, ["body", "user_id"]),
    ],
    ids=[
        "session-namespace",
        "record-user",
        "record-topic-nbsp",
        "filter-eq",
        "filter-any",
        "filter-del",
        "session-del",
    ],
)
def test_a_tag_value_with_surrounding_whitespace_or_a_del_is_a_422_naming_it(api, method, path, body, loc):
    response = getattr(api, method)(path, body, format="json")
    assert response.status_code == 422, response.content
    [problem] = response.json()["detail"]
    assert problem["loc"] == loc
    assert "whitespace" in problem["msg"] or "control characters" in problem["msg"]
