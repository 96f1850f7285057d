"""The cross-tenant matrix over MCP: tenant beta's key against tenant alpha's data, on every
tool (the REST routes: tests/memory/api/test_tenant_matrix.py). A tool without cases fails
`test_every_mcp_tool_has_cases`. A refused call must be a tool error naming why and change
nothing; an allowed one shows only beta's data and leaves alpha's untouched."""

import functools
import json
from dataclasses import dataclass

import pytest
from django.conf import settings

from memory.redis_keys import ACCESS_FLUSH_GATE_KEY
from tests.helpers import child_env, db_rows, redis_state
from tests.mcp.client import over_http, start_server
from tests.tenant_pair import SESSION, USER, A, alpha_state

pytestmark = pytest.mark.django_db(transaction=True)

MESSAGE = [{"role": "user", "content": "Alice likes green tea"}]


@dataclass(frozen=True)
class ToolCase:
    arguments: dict
    # The tool error's message holds this; None: the call succeeds and shows `shows`.
    error: str | None = None
    shows: tuple[str, ...] = ()
    answer: dict | None = None  # the whole result, where it must be exactly this


OUTSIDE = f"Namespace {A!r} is outside this credential's scope"
FORGET_PREVIEW = {
    "scanned": 1,
    "deleted": 1,
    "deleted_ids": ["b-1"],
    "dry_run": True,
    "remaining": 0,
    "max_per_call": settings.MEMORY_FORGET_MAX_PER_CALL,
}
NO_VIEW = "view_id: no summary view with id 'alpha-view'."
MCP_CASES: dict[str, list[ToolCase]] = {
    "search_long_term_memory": [
        ToolCase({"text": "green tea", "namespace": {"eq": A}}, "Filter namespace.eq names 'ns-a'"),
        ToolCase({"text": "green tea", "user_id": {"eq": USER}}, shows=("b-1",)),
    ],
    "create_long_term_memories": [ToolCase({"memories": [{"text": "Mallory", "namespace": A}]}, OUTSIDE)],
    "get_long_term_memory": [ToolCase({"memory_id": "a-1"}, "memory_id: no memory with id 'a-1'.")],
    "edit_long_term_memory": [
        ToolCase({"memory_id": "a-1", "text": "Mallory"}, "memory_id: no memory with id 'a-1'."),
        ToolCase({"memory_id": "b-1", "namespace": A}, OUTSIDE),
    ],
    # Alpha's ids are unknown ids to beta: ignored, the same answer as for ids nobody has.
    "delete_long_term_memories": [
        ToolCase({"memory_ids": ["a-1"]}, answer={"status": "ok, deleted 0 memories", "deleted": 0}),
        ToolCase({"memory_ids": ["a-1", "a-2"]}, answer={"status": "ok, deleted 0 memories", "deleted": 0}),
    ],
    "memory_prompt": [
        ToolCase({"query": "tea?", "session_id": SESSION, "namespace": A}, OUTSIDE),
        ToolCase({"query": "green tea", "session_id": SESSION}, shows=("beta's turn", "b-1")),
    ],
    "set_working_memory": [ToolCase({"session_id": SESSION, "namespace": A, "messages": MESSAGE}, OUTSIDE)],
    "get_working_memory": [
        ToolCase({"session_id": SESSION, "namespace": A}, OUTSIDE),
        ToolCase({"session_id": SESSION}, shows=("beta's turn",)),
    ],
    "get_current_datetime": [ToolCase({}, shows=())],
    "forget_memories": [
        ToolCase({"policy": {"budget": 0}, "namespace": A, "dry_run": False}, OUTSIDE),
        # Beta's key has one namespace: a forget naming none acts there, a dry run by default.
        ToolCase({"policy": {"budget": 0}}, answer=FORGET_PREVIEW),
    ],
    "compact_long_term_memories": [ToolCase({"namespace": A}, OUTSIDE)],
    "list_sessions": [
        ToolCase({"namespace": A}, OUTSIDE),
        ToolCase({"user_id": USER}, answer={"sessions": [SESSION], "total": 1}),
    ],
    "delete_working_memory": [
        ToolCase({"session_id": "s-alpha-only", "namespace": A}, OUTSIDE),
        # Beta has no such session: nothing to delete, alpha's stays.
        ToolCase({"session_id": "s-alpha-only"}, answer={"status": "ok"}),
    ],
    "get_long_term_memory_history": [ToolCase({"memory_id": "a-gone"}, "memory_id: no history.")],
    # ALPHA_UNDO: the history id of alpha's deleted record, known once the tenants are made.
    "undo_long_term_memory_change": [ToolCase({"history_id": "ALPHA_UNDO"}, "history_id: no such entry.")],
    "create_summary_view": [
        ToolCase({"group_by": ["user_id"], "filters": {"namespace": A}}, "Filter filters.namespace names 'ns-a'")
    ],
    "list_summary_views": [ToolCase({}, answer={"summary_views": []})],
    "get_summary_view": [ToolCase({"view_id": "alpha-view"}, NO_VIEW)],
    "delete_summary_view": [ToolCase({"view_id": "alpha-view"}, NO_VIEW)],
    "run_summary_view_partition": [ToolCase({"view_id": "alpha-view", "group": {"user_id": USER}}, NO_VIEW)],
    "list_summary_view_partitions": [ToolCase({"view_id": "alpha-view"}, NO_VIEW)],
    "run_summary_view": [ToolCase({"view_id": "alpha-view"}, NO_VIEW)],
    "get_task": [ToolCase({"task_id": "alpha-task"}, "task_id: no task with id 'alpha-task'.")],
}


def _tool_shown(result: dict) -> tuple[str, ...]:
    if "memories_used" in result:  # the prompt: the session's turns, then the memories it shows
        turns = [m["content"]["text"] for m in result["messages"] if m["role"] in ("user", "assistant")]
        return (*turns[:-1], *(m["id"] for m in (result["memories_used"] or {}).get("memories", [])))
    if "session_id" in result:  # a session: its turns
        return tuple(m["content"] for m in result["messages"])
    return tuple(m["id"] for m in result.get("memories", []))


def test_every_mcp_tool_has_cases():
    from memory.mcp.server import TOOLS

    assert {tool.__name__ for tool in TOOLS} == set(MCP_CASES)
    count = sum(len(cases) for cases in MCP_CASES.values())
    print(f"cross-tenant matrix: {count} MCP cases over {len(TOOLS)} tools")
    assert count == 31


@pytest.mark.multiprocess
def test_beta_cannot_reach_alpha_over_mcp(tenants):
    client, alpha_undo = tenants
    beta = client._credentials["HTTP_AUTHORIZATION"]
    proc, url = start_server(child_env())
    try:
        run = functools.partial(_run_tool_cases, alpha_undo=alpha_undo)
        outcomes = over_http(f"{url}/mcp", run, headers={"Authorization": beta})
    finally:
        proc.terminate()
        proc.wait()
    for name, case, result, changed in outcomes:
        if case.error is not None:
            # FastMCP prefixes "Error executing tool <name>: " to the message.
            assert result.isError and case.error in result.content[0].text, (name, result.content[0].text)
            assert not changed, (name, case)
        else:
            assert not result.isError, (name, result.content[0].text)
            assert _tool_shown(json.loads(result.content[0].text)) == case.shows, name
            if case.answer is not None:
                assert json.loads(result.content[0].text) == case.answer, name
            assert not changed, (name, case)


def _everything_but_the_flush_gate() -> tuple:
    """Every Redis key and DB row, but the access-count gate: beta's searches open it, and
    it expires by itself MEMORY_ACCESS_FLUSH_SECONDS later, inside whichever case is
    running then (a full run's timing once put that inside a refused case)."""
    keys = {k: v for k, v in redis_state().items() if k != ACCESS_FLUSH_GATE_KEY.encode()}
    return keys, db_rows()


async def _run_tool_cases(tools, alpha_undo: int) -> dict:
    from asgiref.sync import sync_to_async

    outcomes = []
    for name, cases in MCP_CASES.items():
        for case in cases:
            # A refused call changes nothing; an allowed one leaves alpha's data as it was.
            state = alpha_state if case.error is None else _everything_but_the_flush_gate
            before = await sync_to_async(state)()
            arguments = {k: alpha_undo if v == "ALPHA_UNDO" else v for k, v in case.arguments.items()}
            result = await tools.result(name, **arguments)
            outcomes.append((name, case, result, await sync_to_async(state)() != before))
    return outcomes
