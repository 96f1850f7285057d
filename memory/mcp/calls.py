"""Running Django code from async tool handlers, and its errors as tool errors.

Services and selectors are synchronous and use the ORM, so a tool runs them through
`asgiref.sync.sync_to_async(thread_sensitive=True)`: one thread holds the process's DB
connection, as in Django's own async views. Connections past their age are closed
first, as Django does between requests (an MCP process lives for days).

A rejected argument comes back as a tool error (`isError`) whose message names it,
`limit: Ensure this value is greater than or equal to 1.`; the FastMCP SDK turns the
`ToolError` raised here into that result. Nothing is swallowed into an empty answer.
"""

from asgiref.sync import sync_to_async
from django.db import close_old_connections
from mcp.server.fastmcp.exceptions import ToolError
from rest_framework import exceptions

from memory.api.errors import validation_detail

# Request containers whose fields a tool takes flat: their names are left out of messages.
_FLATTENED = {"body", "query", "session", "long_term_search"}


def argument_name(loc) -> str:
    """["body", "memories", 0, "text"] -> "memories[0].text"; ["body", "long_term_search", "limit"] -> "limit"."""
    name = ""
    for part in loc:
        if isinstance(part, int):
            name += f"[{part}]"
        elif part not in _FLATTENED:
            name += f".{part}" if name else str(part)
    return name


def tool_error(exc: exceptions.ValidationError) -> ToolError:
    detail = validation_detail(exc.detail, getattr(exc, "loc", ("body",)))
    problems = []
    for item in detail:
        name = argument_name(item["loc"])
        problems.append(f"{name}: {item['msg']}" if name else item["msg"])
    return ToolError("; ".join(problems))


def _in_django(fn, kwargs):
    close_old_connections()
    try:
        return fn(**kwargs)
    except exceptions.ValidationError as exc:
        raise tool_error(exc) from exc
    except exceptions.PermissionDenied as exc:  # outside the credential's scope or permissions
        raise ToolError(str(exc.detail)) from exc
    finally:
        close_old_connections()


async def in_django(fn, **kwargs):
    """`fn(**kwargs)` in Django's sync thread; a validation error becomes a ToolError."""
    return await sync_to_async(_in_django, thread_sensitive=True)(fn, kwargs)
