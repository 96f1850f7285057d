"""Credentials on the MCP doors (memory.mcp.auth, memory.mcp.scope): the network
transports answer 401 without a valid Bearer credential; a tool needs the key's
permission; a pinned namespace must lie in the key's scope; stdio acts with MCP_API_KEY."""

import pytest
import requests

from memory.services.api_keys import api_key_create, api_key_revoke
from tests.helpers import child_env, db_rows
from tests.mcp.client import over_http, over_stdio, start_server

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.multiprocess]

INIT = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {}}
ACCEPT = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


@pytest.fixture
def server():
    proc, url = start_server(child_env())
    yield url
    proc.terminate()
    proc.wait()


def _revoked() -> str:
    key, secret = api_key_create(name="k", tenant="acme", namespaces=["ns"], actor="test")
    api_key_revoke(prefix=key.prefix, actor="test")
    return f"Bearer {secret}"


@pytest.mark.parametrize(
    "header, detail",
    [
        (lambda: None, "Authentication credentials were not provided."),
        (lambda: "Basic dXNlcjpwdw==", "Use the Bearer scheme: Authorization: Bearer <API key or JWT>."),
        (lambda: "Bearer NoSuchPx.secret", "Invalid API key."),
        (_revoked, "This API key was revoked."),
    ],
    ids=["missing", "basic", "unknown", "revoked"],
)
def test_the_network_transport_refuses_a_request_without_a_valid_credential(server, header, detail):
    value = header()
    headers = {**ACCEPT, **({"Authorization": value} if value else {})}
    response = requests.post(f"{server}/mcp", json=INIT, headers=headers, timeout=30)
    assert response.status_code == 401
    assert response.json() == {"detail": detail}
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="memory"'


def test_a_tool_needs_the_keys_permission_and_a_pin_must_be_in_its_scope(server):
    _, secret = api_key_create(name="ro", tenant="acme", namespaces=["home"], permissions=["read"], actor="test")

    async def work(tools):
        read = await tools.result("search_long_term_memory", text="tea", search_mode="keyword")
        write = await tools.result("create_long_term_memories", memories=[{"text": "Alice likes tea"}])
        return read, write

    before = db_rows()
    read, write = over_http(f"{server}/mcp", work, headers={"Authorization": f"Bearer {secret}"})
    assert not read.isError
    assert write.isError and "This credential may not write (its permissions: read)." in write.content[0].text

    async def pinned(tools):
        return await tools.result("search_long_term_memory", text="tea", search_mode="keyword")

    elsewhere = over_http(f"{server}/work/mcp", pinned, headers={"Authorization": f"Bearer {secret}"})
    assert elsewhere.isError and "Namespace 'work' is outside this credential's scope" in elsewhere.content[0].text
    assert db_rows() == before  # the refused create wrote nothing


def test_stdio_needs_mcp_api_key_under_required_auth():
    async def work(tools):
        return await tools.result("search_long_term_memory", text="tea")

    result = over_stdio(work, MCP_API_KEY="")
    assert result.isError
    assert "MCP over stdio needs an API key: set MCP_API_KEY (AUTH_MODE=required)." in result.content[0].text
