"""Forgetting and compaction tools: forget_memories, compact_long_term_memories.

agent-memory-server 0.15's MCP has compact_long_term_memories and no forget; its MCP
parity pull request (#267) names the forget tool forget_memories, with the parameters of
POST /v1/long-term-memory/forget. Each tool sends what POST .../forget and POST
.../compact take, by the same names and in the same place (query or body), to the
operation those routes call (`memory.api.long_term.operations`), so the two doors answer
alike: the same namespace rule (a namespace must be named unless the key has one), the
same cap per call, the same dry-run default (a `dry_run` left out is left out of both).
"""

from typing import Any, Literal

from typing_extensions import TypedDict

from memory.api.long_term import operations
from memory.mcp.calls import in_django
from memory.mcp.scope import McpContext, mcp_caller


class ForgetPolicy(TypedDict, total=False):
    """Which memories to forget (POST /v1/long-term-memory/forget's `policy`)."""

    max_age_days: float | None
    max_inactive_days: float | None
    budget: int | None
    memory_type_allowlist: list[Literal["semantic", "episodic", "message"]] | None


def _forget(ctx: McpContext, query: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    caller = mcp_caller(ctx, "delete")
    return operations.memories_forget_respond(query, body, scope=caller.scope, actor=caller.actor)


async def forget_memories(
    ctx: McpContext,
    policy: ForgetPolicy,
    namespace: str | None = None,
    user_id: str | None = None,
    session_id: str | None = None,
    limit: int | None = None,
    dry_run: bool | None = None,
    pinned_ids: list[str] | None = None,
) -> dict[str, Any]:
    """Forget old, unused or surplus memories by a policy, when the user asks you to clean up
    their memory. Run it first as it is (a dry run: it only lists what would go), show the
    user, and only then call it again with dry_run=false.

    policy: {"max_age_days": N} (created more than N days ago), {"max_inactive_days": N} (not
    read for N days; with both, a memory must be both), {"budget": N} (keep the N most recently
    made or read), at least one of them;
    "memory_type_allowlist": ["episodic", ...] limits it to those types. Pinned memories stay.
    namespace: where to act (required unless this server or key has one namespace).
    user_id, session_id: only that user's or session's memories. limit: at most this many per
    call. pinned_ids: ids to keep whatever the policy says.
    Returns {"scanned", "deleted", "deleted_ids", "dry_run", "remaining", "max_per_call"}.
    """
    query = {k: v for k, v in locals().items() if v is not None and k not in ("ctx", "policy", "pinned_ids")}
    body: dict[str, Any] = {"policy": policy}
    if pinned_ids is not None:
        body["pinned_ids"] = pinned_ids
    return await in_django(_forget, ctx=ctx, query=query, body=body)


def _compact(ctx: McpContext, query: dict[str, Any]) -> dict[str, Any]:
    caller = mcp_caller(ctx, "delete")
    return operations.memories_compact_respond(query, scope=caller.scope, actor=caller.actor)


async def compact_long_term_memories(
    ctx: McpContext, namespace: str | None = None, user_id: str | None = None
) -> dict[str, Any]:
    """Merge duplicate memories (the same text, or the same meaning in other words) into one,
    when you notice the user's memory repeats itself. Merged memories can be brought back
    from their history.

    namespace: where to act (required unless this server or key has one namespace).
    user_id: only that user's memories.
    Returns {"status", "merged", "remaining"}.
    """
    query = {k: v for k, v in locals().items() if v is not None and k != "ctx"}
    return await in_django(_compact, ctx=ctx, query=query)
