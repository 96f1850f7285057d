"""Who is calling an MCP tool, and which namespace they are held to.

`mcp_caller` is the one place that decides it. Until the network transports take
credentials, every caller is `mcp:anonymous` (`memory.audit`); the pin comes from the
URL path (`/{namespace}/mcp`, `/{namespace}/sse`) or the MCP_NAMESPACE setting. A tool
argument naming another namespace is an error, never a silent override.
"""

from dataclasses import dataclass

from django.conf import settings
from mcp.server.fastmcp.exceptions import ToolError

from memory.audit import MCP_ANONYMOUS


class PinConflict(ToolError):
    """An argument asks for a namespace the caller is not pinned to (a tool error)."""


@dataclass(frozen=True)
class McpCaller:
    namespace: str | None  # the pinned namespace; None: any
    actor: str

    def namespace_value(self, value: str | None, argument: str) -> str | None:
        """A plain namespace argument: the pin when it is missing; refused when it differs."""
        if self.namespace is None or value is None:
            return value if self.namespace is None else self.namespace
        if value != self.namespace:
            raise PinConflict(f"{argument}: this MCP server is pinned to namespace {self.namespace!r}, not {value!r}.")
        return value

    def namespace_filter(self, spec: dict | None, argument: str = "namespace") -> dict | None:
        """A namespace filter argument: {"eq": pin} when it is missing; anything but that is refused."""
        if self.namespace is None:
            return spec
        if spec is None:
            return {"eq": self.namespace}
        asked = {k: v for k, v in spec.items() if v is not None} if isinstance(spec, dict) else spec
        if asked not in ({"eq": self.namespace}, {"any": [self.namespace]}, {"in_": [self.namespace]}):
            raise PinConflict(
                f"{argument}: this MCP server is pinned to namespace {self.namespace!r}; "
                f"the filter {spec!r} asks for more or other namespaces."
            )
        return {"eq": self.namespace}

    def owns(self, record_namespace: str | None) -> bool:
        return self.namespace is None or record_namespace == self.namespace


def _path_namespace(ctx) -> str | None:
    """The namespace segment of the HTTP request's URL path; None on stdio."""
    request = getattr(ctx.request_context, "request", None) if ctx is not None else None
    if request is None:
        return None
    return request.path_params.get("namespace") or None


def mcp_caller(ctx) -> McpCaller:
    """The caller of this tool call: the namespace it is pinned to and its actor."""
    from_path, from_setting = _path_namespace(ctx), settings.MCP_NAMESPACE
    if from_path and from_setting and from_path != from_setting:
        raise PinConflict(
            f"The URL path names namespace {from_path!r}, "
            f"but this server is pinned to {from_setting!r} (MCP_NAMESPACE)."
        )
    return McpCaller(namespace=from_path or from_setting, actor=MCP_ANONYMOUS)
