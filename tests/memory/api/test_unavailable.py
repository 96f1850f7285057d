"""Redis not answering is a 503 JSON naming it on every route that needs it, never a
500 page (memory.api.errors); the key is authenticated before, from the DB."""

import pytest

from tests.helpers import dead_redis, server_redis_at

pytestmark = pytest.mark.django_db

TURN = {"messages": [{"id": "m0", "role": "user", "content": "hello"}]}


@pytest.mark.parametrize(
    "method, path, body",
    [
        ("put", "/v1/working-memory/s1", TURN),
        ("get", "/v1/working-memory/s1", None),
        ("get", "/v1/working-memory/", None),
        ("post", "/v1/long-term-memory/search", {"text": "hello"}),
    ],
    ids=["put-session", "get-session", "list-sessions", "search"],
)
def test_a_route_that_needs_redis_answers_503_json_naming_it_while_redis_is_down(api, method, path, body):
    with server_redis_at(dead_redis()):
        response = getattr(api, method)(path, body, format="json")
    assert response.status_code == 503, response.content
    assert response["Content-Type"] == "application/json"
    assert response["Retry-After"] == "5"
    assert response.json() == {
        "detail": "Service unavailable: redis is not answering; retry shortly.",
        "down": {"redis": "redis is not answering"},
    }
