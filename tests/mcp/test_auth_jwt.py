"""JWT mode on the MCP door: a JWT of tests/jwt_issuer.py's stand-in identity provider
claims its namespaces as MCP, and another tenant's JWT is refused. The REST side:
tests/memory/api/test_auth_jwt.py."""

import pytest
import requests

from memory.models import TenantNamespace
from tests.helpers import child_env, stop_process
from tests.jwt_issuer import AUDIENCE, ISSUER, token
from tests.mcp.client import start_server

pytestmark = pytest.mark.django_db(transaction=True)

MCP_INIT = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {}}
FOREIGN = "Namespaces support belong to another tenant. A JWT acts only in its own tenant's namespaces."


def mcp_headers(bearer: str) -> dict:
    return {"Accept": "application/json, text/event-stream", "Authorization": f"Bearer {bearer}"}


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
