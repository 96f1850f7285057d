"""JWT mode (memory.api.jwt_auth): a key pair made here, its JWKS served by a local HTTP
server; issuer, audience, exp and nbf are checked, and the claims name the scope."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa
from rest_framework.test import APIClient

from memory.models import TenantNamespace
from memory.services.api_keys import ApiKeyError, api_key_create
from tests.helpers import child_env, db_rows, redis_state, stop_process
from tests.mcp.client import start_server

pytestmark = pytest.mark.django_db(transaction=True)

ISSUER, AUDIENCE = "https://idp.example.test/", "memory-server"
SESSION = "/v1/working-memory/s-1"
BODY = {"messages": [{"role": "user", "content": "hello"}]}


def _jwk(private_key, kid: str) -> dict:
    return {**json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(private_key.public_key())), "kid": kid, "alg": "RS256"}


@pytest.fixture(scope="module")
def signing_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def jwks(settings, signing_key):
    """A JWKS endpoint on a free local port, and the settings that point at it."""
    document = json.dumps({"keys": [_jwk(signing_key, "k1")]}).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(document)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    settings.JWT_JWKS_URL = f"http://127.0.0.1:{server.server_port}/.well-known/jwks.json"
    settings.JWT_ISSUER, settings.JWT_AUDIENCE = ISSUER, AUDIENCE
    yield
    server.shutdown()
    server.server_close()


def token(signing_key, kid="k1", **claims) -> str:
    now = int(time.time())
    payload = {"iss": ISSUER, "aud": AUDIENCE, "sub": "agent-7", "exp": now + 300, "nbf": now - 5}
    payload.update(tenant="acme", namespaces=["support"])
    payload.update(claims)
    payload = {k: v for k, v in payload.items() if v is not None}
    return jwt.encode(payload, signing_key, algorithm="RS256", headers={"kid": kid})


MCP_INIT = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {}}


def mcp_headers(bearer: str) -> dict:
    return {"Accept": "application/json, text/event-stream", "Authorization": f"Bearer {bearer}"}


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


@pytest.mark.multiprocess
def test_over_mcp_a_jwt_claims_as_mcp_and_another_tenant_is_refused_with_403(jwks, signing_key, settings):
    env = child_env(JWT_JWKS_URL=settings.JWT_JWKS_URL, JWT_ISSUER=ISSUER, JWT_AUDIENCE=AUDIENCE)
    proc, url = start_server(env)
    try:
        claimed = requests.post(f"{url}/mcp", json=MCP_INIT, headers=mcp_headers(token(signing_key)), timeout=30)
        intruder = token(signing_key, tenant="globex", namespaces=["support"])
        refused = requests.post(f"{url}/mcp", json=MCP_INIT, headers=mcp_headers(intruder), timeout=30)
    finally:
        stop_process(proc)
    assert claimed.status_code == 200
    assert list(TenantNamespace.objects.values_list("namespace", "tenant", "claimed_by")) == [
        ("support", "acme", "mcp:jwt-acme/agent-7")
    ]
    assert (refused.status_code, refused.json()) == (403, {"detail": FOREIGN})
    assert "WWW-Authenticate" not in refused.headers  # the credential is valid; its scope is refused


def test_without_jwt_settings_a_jwt_is_refused(signing_key):
    response = client(token(signing_key)).get(SESSION)
    assert (response.status_code, response.json()) == (
        401,
        {"detail": "JWTs are not accepted here (JWT_JWKS_URL is not set)."},
    )
