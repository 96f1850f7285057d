"""Who is calling an MCP tool, and which namespace they are held to.

`mcp_caller` is the one place that decides it. The caller's credential scope is the
REST one (`memory.api.scope`): on the network transports `memory.mcp.auth` derived it
from the request's `Authorization: Bearer` header; over stdio it is MCP_API_KEY's. Its
actor is `mcp:<credential>` (`mcp:key-<prefix>`; `mcp:anonymous` while AUTH_MODE is
disabled). The pin comes from the URL path (`/{namespace}/mcp`, `/{namespace}/sse`) or
the MCP_NAMESPACE setting, and must lie inside the scope: the caller's scope is pinned
to it (`Scope.pinned`), so every operation acts there and a tool argument naming another
namespace is an error (`memory.api.scope.PinConflict`), never a silent override.
"""

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.conf import settings
from mcp.server.fastmcp import Context
from mcp.server.fastmcp.exceptions import ToolError
from rest_framework import exceptions

from memory.api.auth import rate_limit_wait, rate_limited_detail, secret_scope
from memory.api.scope import Scope

# A tool call's context (its request, its session). FastMCP finds a tool's context
# parameter by the bare `Context` class at run time, so only the type checker sees the
# parameters (all Any: the tools read the request, never the session's types).
if TYPE_CHECKING:
    McpContext = Context[Any, Any, Any]
else:
    McpContext = Context


@dataclass(frozen=True)
class McpCaller:
    # The credential's scope, pinned to the server's namespace where it has one.
    scope: Scope

    @property
    def actor(self) -> str:
        return f"mcp:{self.scope.credential}"


def _path_namespace(ctx: McpContext | None) -> str | None:
    """The namespace segment of the HTTP request's URL path; None on stdio."""
    request = getattr(ctx.request_context, "request", None) if ctx is not None else None
    if request is None:
        return None
    return request.path_params.get("namespace") or None


def _credential_scope(ctx: McpContext | None) -> Scope:
    """The scope `memory.mcp.auth` put on the HTTP request, or MCP_API_KEY's on stdio."""
    request = getattr(ctx.request_context, "request", None) if ctx is not None else None
    if settings.AUTH_MODE == "disabled":
        return Scope.unrestricted(credential="anonymous")
    if request is not None:
        found: Scope | None = request.scope.get("state", {}).get("memory_scope")
        if found is None:  # a transport mounted without memory.mcp.auth: refuse, never guess
            raise ToolError("This MCP transport takes no credentials; refused.")
        return found
    if not settings.MCP_API_KEY:
        raise ToolError("MCP over stdio needs an API key: set MCP_API_KEY (AUTH_MODE=required).")
    try:
        return secret_scope(settings.MCP_API_KEY, door="mcp")
    except (exceptions.AuthenticationFailed, exceptions.PermissionDenied) as exc:  # refused; another tenant's namespace
        raise ToolError(f"MCP_API_KEY: {exc.detail}") from exc


def _count_call(scope: Scope, kind: str | None) -> None:
    """Count the call against the credential's rate limit of `kind`, as REST counts its
    requests (the same setting and counter); over it is a tool error naming the limit."""
    if kind is None or scope.throttle_id is None:  # reads; AUTH_MODE=disabled
        return
    wait = rate_limit_wait(kind=kind, throttle_id=scope.throttle_id)
    if wait is not None:
        raise ToolError(f"{rate_limited_detail(kind)} Retry in {math.ceil(wait)} s.")


def mcp_caller(ctx: McpContext | None, permission: str, *, search: bool = False) -> McpCaller:
    """The caller of this tool call, holding `permission` (read, write or delete): its
    credential scope and the namespace it is pinned to. The call counts against the
    credential's rate limits as the REST route of the same operation does: a `search`
    (search, memory prompt) as searches, a write or delete as writes, a read not at all."""
    scope = _credential_scope(ctx)
    scope.require(permission)
    _count_call(scope, "searches" if search else None if permission == "read" else "writes")
    from_path, from_setting = _path_namespace(ctx), settings.MCP_NAMESPACE
    if from_path and from_setting and from_path != from_setting:
        raise ToolError(
            f"The URL path names namespace {from_path!r}, "
            f"but this server is pinned to {from_setting!r} (MCP_NAMESPACE)."
        )
    pin = from_path or from_setting
    if pin is not None:
        scope = scope.pinned(pin, ["path", "namespace"])  # a pin outside the scope is refused
    return McpCaller(scope=scope)
