"""A memory's history and undo: get_long_term_memory_history, undo_long_term_memory_change.

Neither exists on agent-memory-server. Each calls the operation its REST route calls
(`memory.api.history`: GET /v1/long-term-memory/{id}/history, POST
/v1/long-term-memory/history/{history_id}/undo), with the same permission (reading,
writing) and the same scope, so a record outside it has no history here either.
"""

from typing import Any

from memory.api.history import history_undo_respond, memory_history_respond
from memory.mcp.calls import in_django
from memory.mcp.scope import McpContext, mcp_caller


def _history(ctx: McpContext, memory_id: str) -> dict[str, Any]:
    return memory_history_respond(memory_id, scope=mcp_caller(ctx, "read").scope)


async def get_long_term_memory_history(ctx: McpContext, memory_id: str) -> dict[str, Any]:
    """What happened to a stored memory, newest first: created, edited (the fields before and
    after), merged with a duplicate, deleted, brought back; also after it was deleted or
    forgotten. Use it when the user asks why a memory changed or where it went.

    memory_id: the memory's id. Returns {"memory_id", "history": [{"id", "action", "actor",
    "reason", "created_at", "undoable", "detail", ...}], "total"}.
    """
    return await in_django(_history, ctx=ctx, memory_id=memory_id)


def _undo(ctx: McpContext, history_id: int) -> dict[str, Any]:
    caller = mcp_caller(ctx, "write")
    return history_undo_respond(history_id, scope=caller.scope, actor=caller.actor)


async def undo_long_term_memory_change(ctx: McpContext, history_id: int) -> dict[str, Any]:
    """Undo a merge or a delete of a memory, when the user wants a forgotten or merged memory
    back: the memory returns as it was.

    history_id: the "id" of an entry with "undoable": true, from get_long_term_memory_history.
    An edit cannot be undone here: edit the memory back instead.
    Returns {"status", "history_id", "memory"}.
    """
    return await in_django(_undo, ctx=ctx, history_id=history_id)
