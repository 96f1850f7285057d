"""The MCP network transports' credential check while Redis does not answer: the REST
routes' 503 JSON naming it (memory.api.errors), never a 500 from the ASGI server."""

import asyncio
import json

import pytest
from django.test import override_settings

from memory.mcp.auth import BearerMiddleware
from tests.helpers import dead_redis, operator_api_key

pytestmark = pytest.mark.django_db(transaction=True)


async def _call(middleware, headers: list[tuple[bytes, bytes]]) -> tuple[int, dict, dict]:
    sent = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    await middleware({"type": "http", "headers": headers, "path": "/mcp"}, receive, send)
    start, body = sent
    return start["status"], dict(start["headers"]), json.loads(body["body"])


async def _app_never_reached(scope, receive, send):
    raise AssertionError("the MCP app ran although the credential was not checked")


def test_a_credential_check_while_the_auth_cache_is_down_answers_503_json_naming_redis(settings):
    key = operator_api_key("outage")
    caches = {**settings.CACHES, "auth": {**settings.CACHES["auth"], "LOCATION": dead_redis()}}
    with override_settings(CACHES=caches):
        status, headers, body = asyncio.run(
            _call(BearerMiddleware(_app_never_reached), [(b"authorization", f"Bearer {key}".encode())])
        )
    assert status == 503
    assert headers[b"content-type"] == b"application/json"
    assert headers[b"retry-after"] == b"5"
    assert body == {
        "detail": "Service unavailable: redis is not answering; retry shortly.",
        "down": {"redis": "redis is not answering"},
    }


def test_a_missing_credential_is_still_a_401_with_its_challenge():
    status, headers, body = asyncio.run(_call(BearerMiddleware(_app_never_reached), []))
    assert status == 401
    assert headers[b"www-authenticate"] == b'Bearer realm="memory"'
    assert set(body) == {"detail"}
