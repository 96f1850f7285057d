"""API keys on the REST doors (memory.api.auth): AUTH_MODE=required is the default; a
refused credential is a 401 that says why and changes nothing; permissions, rate limits,
last use, revocation, the dev key, and AUTH_MODE=disabled (only on loopback: see
tests/deployment/test_bind_check.py)."""

import os
import stat
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone
from rest_framework.test import APIClient

from memory.models import ApiKey, TenantNamespace
from memory.services.api_keys import ApiKeyError, api_key_create, api_key_revoke
from tests.helpers import db_rows, put_session, redis_state

pytestmark = pytest.mark.django_db(transaction=True)

PUT_BODY = {"messages": [{"role": "user", "content": "overwritten"}]}
SESSION = "/v1/working-memory/s-1?namespace=ns"


def new_key(**fields) -> tuple[ApiKey, str]:
    values = {"name": "k", "tenant": "acme", "namespaces": ["ns"], "permissions": ["read", "write", "delete"]}
    return api_key_create(actor="test", **{**values, **fields})


def client_with(header: str | None) -> APIClient:
    client = APIClient()
    if header is not None:
        client.credentials(HTTP_AUTHORIZATION=header)
    return client


@pytest.fixture
def stored(api):
    put_session(api, "s-1", [{"role": "user", "content": "kept"}], namespace="ns")


def _revoked() -> str:
    key, secret = new_key()
    api_key_revoke(prefix=key.prefix, actor="test")
    return f"Bearer {secret}"


def _expired() -> str:
    _, secret = new_key(expiry_date=timezone.now() - timedelta(minutes=1))
    return f"Bearer {secret}"


def _wrong_secret() -> str:
    _, secret = new_key()
    return f"Bearer {secret[:-1]}{'A' if secret[-1] != 'A' else 'B'}"


@pytest.mark.parametrize(
    "header, detail",
    [
        (lambda: None, "Authentication credentials were not provided."),
        (lambda: "Basic dXNlcjpwdw==", "Use the Bearer scheme: Authorization: Bearer <API key or JWT>."),
        (lambda: "Token abc.def", "Use the Bearer scheme: Authorization: Bearer <API key or JWT>."),
        (lambda: "Bearer", "Malformed bearer credential."),
        (lambda: "Bearer abc def", "Malformed bearer credential."),
        (lambda: "Bearer no-dot-at-all", "Malformed API key: expected <prefix>.<secret>."),
        (lambda: "Bearer NoSuchPx.secretsecretsecretsecretsecret12", "Invalid API key."),
        (_wrong_secret, "Invalid API key."),
        (_revoked, "This API key was revoked."),
        (lambda: "Bearer a.b.c", "JWTs are not accepted here (JWT_JWKS_URL is not set)."),
    ],
    ids=[
        "missing",
        "basic",
        "token-scheme",
        "empty",
        "two-parts",
        "no-dot",
        "unknown",
        "wrong-secret",
        "revoked",
        "jwt-off",
    ],
)
def test_a_refused_credential_is_a_401_saying_why_and_changes_nothing(stored, header, detail):
    client = client_with(header())
    redis_before, db_before = redis_state(), db_rows()
    response = client.put(SESSION, PUT_BODY, format="json")
    assert response.status_code == 401, response.content
    assert response.json() == {"detail": detail}
    assert response["WWW-Authenticate"] == 'Bearer realm="memory"'
    assert redis_state() == redis_before
    assert db_rows() == db_before


def test_an_expired_key_is_a_401_naming_when_it_expired(stored):
    header = _expired()
    key = ApiKey.objects.get(prefix=header.split()[1].partition(".")[0])
    redis_before = redis_state()
    response = client_with(header).get(SESSION)
    assert response.status_code == 401
    assert response.json() == {"detail": f"This API key expired at {key.expiry_date.isoformat()}."}
    assert redis_state() == redis_before


def test_health_needs_no_credential():
    assert client_with(None).get("/v1/health").status_code == 200


def test_a_read_only_key_reads_and_searches_but_may_not_write_or_delete(stored):
    _, secret = new_key(permissions=["read"])
    client = client_with(f"Bearer {secret}")
    assert client.get(SESSION).json()["messages"][0]["content"] == "kept"
    search = client.post("/v1/long-term-memory/search", {"text": "kept"}, format="json")
    assert search.status_code == 200
    redis_before, db_before = redis_state(), db_rows()
    write = client.put(SESSION, PUT_BODY, format="json")
    assert (write.status_code, write.json()) == (
        403,
        {"detail": "This credential may not write (its permissions: read)."},
    )
    delete = client.delete(SESSION)
    assert (delete.status_code, delete.json()) == (
        403,
        {"detail": "This credential may not delete (its permissions: read)."},
    )
    forget = client.post("/v1/long-term-memory/forget?namespace=ns", {"policy": {"budget": 0}}, format="json")
    assert forget.status_code == 403
    assert redis_state() == redis_before
    assert db_rows() == db_before


def test_a_key_without_delete_writes_but_may_not_delete(stored):
    _, secret = new_key(permissions=["read", "write"])
    client = client_with(f"Bearer {secret}")
    assert client.put(SESSION, PUT_BODY, format="json").status_code == 200
    response = client.delete(SESSION)
    assert response.status_code == 403
    assert client.get(SESSION).json()["messages"][0]["content"] == "overwritten"


def test_writes_and_searches_are_limited_per_key_with_retry_after(settings):
    settings.RATE_LIMIT_WRITES, settings.RATE_LIMIT_SEARCHES = "2/min", "1/min"
    _, first = new_key()
    _, second = new_key(namespaces=["other"])
    client = client_with(f"Bearer {first}")
    assert [client.put(SESSION, PUT_BODY, format="json").status_code for _ in range(2)] == [200, 200]
    limited = client.put(SESSION, PUT_BODY, format="json")
    assert limited.status_code == 429
    assert 1 <= int(limited["Retry-After"]) <= 60
    assert limited.json()["detail"].startswith(
        "Request was throttled. This credential is over RATE_LIMIT_WRITES (2/min). Expected available in "
    )
    assert client.get(SESSION).status_code == 200  # reads are not limited
    search = {"text": "x", "namespace": {"eq": "ns"}}
    assert [client.post("/v1/long-term-memory/search", search, format="json").status_code for _ in range(2)] == [
        200,
        429,
    ]
    other = client_with(f"Bearer {second}")  # another key has its own count
    assert other.put("/v1/working-memory/s-1?namespace=other", PUT_BODY, format="json").status_code == 200


def test_last_use_is_written_once_a_minute_not_per_request(stored):
    key, secret = new_key()
    client = client_with(f"Bearer {secret}")
    assert ApiKey.objects.get(pk=key.pk).last_used_at is None
    before = timezone.now()
    client.get(SESSION)
    first = ApiKey.objects.get(pk=key.pk).last_used_at
    assert first is not None and first >= before
    client.get(SESSION)
    client.put(SESSION, PUT_BODY, format="json")
    assert ApiKey.objects.get(pk=key.pk).last_used_at == first


def test_revoking_a_key_applies_at_once_although_keys_are_cached(stored):
    key, secret = new_key()
    client = client_with(f"Bearer {secret}")
    assert client.get(SESSION).status_code == 200  # now in the auth cache
    api_key_revoke(prefix=key.prefix, actor="test")
    response = client.get(SESSION)
    assert (response.status_code, response.json()) == (401, {"detail": "This API key was revoked."})
    assert ApiKey.objects.get(pk=key.pk).revoked_by == "test"


def test_only_a_hash_is_stored_and_the_actor_is_the_prefix(api):
    key, secret = new_key()
    assert secret.startswith(f"{key.prefix}.") and secret not in repr(ApiKey.objects.filter(pk=key.pk).values().get())
    client = client_with(f"Bearer {secret}")
    client.post("/v1/long-term-memory/", {"memories": [{"id": "r", "text": "Alice likes tea"}]}, format="json")
    history = client.get("/v1/long-term-memory/r/history").json()["history"]
    assert [e["actor"] for e in history] == [f"api:key-{key.prefix}"]


def test_a_namespace_belongs_to_one_tenant():
    new_key(tenant="acme", namespaces=["support"])
    new_key(tenant="acme", namespaces=["support", "sales"])  # the same tenant may name it again
    with pytest.raises(ApiKeyError, match="Namespaces support belong to another tenant."):
        new_key(tenant="globex", namespaces=["support", "ops"])
    assert dict(TenantNamespace.objects.values_list("namespace", "tenant")) == {"support": "acme", "sales": "acme"}
    assert set(TenantNamespace.objects.values_list("claimed_by", flat=True)) == {"test"}  # the keys' creator
    assert ApiKey.objects.filter(tenant="globex").count() == 0


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"tenant": " "}, "A key needs a tenant."),
        ({"namespaces": []}, 'A key needs its namespaces (or ["*"] for an operator key over every namespace).'),
        ({"namespaces": ["*", "ns"]}, '"*" stands alone: it already means every namespace.'),
        (
            {"permissions": ["read", "admin"]},
            "Permissions are some of read, write, delete, review; got ['admin', 'read'].",
        ),
    ],
)
def test_a_key_that_cannot_be_made_is_refused_and_nothing_is_stored(fields, message):
    with pytest.raises(ApiKeyError) as raised:
        new_key(**fields)
    assert str(raised.value) == message
    assert (ApiKey.objects.count(), TenantNamespace.objects.count()) == (0, 0)


def test_the_apikey_command_creates_prints_once_lists_and_revokes(capsys):
    call_command("apikey", "create", "--name", "bot", "--tenant", "acme", "--namespace", "ns", "--read-only")
    out = capsys.readouterr().out.splitlines()
    key = ApiKey.objects.get()
    assert out[0] == f"API key {key.prefix} for tenant acme (read):"
    assert out[1].startswith(f"{key.prefix}.") and key.is_valid(out[1])
    call_command("apikey", "list")
    listed = capsys.readouterr().out
    assert listed == (
        f"{key.prefix}  active   expires=never  tenant=acme  namespaces=ns  permissions=read  last_used=never"
        "  name=bot\n"
    )
    assert out[1] not in listed
    call_command("apikey", "revoke", key.prefix)
    assert ApiKey.objects.get().revoked and ApiKey.objects.get().revoked_by == "system:command-line"


def test_apikey_list_shows_each_keys_expiry_beside_whether_it_is_active_expired_or_revoked(capsys):
    create = ("apikey", "create", "--tenant", "acme", "--namespace", "ns")
    call_command(*create, "--name", "day", "--expires", "2999-01-02")
    call_command(*create, "--name", "at", "--expires", "2999-03-04T05:06+02:00")
    lapsed, _ = new_key(name="lapsed", expiry_date=timezone.now() - timedelta(days=1))
    gone, _ = new_key(name="gone", expiry_date=timezone.now() + timedelta(days=1))
    api_key_revoke(prefix=gone.prefix, actor="test")
    capsys.readouterr()
    call_command("apikey", "list")
    listed = capsys.readouterr().out.splitlines()
    rows = {line.rsplit("name=", 1)[1]: line.split()[1:3] for line in listed}
    assert rows == {
        "day": ["active", "expires=2999-01-02T00:00+00:00"],
        "at": ["active", "expires=2999-03-04T03:06+00:00"],  # stored and shown in UTC
        "lapsed": ["expired", f"expires={lapsed.expiry_date.isoformat(timespec='minutes')}"],
        "gone": ["revoked", f"expires={gone.expiry_date.isoformat(timespec='minutes')}"],
    }


@pytest.mark.parametrize("expires", ["2999-02-30", "next week", "2999-13-01T00:00"])
def test_apikey_create_refuses_an_expiry_it_cannot_read_and_stores_nothing(expires):
    with pytest.raises(CommandError) as raised:
        call_command("apikey", "create", "--name", "x", "--tenant", "acme", "--namespace", "ns", "--expires", expires)
    assert str(raised.value) == f"--expires {expires!r} is not an ISO 8601 datetime or date"
    assert ApiKey.objects.count() == 0


def test_the_dev_key_is_made_once_and_kept_in_a_file_only_its_owner_reads(tmp_path, capsys):
    path = tmp_path / "dev-api-key"
    call_command("apikey", "dev", "--path", str(path))
    secret = path.read_text().strip()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert secret in capsys.readouterr().out
    call_command("apikey", "dev", "--path", str(path))  # a second start keeps it
    assert capsys.readouterr().out == f"Development API key: in {path} (key {secret.partition('.')[0]}).\n"
    assert ApiKey.objects.get().namespaces == ["*"]
    assert client_with(f"Bearer {secret}").get("/v1/working-memory/").status_code == 200


def test_with_auth_disabled_on_loopback_no_credential_is_needed(settings, api):
    settings.AUTH_MODE = "disabled"
    anonymous = client_with(None)
    anonymous.post("/v1/long-term-memory/", {"memories": [{"id": "r", "text": "Alice likes tea"}]}, format="json")
    assert [e["actor"] for e in anonymous.get("/v1/long-term-memory/r/history").json()["history"]] == ["api:anonymous"]


def test_the_openapi_schema_declares_the_bearer_scheme(api):
    schema = client_with(None).get("/openapi.json").json()
    assert schema["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    assert {"bearerAuth": []} in schema["paths"]["/v1/working-memory/{session_id}"]["put"]["security"]
