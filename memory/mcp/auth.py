"""Credentials on the MCP network transports (streamable HTTP, SSE).

`BearerMiddleware` wraps their ASGI app: every HTTP request needs `Authorization: Bearer
<API key or JWT>` (the REST rules, `memory.api.auth.header_scope`), else it is answered
401 before the MCP SDK sees it. The scope is left on the request's state, where
`memory.mcp.scope.mcp_caller` finds it for each tool call. The check runs on a thread of
the MCP pool (`memory.mcp.calls.in_thread`), so a slow one (a JWKS fetch, a slow
database) holds up only its own request. While AUTH_MODE is disabled (loopback only)
nothing is checked.
"""

import json
from typing import Any

from django.conf import settings
from rest_framework import exceptions
from starlette.types import ASGIApp, Receive, Send
from starlette.types import Scope as AsgiScope

from memory.api.auth import header_scope
from memory.api.errors import unavailable_response
from memory.api.scope import Scope
from memory.mcp.calls import in_thread

STATE_KEY = "memory_scope"


def _scope_of(headers: list[tuple[bytes, bytes]]) -> Scope:
    if settings.AUTH_MODE == "disabled":
        return Scope.unrestricted(credential="anonymous")
    header = next((v.decode("latin-1") for k, v in headers if k.lower() == b"authorization"), None)
    found = header_scope(header, door="mcp")
    if found is None:
        raise exceptions.NotAuthenticated()
    return found


async def _answer(send: Send, status: int, data: dict[str, Any], headers: dict[str, str]) -> None:
    body = json.dumps(data).encode()
    headers = {**headers, "content-type": "application/json", "content-length": str(len(body))}
    start = {"type": "http.response.start", "status": status}
    await send({**start, "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()]})
    await send({"type": "http.response.body", "body": body})


async def _refuse(send: Send, exc: Exception) -> None:
    """401 for a missing or refused credential, 403 for one naming another tenant's
    namespace, and the REST routes' 503 JSON while Redis or the database do not answer."""
    if not isinstance(exc, exceptions.APIException):
        outage = unavailable_response(exc)
        if outage is None:
            raise exc
        return await _answer(send, outage.status_code, outage.data, {"retry-after": outage["Retry-After"]})
    challenge = {"www-authenticate": 'Bearer realm="memory"'} if exc.status_code == 401 else {}
    return await _answer(send, exc.status_code, {"detail": str(exc.detail)}, challenge)


class BearerMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: AsgiScope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        try:
            found = await in_thread(_scope_of, headers=scope["headers"])
        except Exception as exc:  # an outage answers 503 like REST; anything else is re-raised
            return await _refuse(send, exc)
        scope.setdefault("state", {})[STATE_KEY] = found
        return await self.app(scope, receive, send)
