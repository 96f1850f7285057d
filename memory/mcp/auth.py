"""Credentials on the MCP network transports (streamable HTTP, SSE).

`BearerMiddleware` wraps their ASGI app: every HTTP request needs `Authorization: Bearer
<API key or JWT>` (the REST rules, `memory.api.auth.header_scope`), else it is answered
401 before the MCP SDK sees it. The scope is left on the request's state, where
`memory.mcp.scope.mcp_caller` finds it for each tool call. While AUTH_MODE is disabled
(loopback only) nothing is checked.
"""

import json

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import close_old_connections
from rest_framework import exceptions

from memory.api.auth import header_scope
from memory.api.scope import Scope

STATE_KEY = "memory_scope"


def _scope_of(headers: list[tuple[bytes, bytes]]) -> Scope:
    if settings.AUTH_MODE == "disabled":
        return Scope.unrestricted(credential="anonymous")
    header = next((v.decode("latin-1") for k, v in headers if k.lower() == b"authorization"), None)
    close_old_connections()  # the process lives for days: as Django does between requests
    try:
        found = header_scope(header)
    finally:
        close_old_connections()
    if found is None:
        raise exceptions.NotAuthenticated()
    return found


async def _refuse(send, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"www-authenticate", b'Bearer realm="memory"'),
    ]
    await send({"type": "http.response.start", "status": 401, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class BearerMiddleware:
    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        try:
            found = await sync_to_async(_scope_of, thread_sensitive=True)(scope["headers"])
        except exceptions.APIException as exc:
            return await _refuse(send, str(exc.detail))
        scope.setdefault("state", {})[STATE_KEY] = found
        return await self.app(scope, receive, send)
