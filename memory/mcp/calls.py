"""Running Django code from async tool handlers, and its errors as tool errors.

Services and selectors are synchronous and use the ORM, so a tool call (and the
network transports' credential check, `memory.mcp.auth`) runs them on a thread of a
bounded pool, MCP_THREADS threads (`in_thread`): one slow call (a Redis or database
that is slow to answer, a large embedding batch) holds one thread, while the other
clients' calls go on in the others. Django's connections are per thread, so each
thread has its own; connections past their age, or broken, are closed before and
after each call, as Django does between requests (an MCP process lives for days).
A call past the pool's size waits for a free thread.

A refused call comes back as a tool error (`isError`) whose message names the argument,
`limit: Ensure this value is greater than or equal to 1.`: the operations
(`memory.api.long_term.operations`, ...) raise DRF's exceptions, which REST answers as
422, 403, 404 or 409, and `in_django` turns them into the `ToolError` the FastMCP SDK
makes that result of. Nothing is swallowed into an empty answer.
"""

import functools
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import close_old_connections
from mcp.server.fastmcp.exceptions import ToolError
from rest_framework import exceptions

from memory.api.errors import validation_detail
from memory.services.quotas import QuotaExceeded

# Request containers whose fields a tool takes flat: their names are left out of messages.
_FLATTENED = {"body", "query", "path", "session", "long_term_search"}

_T = TypeVar("_T")


def argument_name(loc: Iterable[str | int]) -> str:
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


@functools.cache
def _pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=settings.MCP_THREADS, thread_name_prefix="mcp-call")


def _with_fresh_connections(fn: Callable[..., _T], kwargs: dict[str, Any]) -> _T:
    close_old_connections()
    try:
        return fn(**kwargs)
    finally:
        close_old_connections()


async def in_thread(fn: Callable[..., _T], /, **kwargs: Any) -> _T:
    """`fn(**kwargs)` on a thread of the MCP pool (not the event loop's, not one shared
    thread): the event loop and the other calls go on while it runs."""
    return await sync_to_async(_with_fresh_connections, thread_sensitive=False, executor=_pool())(fn, kwargs)


def _as_tool_errors(fn: Callable[..., _T], kwargs: dict[str, Any]) -> _T:
    try:
        return fn(**kwargs)
    except exceptions.ValidationError as exc:
        raise tool_error(exc) from exc
    except exceptions.APIException as exc:  # 403 outside the scope, 404 not found, 409
        # A 404 says it in a caller's words (`memory.api.errors.not_found_error`); both may name a field.
        msg = getattr(exc, "msg", None) or str(exc.detail)
        name = argument_name(getattr(exc, "loc", ()))
        raise ToolError(f"{name}: {msg}" if name else msg) from exc
    except QuotaExceeded as exc:  # a namespace's quota, as REST's 429 says it
        raise ToolError(str(exc)) from exc


async def in_django(fn: Callable[..., _T], **kwargs: Any) -> _T:
    """`fn(**kwargs)` on a thread of the MCP pool; a validation error becomes a ToolError."""
    return await in_thread(_as_tool_errors, fn=fn, kwargs=kwargs)
