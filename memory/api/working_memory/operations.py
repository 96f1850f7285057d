"""The working-memory operations, one function each, called by every door.

`working_memory_put_respond`, `working_memory_get_respond`, `working_memory_delete_respond`
and `working_memory_list_respond` take the session id, the request's query and body as
plain values and the caller's `Scope` (pinned to a namespace where the door is); each
validates with its serializer (`memory.api.working_memory.serializers`), applies the
scope, calls the service or selector and returns the response dict. The REST views
(`memory.api.working_memory.views`) and the MCP tools (`memory.mcp.tools_session`) are
a few lines around them.
"""

from typing import Any

from rest_framework import exceptions

from memory.api.errors import field_conflict, not_found_error
from memory.api.fields import validated
from memory.api.scope import Scope
from memory.api.working_memory.bound import checked_session_id, plain_put_body, plain_scope_query
from memory.api.working_memory.serializers import (
    GetQuerySerializer,
    ListQuerySerializer,
    PutQuerySerializer,
    SessionQuerySerializer,
    WorkingMemoryPutSerializer,
)
from memory.selectors.working_memory import context_window, working_memory_get, working_memory_list
from memory.services.working_memory import (
    SessionOwnedByAnotherUser,
    working_memory_delete,
    working_memory_prune,
    working_memory_put,
)


def _session_not_found(session_id: str) -> exceptions.NotFound:
    return not_found_error(
        f"Session {session_id} not found", loc=["path", "session_id"], msg=f"no session {session_id!r} for this user."
    )


def _scope_query(serializer_class: type[SessionQuerySerializer], query: dict[str, Any]) -> dict[str, Any]:
    """`query` through `serializer_class` (SessionQuerySerializer or one adding only
    optional fields without defaults), answered without it when it holds only a plain
    namespace and user_id."""
    return plain_scope_query(query) or validated(serializer_class, query, "query")


def _window(query: dict[str, Any]) -> int | None:
    return context_window(model_name=query.get("model_name"), context_window_max=query.get("context_window_max"))


def working_memory_put_respond(session_id: str, query: dict[str, Any], data: Any, *, scope: Scope) -> dict[str, Any]:
    """Replace the session (`WorkingMemoryPutSerializer` body, `PutQuerySerializer` query):
    the query's user_id overrides the body's, the body's namespace wins over the query's
    (agent-memory-client sends both). A session of another user is a 409 naming user_id.
    Answers `WorkingMemoryResponseSerializer`."""
    checked_session_id(session_id)
    query = _scope_query(PutQuerySerializer, query)
    body = (isinstance(data, dict) and plain_put_body(data)) or validated(WorkingMemoryPutSerializer, data)
    user_in_query = query.get("user_id") is not None
    namespace_loc = ["body" if body["namespace"] else "query", "namespace"]
    user_loc = ["query" if user_in_query else "body", "user_id"]
    try:
        return working_memory_put(
            session_id=session_id,
            namespace=scope.namespace(body["namespace"] or query.get("namespace"), namespace_loc),
            user_id=scope.user(query["user_id"] if user_in_query else body["user_id"], user_loc),
            messages=body["messages"],
            memories=body["memories"],
            data=body["data"],
            context=body["context"],
            ttl_seconds=body["ttl_seconds"],
            long_term_memory_strategy=body["long_term_memory_strategy"],
            window=_window(query),
        )
    except SessionOwnedByAnotherUser as exc:
        raise field_conflict(
            user_loc, f"Session {session_id} belongs to another user; delete it first to reuse the id."
        ) from exc


def working_memory_get_respond(
    session_id: str, query: dict[str, Any], *, scope: Scope, empty_if_missing: bool = False
) -> dict[str, Any]:
    """One session (`GetQuerySerializer` query), answering `WorkingMemoryResponseSerializer`.
    A session that does not exist, or belongs to another user_id, is a 404, or with
    `empty_if_missing` an empty session (the reference's MCP tool reads it so)."""
    checked_session_id(session_id)
    query = _scope_query(GetQuerySerializer, query)
    namespace = scope.namespace(query.get("namespace"), ["query", "namespace"])
    user_id = scope.user(query.get("user_id"), ["query", "user_id"])
    memory = working_memory_get(
        session_id=session_id,
        namespace=namespace,
        user_id=user_id,
        window=_window(query),
        recent_messages_limit=query.get("recent_messages_limit"),
    )
    if memory is not None:
        return memory
    if not empty_if_missing:
        raise _session_not_found(session_id)
    return {
        "session_id": session_id,
        "namespace": namespace,
        "user_id": user_id,
        "messages": [],
        "memories": [],
        "context": None,
        "data": None,
    }


def working_memory_delete_respond(session_id: str, query: dict[str, Any], *, scope: Scope) -> dict[str, Any]:
    """Delete the session (`SessionQuerySerializer` query); a missing one is fine,
    another user's a 404."""
    checked_session_id(session_id)
    query = _scope_query(SessionQuerySerializer, query)
    try:
        working_memory_delete(
            session_id=session_id,
            namespace=scope.namespace(query.get("namespace"), ["query", "namespace"]),
            user_id=scope.user(query.get("user_id"), ["query", "user_id"]),
        )
    except SessionOwnedByAnotherUser as exc:
        raise _session_not_found(session_id) from exc
    return {"status": "ok"}


def working_memory_list_respond(query: dict[str, Any], *, scope: Scope) -> dict[str, Any]:
    """Sessions in a namespace and/or of a user, most recently written first
    (`ListQuerySerializer` query); `total` is exact."""
    query = validated(ListQuerySerializer, query, "query")
    namespace = scope.namespace(query["namespace"], ["query", "namespace"])
    user_id = scope.user(query["user_id"], ["query", "user_id"])
    working_memory_prune(namespace=namespace, user_id=user_id)  # bounded housekeeping; the read skips the rest
    total, sessions = working_memory_list(
        namespace=namespace, user_id=user_id, limit=query["limit"], offset=query["offset"]
    )
    return {"sessions": sessions, "total": total}
