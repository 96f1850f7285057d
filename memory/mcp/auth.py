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

from django.conf import settings
from rest_framework import exceptions

from memory.api.auth import header_scope
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


async def _refuse(send, exc: exceptions.APIException) -> None:
    """401 for a missing or refused credential, 403 for one naming another tenant's namespace."""
    body = json.dumps({"detail": str(exc.detail)}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if exc.status_code == 401:
        headers.append((b"www-authenticate", b'Bearer realm="memory"'))
    await send({"type": "http.response.start", "status": exc.status_code, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class BearerMiddleware:
    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        try:
            found = await in_thread(_scope_of, headers=scope["headers"])
        except exceptions.APIException as exc:
            return await _refuse(send, exc)
        scope.setdefault("state", {})[STATE_KEY] = found
        return await self.app(scope, receive, send)
