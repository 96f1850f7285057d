"""Long-term memory tools: search, create, get, edit, delete.

Names and flat parameters are agent-memory-server's, so prompts written for it keep
working. Each tool builds the request body from its arguments and calls the operation
POST/GET/PATCH/DELETE /v1/long-term-memory call (`memory.api.long_term.operations`), so
both doors answer alike (tests/mcp/test_doors_agree.py checks it).
"""

from typing import Any, Literal, NotRequired, Required

from typing_extensions import TypedDict

from memory.api.long_term import operations
from memory.mcp.calls import in_django
from memory.mcp.scope import McpContext, mcp_caller

Filter = dict[str, Any] | None
SearchMode = Literal["semantic", "keyword", "hybrid"]
MemoryType = Literal["semantic", "episodic", "message"]


class MemoryInput(TypedDict, total=False):
    """One memory to store (the fields of POST /v1/long-term-memory/'s records)."""

    text: Required[str]
    memory_type: NotRequired[MemoryType]
    id: NotRequired[str]
    namespace: NotRequired[str]
    user_id: NotRequired[str]
    session_id: NotRequired[str]
    topics: NotRequired[list[str]]
    entities: NotRequired[list[str]]
    event_date: NotRequired[str]
    context: NotRequired[str]
    pinned: NotRequired[bool]
    metadata: NotRequired[dict[str, Any]]
    extraction_strategy: NotRequired[str]
    extraction_strategy_config: NotRequired[dict[str, Any]]


def _search(ctx: McpContext, body: dict[str, Any]) -> dict[str, Any]:
    return operations.memories_search_respond(body, scope=mcp_caller(ctx, "read", search=True).scope)


async def search_long_term_memory(
    ctx: McpContext,
    text: str = "",
    search_mode: SearchMode = "semantic",
    session_id: Filter = None,
    namespace: Filter = None,
    topics: Filter = None,
    entities: Filter = None,
    created_at: Filter = None,
    last_accessed: Filter = None,
    user_id: Filter = None,
    memory_type: Filter = None,
    event_date: Filter = None,
    extraction_strategy: Filter = None,
    distance_threshold: float | None = None,
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
    include_superseded: bool = False,
) -> dict[str, Any]:
    """Search stored long-term memories. Use it before answering anything about the user's
    preferences, history, people, plans or facts they told you earlier.

    text: what to look for, in plain words; "" lists the memories the filters match, newest first.
    search_mode: "semantic" (meaning, the default), "keyword" (exact words) or "hybrid" (both).
    Filters are objects: tag filters (session_id, namespace, topics, entities, user_id,
    memory_type, extraction_strategy: how a memory was extracted, e.g. "discrete") take
    {"eq": v}, {"ne": v}, {"any": [..]} or {"all": [..]}; date filters
    (created_at, last_accessed, event_date) take {"gt"|"gte"|"lt"|"lte"|"eq": ISO 8601} or
    {"between": [start, end]}. Use only ids and values you were given; never guess a session id.
    distance_threshold: 0..2, keep only closer matches (semantic and hybrid).
    limit: 1..100 results; offset: where the page starts (offset + limit at most 1000 with
    text, 10000 without; narrow the filters rather than page deeper). recency_*: re-ranking weights
    (leave them out for the defaults). include_superseded: also old versions an update replaced.
    optimize_query and server_side_recency are accepted for compatibility and change nothing.
    Returns {"memories": [... with id, text, score], "total", "next_offset"}.
    """
    # The flat arguments are the REST search body's fields, by the same names.
    body = {k: v for k, v in locals().items() if v is not None and k not in ("ctx", "optimize_query")}
    return await in_django(_search, ctx=ctx, body=body)


def _create(ctx: McpContext, memories: list[MemoryInput]) -> dict[str, Any]:
    caller = mcp_caller(ctx, "write")
    return operations.memories_create_respond({"memories": memories}, scope=caller.scope, actor=caller.actor)


async def create_long_term_memories(ctx: McpContext, memories: list[MemoryInput]) -> dict[str, Any]:
    """Save durable facts for later conversations. Use it when the user tells you something
    worth remembering: a preference, a fact about them or others, a decision, an event.

    memories: a list of objects; each needs `text`, one self-contained statement with every
    pronoun, relative date and place resolved ("Alice moved to Lisbon in May 2025", not
    "she moved there last month"; call get_current_datetime to resolve dates).
    memory_type: "semantic" for lasting facts and preferences (default), "episodic" for
    events (then also give event_date, ISO 8601). Optional: user_id, namespace, session_id
    (only the real current one), topics and entities (lists of short strings), id.
    A memory that repeats a stored one is merged into it, not stored twice.
    Returns each memory's id and outcome ("created", "merged", ...).
    """
    return await in_django(_create, ctx=ctx, memories=memories)


def _get(ctx: McpContext, memory_id: str) -> dict[str, Any]:
    return operations.memory_get_respond(memory_id, scope=mcp_caller(ctx, "read").scope)


async def get_long_term_memory(ctx: McpContext, memory_id: str) -> dict[str, Any]:
    """Read one stored memory in full by its id (ids come from search results and memory prompts).

    memory_id: the memory's id. An unknown id is an error that says so.
    """
    return await in_django(_get, ctx=ctx, memory_id=memory_id)


def _edit(ctx: McpContext, memory_id: str, changes: dict[str, Any]) -> dict[str, Any]:
    caller = mcp_caller(ctx, "write")
    return operations.memory_edit_respond(memory_id, changes, scope=caller.scope, actor=caller.actor)


async def edit_long_term_memory(
    ctx: McpContext,
    memory_id: str,
    text: str | None = None,
    topics: list[str] | None = None,
    entities: list[str] | None = None,
    memory_type: MemoryType | None = None,
    namespace: str | None = None,
    user_id: str | None = None,
    session_id: str | None = None,
    event_date: str | None = None,
    pinned: bool | None = None,
    metadata: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Correct or update a stored memory when the user says it is wrong or has changed.
    Only the fields you give change; the rest stay as they are. The old version stays in the
    memory's history.

    memory_id: the memory to change (from a search). text: the corrected statement, fully
    resolved like a new memory's. topics, entities: replacement lists. memory_type:
    "semantic", "episodic" or "message". event_date: ISO 8601, for episodic memories.
    namespace, user_id, session_id: move the memory. pinned: true keeps it from being forgotten.
    metadata: replaces the memory's free JSON object.
    Returns the memory as stored now.
    """
    changes = {k: v for k, v in locals().items() if v is not None and k not in ("ctx", "memory_id")}
    return await in_django(_edit, ctx=ctx, memory_id=memory_id, changes=changes)


def _delete(ctx: McpContext, memory_ids: list[str]) -> dict[str, Any]:
    caller = mcp_caller(ctx, "delete")
    return operations.memories_delete_respond(memory_ids, scope=caller.scope, actor=caller.actor)


async def delete_long_term_memories(ctx: McpContext, memory_ids: list[str]) -> dict[str, Any]:
    """Delete stored memories for good, when the user asks you to forget something.
    Search first and delete only the ids you found; this cannot be undone from here.

    memory_ids: the ids to delete. Returns how many were deleted.
    """
    return await in_django(_delete, ctx=ctx, memory_ids=memory_ids)
