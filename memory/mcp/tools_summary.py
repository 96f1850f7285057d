"""Summary views and tasks: the tools agent-memory-server's MCP lacks, named as
agent-memory-client 0.14's methods (create_summary_view, list_summary_views,
get_summary_view, delete_summary_view, run_summary_view_partition,
list_summary_view_partitions, run_summary_view, get_task).

Each calls the operation its REST route calls (`memory.api.summary_views.operations`),
with the same permission (read to read, write to create and run, delete to delete) and
scope, so another tenant's view or task does not exist here either. A listing answers
an object (`summary_views`, `partitions`) holding the list REST answers.
"""

from typing import Any, Literal

from memory.api.summary_views import operations
from memory.mcp.calls import in_django
from memory.mcp.scope import McpContext, mcp_caller

GroupField = Literal["user_id", "namespace", "session_id", "memory_type"]


def _create(ctx: McpContext, body: dict[str, Any]) -> dict[str, Any]:
    return operations.summary_view_create_respond(body, scope=mcp_caller(ctx, "write").scope)


async def create_summary_view(
    ctx: McpContext,
    group_by: list[GroupField],
    source: Literal["long_term"] = "long_term",
    name: str | None = None,
    filters: dict[str, Any] | None = None,
    time_window_days: int | None = None,
    continuous: bool = False,
    prompt: str | None = None,
    model_name: str | None = None,
) -> dict[str, Any]:
    """Create a summary view: long-term memories grouped into partitions, each summarised.

    group_by: fields that split the memories into partitions (user_id, namespace,
    session_id, memory_type); [] makes one partition. filters: static filters on user_id,
    namespace, session_id, memory_type, extraction_strategy (a string, a list meaning any,
    or a search filter object such as {"all": [..]}), topics, and event_date ({"gte": ISO 8601, ...}).
    time_window_days: only memories created in the last N days. continuous: refreshed by the
    server when memories change. prompt, model_name: how to summarise (else the server's policy).
    Returns the view, with its id.
    """
    body = {k: v for k, v in locals().items() if v is not None and k != "ctx"}
    return await in_django(_create, ctx=ctx, body=body)


def _list(ctx: McpContext) -> dict[str, Any]:
    return {"summary_views": operations.summary_views_list_respond(scope=mcp_caller(ctx, "read").scope)}


async def list_summary_views(ctx: McpContext) -> dict[str, Any]:
    """List the summary views this credential can see. Returns {"summary_views": [...]}."""
    return await in_django(_list, ctx=ctx)


def _get(ctx: McpContext, view_id: str) -> dict[str, Any]:
    return operations.summary_view_get_respond(view_id, scope=mcp_caller(ctx, "read").scope)


async def get_summary_view(ctx: McpContext, view_id: str) -> dict[str, Any]:
    """Read one summary view's configuration by its id."""
    return await in_django(_get, ctx=ctx, view_id=view_id)


def _delete(ctx: McpContext, view_id: str) -> dict[str, Any]:
    return operations.summary_view_delete_respond(view_id, scope=mcp_caller(ctx, "delete").scope)


async def delete_summary_view(ctx: McpContext, view_id: str) -> dict[str, Any]:
    """Delete a summary view and its stored partition summaries (memories are untouched)."""
    return await in_django(_delete, ctx=ctx, view_id=view_id)


def _run_partition(ctx: McpContext, view_id: str, group: dict[str, str]) -> dict[str, Any]:
    scope = mcp_caller(ctx, "write").scope
    return operations.summary_view_partition_run_respond(view_id, {"group": group}, scope=scope)


async def run_summary_view_partition(ctx: McpContext, view_id: str, group: dict[str, str]) -> dict[str, Any]:
    """Summarise one partition of a view now and store it.

    group: a value for each of the view's group_by fields, e.g. {"user_id": "alice"}.
    Returns {"view_id", "group", "summary", "memory_count", "empty", "computed_at", ...}.
    """
    return await in_django(_run_partition, ctx=ctx, view_id=view_id, group=group)


def _partitions(ctx: McpContext, view_id: str, query: dict[str, str]) -> dict[str, Any]:
    scope = mcp_caller(ctx, "read").scope
    return {"partitions": operations.summary_view_partitions_respond(view_id, query, scope=scope)}


async def list_summary_view_partitions(
    ctx: McpContext,
    view_id: str,
    namespace: str | None = None,
    user_id: str | None = None,
    session_id: str | None = None,
    memory_type: str | None = None,
) -> dict[str, Any]:
    """The stored partition summaries of a view (computed earlier; nothing is recomputed),
    those whose group has each value given. Returns {"partitions": [...]}."""
    query = {k: v for k, v in locals().items() if v is not None and k not in ("ctx", "view_id")}
    return await in_django(_partitions, ctx=ctx, view_id=view_id, query=query)


def _run(ctx: McpContext, view_id: str, body: dict[str, Any]) -> dict[str, Any]:
    return operations.summary_view_run_respond(view_id, body, scope=mcp_caller(ctx, "write").scope)


async def run_summary_view(
    ctx: McpContext, view_id: str, force: bool = False, task_id: str | None = None
) -> dict[str, Any]:
    """Recompute every partition of a view in the background. Returns a task; poll it with get_task.

    force: recompute partitions whose memories did not change too. task_id: your own id for the task.
    """
    body = {k: v for k, v in (("force", force), ("task_id", task_id)) if v is not None}
    return await in_django(_run, ctx=ctx, view_id=view_id, body=body)


def _task(ctx: McpContext, task_id: str) -> dict[str, Any]:
    return operations.task_get_respond(task_id, scope=mcp_caller(ctx, "read").scope)


async def get_task(ctx: McpContext, task_id: str) -> dict[str, Any]:
    """A background task's status: pending, running, completed or failed, with its
    timestamps, progress (partitions_done of partitions_total) and error_message."""
    return await in_django(_task, ctx=ctx, task_id=task_id)
