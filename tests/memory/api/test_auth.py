"""AUTH_MODE=token (memory.api.auth): static bearer tokens from AUTH_TOKENS guard every
route but /v1/health; a refused request is a 401 and writes nothing. AUTH_MODE=disabled
(the default) checks nothing."""

import pytest

from memory.models import MemoryRecord
from memory.services.long_term import memories_create
from tests.helpers import db_rows, put_session, queued_messages, redis_state

pytestmark = pytest.mark.django_db(transaction=True)

TOKENS = ["tok-alpha", "tok-beta"]
ROUTES = [
    ("get", "/v1/working-memory/", None),
    ("get", "/v1/working-memory/s-1?namespace=ns", None),
    ("put", "/v1/working-memory/s-1?namespace=ns", {"messages": [{"role": "user", "content": "overwritten"}]}),
    ("delete", "/v1/working-memory/s-1?namespace=ns", None),
    ("post", "/v1/long-term-memory/", {"memories": [{"text": "Mallory was here", "namespace": "ns"}]}),
    ("post", "/v1/long-term-memory/search", {"text": "tea", "namespace": {"eq": "ns"}}),
    ("get", "/v1/long-term-memory/r-1", None),
    ("patch", "/v1/long-term-memory/r-1", {"text": "Alice hates tea"}),
    ("delete", "/v1/long-term-memory?memory_ids=r-1", None),
    ("post", "/v1/long-term-memory/forget?namespace=ns", {"policy": {"max_age_days": 0}}),
    ("post", "/v1/long-term-memory/compact?namespace=ns", None),
]
ROUTE_IDS = [f"{method}-{path.split('?')[0].removeprefix('/v1/')}" for method, path, _ in ROUTES]


@pytest.fixture
def stored(api, settings):
    """A session and a record, written before the server switches to token mode."""
    put_session(api, "s-1", [{"role": "user", "content": "kept"}], namespace="ns")
    memories_create(actor="test", records=[{"id": "r-1", "text": "Alice likes green tea", "namespace": "ns"}])
    settings.AUTH_MODE, settings.AUTH_TOKENS = "token", TOKENS


def call(api, method, path, body, token=None, scheme="Bearer"):
    headers = {"HTTP_AUTHORIZATION": f"{scheme} {token}"} if token else {}
    return getattr(api, method)(path, body, format="json", **headers)


@pytest.mark.parametrize("method, path, body", ROUTES, ids=ROUTE_IDS)
@pytest.mark.parametrize(
    "token, scheme, detail",
    [
        (None, "Bearer", "Authentication credentials were not provided."),
        ("tok-wrong", "Bearer", "Invalid bearer token."),
        ("tok-alph", "Bearer", "Invalid bearer token."),  # a prefix of a real token
        ("tok-alpha", "Basic", "Authentication credentials were not provided."),  # not a bearer token
    ],
    ids=["no-token", "wrong-token", "token-prefix", "other-scheme"],
)
def test_a_request_without_a_valid_token_is_401_and_changes_nothing(
    api, stored, method, path, body, token, scheme, detail
):
    redis_before, db_before = redis_state(), db_rows()
    response = call(api, method, path, body, token, scheme)
    assert response.status_code == 401, response.content
    assert response.json() == {"detail": detail}
    assert response["WWW-Authenticate"] == 'Bearer realm="memory"'
    assert redis_state() == redis_before
    assert db_rows() == db_before


@pytest.mark.parametrize("token", TOKENS)
def test_each_configured_token_is_let_through(api, stored, redis_client, token):
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    promotions_before = len(queued_messages(redis_client, "promote_session"))
    body = put_session(api, "s-2", [{"role": "user", "content": "hello"}], namespace="ns")
    assert [m["content"] for m in body["messages"]] == ["hello"]
    assert len(queued_messages(redis_client, "promote_session")) == promotions_before + 1
    assert api.get("/v1/working-memory/s-1?namespace=ns").json()["messages"][0]["content"] == "kept"
    found = api.post(
        "/v1/long-term-memory/search", {"text": "green tea", "namespace": {"eq": "ns"}}, format="json"
    ).json()
    assert [m["id"] for m in found["memories"]] == ["r-1"]
    assert api.patch("/v1/long-term-memory/r-1", {"text": "Alice likes black tea"}, format="json").status_code == 200
    assert MemoryRecord.objects.get().text == "Alice likes black tea"


def test_health_needs_no_token(api, stored):
    assert api.get("/v1/health").status_code == 200


def test_with_auth_disabled_no_token_is_needed_and_any_token_is_ignored(api, settings):
    settings.AUTH_MODE, settings.AUTH_TOKENS = "disabled", TOKENS
    assert api.get("/v1/working-memory/").status_code == 200
    assert call(api, "get", "/v1/working-memory/", None, token="tok-wrong").status_code == 200
