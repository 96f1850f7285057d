"""Session tools: the memory prompt, working memory, listing sessions, and the current time.

Each tool builds the request body from its flat arguments and calls the operation its
REST route calls: `memory.api.prompt.memory_prompt_respond` (POST /v1/memory/prompt),
`memory.api.working_memory.operations` (PUT, GET and DELETE /v1/working-memory/{id}, GET
/v1/working-memory/). list_sessions and delete_working_memory are not in agent-memory-server
0.15's MCP; they carry the names and parameters of its MCP parity pull request (#267).
"""

from datetime import UTC, datetime
from typing import Any, Literal

from memory.api.prompt import memory_prompt_respond
from memory.api.working_memory import operations
from memory.mcp.calls import in_django
from memory.mcp.scope import McpContext, mcp_caller

Filter = dict[str, Any] | None
SearchMode = Literal["semantic", "keyword", "hybrid"]
_SEARCH_FILTERS = (
    "topics",
    "entities",
    "created_at",
    "last_accessed",
    "memory_type",
    "event_date",
    "extraction_strategy",
)
_SEARCH_OPTIONS = ("search_mode", "distance_threshold", "limit", "offset")


def _eq(value: str | dict[str, Any] | None) -> str | None:
    """A session id, namespace or user given plainly or as agent-memory-server's {"eq": v}."""
    return value.get("eq") if isinstance(value, dict) else value


def _prompt(ctx: McpContext, query: str, args: dict[str, Any], include_long_term_search: bool) -> dict[str, Any]:
    scope = mcp_caller(ctx, "read", search=True).scope
    namespace, user_id = ({"eq": v} if isinstance(v, str) else v for v in (args.get("namespace"), args.get("user_id")))
    body: dict[str, Any] = {"query": query}
    if args.get("session_id") is not None:
        body["session"] = {
            "session_id": _eq(args["session_id"]),
            "namespace": _eq(namespace),
            "user_id": _eq(user_id),
            **{k: args[k] for k in ("model_name", "context_window_max") if k in args},
        }
    if include_long_term_search:
        search = {k: args[k] for k in (*_SEARCH_FILTERS, *_SEARCH_OPTIONS) if k in args}
        search.update({k: v for k, v in args.items() if k.startswith("recency_")})
        body["long_term_search"] = {**search, "namespace": namespace, "user_id": user_id}
    return memory_prompt_respond(body, scope=scope)


async def memory_prompt(
    ctx: McpContext,
    query: str,
    session_id: str | Filter = None,
    namespace: str | Filter = None,
    user_id: str | Filter = None,
    model_name: str | None = None,
    context_window_max: int | None = None,
    topics: Filter = None,
    entities: Filter = None,
    created_at: Filter = None,
    last_accessed: Filter = None,
    memory_type: Filter = None,
    event_date: Filter = None,
    extraction_strategy: Filter = None,
    distance_threshold: float | None = None,
    search_mode: SearchMode = "semantic",
    limit: int = 10,
    offset: int = 0,
    optimize_query: bool = False,
    recency_boost: bool | None = None,
    recency_semantic_weight: float | None = None,
    recency_recency_weight: float | None = None,
    recency_freshness_weight: float | None = None,
    recency_novelty_weight: float | None = None,
    recency_half_life_last_access_days: float | None = None,
    recency_half_life_created_days: float | None = None,
    server_side_recency: bool | None = None,
    include_long_term_search: bool = True,
) -> dict[str, Any]:
    """Get the user's question back with what memory knows about it: the conversation's
    summary and recent turns (with session_id) and the stored memories relevant to the query.
    Use it at the start of a turn when the answer may depend on what the user said before.

    query: the user's message or question; the memory search looks for it.
    session_id: the current session's id, exactly as you were given it (or {"eq": id}); omit it
    for long-term memory only. namespace, user_id: whose memory ("x" or {"eq": "x"}).
    model_name or context_window_max (tokens): trims the session's turns to fit.
    The search takes the filters and options of search_long_term_memory (topics, created_at,
    search_mode, limit 1..100, offset + limit at most 1000, ...). include_long_term_search:
    false for the session alone.
    optimize_query and server_side_recency are accepted for compatibility and change nothing.
    Returns {"messages": [...]} ready for the model, and "memories_used" (ids, scores, mode).
    """
    args = {
        k: v
        for k, v in locals().items()
        if v is not None
        and k not in ("ctx", "query", "optimize_query", "server_side_recency", "include_long_term_search")
    }
    return await in_django(_prompt, ctx=ctx, query=query, args=args, include_long_term_search=include_long_term_search)


def _set(ctx: McpContext, session_id: str, body: dict[str, Any]) -> dict[str, Any]:
    return operations.working_memory_put_respond(session_id, {}, body, scope=mcp_caller(ctx, "write").scope)


async def set_working_memory(
    ctx: McpContext,
    session_id: str,
    memories: list[dict[str, Any]] | None = None,
    messages: list[dict[str, Any]] | None = None,
    context: str | None = None,
    data: dict[str, Any] | None = None,
    namespace: str | None = None,
    user_id: str | None = None,
    ttl_seconds: int | None = None,
    long_term_memory_strategy: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Replace the current session's working memory: scratch notes, structured data and
    messages that matter for this conversation. What it holds is promoted to long-term
    memory in the background; for a fact to keep at once, use create_long_term_memories.

    session_id: the current session's id. memories: [{"text", "memory_type", "topics", ...}]
    kept with the session. messages: [{"role": "user"|"assistant", "content": "..."}], the
    whole conversation (this replaces the stored one). context: a summary of earlier turns.
    data: any JSON object. namespace, user_id: whose session. ttl_seconds: expire it after
    this long (default: the server's). long_term_memory_strategy: {"strategy": "discrete"|
    "summary"|"preferences"|"custom", "config": {...}}. Returns the session as stored.
    """
    body = {k: v for k, v in locals().items() if v is not None and k not in ("ctx", "session_id")}
    return await in_django(_set, ctx=ctx, session_id=session_id, body=body)


def _get(ctx: McpContext, session_id: str, query: dict[str, Any]) -> dict[str, Any]:
    scope = mcp_caller(ctx, "read").scope
    # As the reference's tool: a session not started yet reads as an empty one.
    return operations.working_memory_get_respond(session_id, query, scope=scope, empty_if_missing=True)


async def get_working_memory(
    ctx: McpContext,
    session_id: str,
    user_id: str | None = None,
    namespace: str | None = None,
    recent_messages_limit: int | None = None,
    model_name: str | None = None,
    context_window_max: int | None = None,
) -> dict[str, Any]:
    """Read the current session's working memory: its messages, notes, data and summary.
    Use it to pick up a conversation or to read what set_working_memory stored.

    session_id: the session's id. user_id, namespace: whose session (another user's session
    reads as empty). recent_messages_limit: only the newest N messages. model_name or
    context_window_max (tokens): only the newest messages that fit.
    """
    query = {k: v for k, v in locals().items() if v is not None and k not in ("ctx", "session_id")}
    return await in_django(_get, ctx=ctx, session_id=session_id, query=query)


def _list(ctx: McpContext, query: dict[str, Any]) -> dict[str, Any]:
    return operations.working_memory_list_respond(query, scope=mcp_caller(ctx, "read").scope)


async def list_sessions(
    ctx: McpContext,
    namespace: str | None = None,
    user_id: str | None = None,
    limit: int | None = None,
    offset: int | None = None,
) -> dict[str, Any]:
    """List the sessions that have working memory, most recently written first. Use it to
    find an earlier conversation to pick up with get_working_memory.

    namespace, user_id: whose sessions. limit: how many (default 20); offset: where the page
    starts. Returns {"sessions": [session ids], "total"}.
    """
    query = {k: v for k, v in locals().items() if v is not None and k != "ctx"}
    return await in_django(_list, ctx=ctx, query=query)


def _delete(ctx: McpContext, session_id: str, query: dict[str, Any]) -> dict[str, Any]:
    return operations.working_memory_delete_respond(session_id, query, scope=mcp_caller(ctx, "delete").scope)


async def delete_working_memory(
    ctx: McpContext, session_id: str, user_id: str | None = None, namespace: str | None = None
) -> dict[str, Any]:
    """Delete a session's working memory (its messages, notes, data and summary), when the
    user asks to forget the conversation. Long-term memories made from it stay.

    session_id: the session's id. user_id, namespace: whose session.
    Deleting a session that does not exist is fine. Returns {"status": "ok"}.
    """
    query = {k: v for k, v in locals().items() if v is not None and k not in ("ctx", "session_id")}
    return await in_django(_delete, ctx=ctx, session_id=session_id, query=query)


async def get_current_datetime() -> dict[str, str | int]:
    """The current date and time in UTC. Use it whenever the user says "today", "yesterday",
    "next week" or the like, to write memories with real dates (and event_date) instead.

    Returns {"iso_utc": "2025-08-14T23:59:59Z", "unix_ts": 1755215999}.
    """
    now = datetime.now(UTC).replace(microsecond=0)
    return {"iso_utc": now.isoformat().replace("+00:00", "Z"), "unix_ts": int(now.timestamp())}
