"""JWT mode (memory.api.jwt_auth) on the REST API: tokens of tests/jwt_issuer.py's stand-in
identity provider; issuer, audience, exp and nbf are checked, and the claims name the scope.
The same over MCP: tests/mcp/test_auth_jwt.py."""

import time

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from rest_framework.test import APIClient

from memory.models import TenantNamespace
from memory.services.api_keys import ApiKeyError, api_key_create
from tests.helpers import db_rows, redis_state
from tests.jwt_issuer import token

pytestmark = pytest.mark.django_db(transaction=True)

SESSION = "/v1/working-memory/s-1"
BODY = {"messages": [{"role": "user", "content": "hello"}]}


def client(bearer: str) -> APIClient:
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {bearer}")
    return api


def test_a_valid_jwt_acts_in_the_namespaces_its_claims_name(jwks, signing_key):
    api = client(token(signing_key, permissions=["read", "write"]))
    put = api.put(f"{SESSION}?namespace=support", BODY, format="json")
    assert put.status_code == 200, put.content
    assert api.get(SESSION).json()["messages"][0]["content"] == "hello"  # its only namespace is the default
    other = api.get(f"{SESSION}?namespace=sales")
    assert (other.status_code, other.json()) == (
        403,
        {"detail": "Namespace 'sales' is outside this credential's scope (namespaces support)."},
    )
    assert api.delete(f"{SESSION}?namespace=support").status_code == 403  # no delete permission
    created = api.post("/v1/long-term-memory/", {"memories": [{"id": "r", "text": "Alice likes tea"}]}, format="json")
    assert created.status_code == 200
    assert [e["actor"] for e in api.get("/v1/long-term-memory/r/history").json()["history"]] == ["api:jwt-acme/agent-7"]


def test_user_ids_in_the_claims_bind_the_caller_to_them(jwks, signing_key):
    api = client(token(signing_key, user_ids=["u-1"]))
    assert api.put(SESSION, BODY, format="json").json()["user_id"] == "u-1"
    assert api.put(f"{SESSION}?user_id=u-2", BODY, format="json").status_code == 403


@pytest.mark.parametrize(
    "make, detail",
    [
        (lambda k: token(k, exp=int(time.time()) - 120), "JWT expired."),
        (lambda k: token(k, nbf=int(time.time()) + 600), "JWT not valid yet (nbf)."),
        (lambda k: token(k, aud="someone-else"), "Invalid JWT: Audience doesn't match"),
        (lambda k: token(k, iss="https://evil.example/"), "Invalid JWT: Invalid issuer"),
        (lambda k: token(k, exp=None), 'Invalid JWT: Token is missing the "exp" claim'),
        (lambda k: token(rsa.generate_private_key(public_exponent=65537, key_size=2048)), "Invalid JWT: Signature"),
        (lambda k: token(k, kid="k-unknown"), "Invalid JWT: Unable to find a signing key that matches"),
        (lambda k: token(k, tenant=None), "JWT claim 'tenant' (the tenant) is missing."),
        (lambda k: token(k, namespaces=["*"]), "JWT claim 'namespaces' must list the namespaces"),
        (lambda k: token(k, namespaces="support"), "JWT claim 'namespaces' must be a list of non-empty strings."),
        (lambda k: token(k, permissions=["admin"]), "JWT permissions ['admin'] are not read, write, delete, review."),
    ],
    ids=["expired", "not-yet", "audience", "issuer", "no-exp", "other-key", "unknown-kid", "no-tenant", "star",
         "namespaces-string", "permissions"],
)  # fmt: skip
def test_a_refused_jwt_is_a_401_saying_why_and_changes_nothing(jwks, signing_key, make, detail):
    api = client(make(signing_key))
    redis_before, db_before = redis_state(), db_rows()
    response = api.put(f"{SESSION}?namespace=support", BODY, format="json")
    assert response.status_code == 401, response.content
    assert response.json()["detail"].startswith(detail)
    assert (redis_state(), db_rows()) == (redis_before, db_before)


FOREIGN = "Namespaces support belong to another tenant. A JWT acts only in its own tenant's namespaces."


def test_a_jwt_claims_its_namespaces_on_first_use_and_another_tenants_jwt_is_refused(jwks, signing_key):
    acme = client(token(signing_key))
    assert acme.put(f"{SESSION}?namespace=support", BODY, format="json").status_code == 200
    assert list(TenantNamespace.objects.values_list("namespace", "tenant", "claimed_by")) == [
        ("support", "acme", "api:jwt-acme/agent-7")
    ]
    redis_before, db_before = redis_state(), db_rows()
    globex = client(token(signing_key, tenant="globex", sub="intruder", namespaces=["support", "ops"]))
    read = globex.get(f"{SESSION}?namespace=support")
    write = globex.put(f"{SESSION}?namespace=ops", BODY, format="json")
    assert [(r.status_code, r.json()) for r in (read, write)] == [(403, {"detail": FOREIGN})] * 2
    assert (redis_state(), db_rows()) == (redis_before, db_before)  # "ops" not claimed; nothing written
    with pytest.raises(ApiKeyError, match="Namespaces support belong to another tenant."):
        api_key_create(name="k", tenant="globex", namespaces=["support"], actor="test")
    again = acme.get(f"{SESSION}?namespace=support")  # the owner still reads its session
    assert [m["content"] for m in again.json()["messages"]] == ["hello"]


def test_a_jwt_naming_a_namespace_another_tenants_key_claimed_is_refused(jwks, signing_key):
    api_key_create(name="other", tenant="globex", namespaces=["support"], actor="test")
    api = client(token(signing_key))
    redis_before, db_before = redis_state(), db_rows()
    response = api.put(f"{SESSION}?namespace=support", BODY, format="json")
    assert (response.status_code, response.json()) == (403, {"detail": FOREIGN})
    assert (redis_state(), db_rows()) == (redis_before, db_before)


def test_without_jwt_settings_a_jwt_is_refused(signing_key):
    response = client(token(signing_key)).get(SESSION)
    assert (response.status_code, response.json()) == (
        401,
        {"detail": "JWTs are not accepted here (JWT_JWKS_URL is not set)."},
    )
