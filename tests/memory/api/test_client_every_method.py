"""Every public method of agent-memory-client 0.14's MemoryAPIClient, driven as a new user
would drive it (one client, a default namespace, the key in its headers) against what
`make run` starts (gunicorn and a Dramatiq worker), each with the answer it must give.

The client is wrapped so that every public method the test touches is recorded; the test
fails when the client has a method it does not drive (a new client version's), or drives
one the client no longer has. Where our answer differs from agent-memory-server 0.15.2's
(driven the same way, README "Every client method"), the case says so.
"""

import asyncio
import time
import warnings
from datetime import UTC, datetime

import pytest
from agent_memory_client import MemoryAPIClient, MemoryClientConfig
from agent_memory_client.exceptions import MemoryNotFoundError, MemoryValidationError
from agent_memory_client.filters import Topics, UserId
from agent_memory_client.models import (
    ClientMemoryRecord,
    CreateSummaryViewRequest,
    ForgetPolicy,
    MemoryMessage,
    RecencyConfig,
    WorkingMemory,
)

from memory.models import MemoryRecord

NS = "every"
USER = "alice"
OLD = datetime(2020, 1, 1, tzinfo=UTC)
QUERY = "What does Alice drink in the morning?"

PUBLIC = {name for name in dir(MemoryAPIClient) if not name.startswith("_")}


class Recorded:
    """The client, recording the name of every public attribute the test reads."""

    def __init__(self, client: MemoryAPIClient, driven: set[str]):
        self._client, self._driven = client, driven

    def __getattr__(self, name: str):
        if not name.startswith("_"):
            self._driven.add(name)
        return getattr(self._client, name)


def _client(deployment) -> MemoryAPIClient:
    client = MemoryAPIClient(MemoryClientConfig(base_url=deployment.url, default_namespace=NS))
    client._client.headers.update(deployment.headers)  # the client has no auth option
    return client


# --- Working memory and sessions ------------------------------------------------------------------


async def _sessions(client) -> dict:
    out = {"health": await client.health_check(), "time": time.time()}
    out["created"] = await client.get_or_create_working_memory("s-1", user_id=USER)
    out["found"] = await client.get_or_create_working_memory("s-1", user_id=USER)
    turns = [
        MemoryMessage(id="m-1", role="user", content="I fly to Lisbon on May 3", created_at=OLD),
        MemoryMessage(id="m-2", role="assistant", content="Noted.", created_at=OLD),
    ]
    memory = WorkingMemory(session_id="s-1", user_id=USER, messages=turns, context="Alice plans a trip.")
    out["put"] = await client.put_working_memory("s-1", memory)
    with warnings.catch_warnings(record=True) as deprecated:
        warnings.simplefilter("always")
        out["get"] = await client.get_working_memory("s-1", user_id=USER)
    out["deprecated"] = [str(w.message).split(".")[0] for w in deprecated]
    out["appended"] = await client.append_messages_to_working_memory(
        "s-1", [{"role": "user", "content": "Book a window seat"}], user_id=USER
    )
    out["data set"] = await client.set_working_memory_data("s-1", {"trip": {"to": "LIS"}})
    out["data merged"] = await client.update_working_memory_data(
        "s-1", {"trip": {"pax": 2}}, merge_strategy="deep_merge", user_id=USER
    )
    note = ClientMemoryRecord(id="wm-1", text="Alice prefers window seats", user_id=USER, topics=["travel"])
    out["memories added"] = await client.add_memories_to_working_memory("s-1", [note])
    out["promoted"] = await client.promote_working_memories_to_long_term("s-1", memory_ids=["wm-1"])
    out["listed"] = await client.list_sessions(user_id=USER)
    out["deleted"] = await client.delete_working_memory("s-1", user_id=USER)
    try:
        await client.get_working_memory("s-1", user_id=USER)
        out["gone"] = False
    except MemoryNotFoundError:
        out["gone"] = True
    out["listed after"] = await client.list_sessions(user_id=USER)
    return out


def _check_sessions(out: dict) -> None:
    assert abs(out["health"].now / 1000 - out["time"]) < 60
    (created, first), (created_again, found) = out["created"], out["found"]
    assert (created, created_again) == (True, False)
    for session in (first, found):
        assert (session.session_id, session.namespace, session.user_id, session.messages) == ("s-1", NS, USER, [])
    for session in (out["put"], out["get"]):
        assert [(m.id, m.role, m.content, m.created_at) for m in session.messages] == [
            ("m-1", "user", "I fly to Lisbon on May 3", OLD),
            ("m-2", "assistant", "Noted.", OLD),
        ]
        assert (session.context, session.user_id, session.namespace) == ("Alice plans a trip.", USER, NS)
    assert out["deprecated"] == ["get_working_memory is deprecated and will be removed in a future version"]
    assert [m.content for m in out["appended"].messages] == ["I fly to Lisbon on May 3", "Noted.", "Book a window seat"]
    # The data methods re-PUT the whole session: turns, context and owner stay.
    for key, data in (("data set", {"trip": {"to": "LIS"}}), ("data merged", {"trip": {"to": "LIS", "pax": 2}})):
        session = out[key]
        assert (session.data, len(session.messages), session.user_id, session.context) == (
            data,
            3,
            USER,
            "Alice plans a trip.",
        ), key
    added = out["memories added"]
    assert [(m.id, m.text, m.topics) for m in added.memories] == [("wm-1", "Alice prefers window seats", ["travel"])]
    assert added.data == {"trip": {"to": "LIS", "pax": 2}}
    assert out["promoted"].status == "ok"
    promoted = MemoryRecord.objects.get(id="wm-1")
    assert (promoted.text, promoted.namespace, promoted.user_id) == ("Alice prefers window seats", NS, USER)
    assert (out["listed"].sessions, out["listed"].total) == (["s-1"], 1)
    assert (out["deleted"].status, out["gone"]) == ("ok", True)
    assert (out["listed after"].sessions, out["listed after"].total) == ([], 0)


# --- Long-term memory -----------------------------------------------------------------------------


def _record(id: str, text: str, **fields) -> ClientMemoryRecord:
    return ClientMemoryRecord(id=id, text=text, user_id=fields.pop("user_id", USER), **fields)


async def _long_term(client) -> dict:
    out = {
        "created": await client.create_long_term_memory(
            [
                _record("tea", "Alice drinks green tea every morning", topics=["drinks"], entities=["Alice"]),
                _record("bike", "Alice rode her bike to Sintra", memory_type="episodic", event_date=OLD),
                _record("bob", "Bob collects vinyl records", user_id="bob", created_at=OLD, last_accessed=OLD),
            ]
        )
    }
    batches = [
        [_record("b-1", "Alice plays chess"), _record("b-2", "Alice reads poetry")],
        [_record("b-3", "Alice bakes bread")],
    ]
    out["bulk"] = await client.bulk_create_long_term_memories(batches, batch_size=1, delay_between_batches=0)
    out["fetched"] = await client.get_long_term_memory("tea")
    out["edited"] = await client.edit_long_term_memory("tea", {"text": "Alice drinks black coffee every morning"})
    no_recency = RecencyConfig(recency_boost=False)
    out["found"] = await client.search_long_term_memory(
        text=QUERY, user_id=UserId(eq=USER), topics=Topics(any=["drinks"]), recency=no_recency
    )
    out["all"] = [
        m.id async for m in client.search_all_long_term_memories(text="", user_id=UserId(eq=USER), batch_size=2)
    ]
    out["tool search"] = await client.search_memory_tool(query=QUERY, user_id=USER, max_results=1)
    out["prompt"] = await client.memory_prompt(
        QUERY, long_term_search={"limit": 1, "user_id": {"eq": USER}, "recency_boost": False}
    )
    out["hydrated"] = await client.hydrate_memory_prompt(QUERY, user_id={"eq": USER}, limit=1)
    out["forget"] = await client.forget_long_term_memories(ForgetPolicy(max_age_days=365), namespace=NS, user_id="bob")
    out["deleted"] = await client.delete_long_term_memories(["bike", "no-such-id"])
    try:
        await client.get_long_term_memory("bike")
        out["bike gone"] = False
    except MemoryNotFoundError:
        out["bike gone"] = True
    return out


def _prompt_messages(text: str) -> list[dict]:
    memories = f"## Long term memories related to the user's query\n - {text} (ID: tea)"
    return [
        {"role": "system", "content": {"type": "text", "text": memories}},
        {"role": "user", "content": {"type": "text", "text": QUERY}},
    ]


def _check_long_term(out: dict) -> None:
    assert out["created"].status == "ok"
    assert [ack.status for ack in out["bulk"]] == ["ok", "ok", "ok"]  # batch_size 1: one call per memory
    fetched, edited = out["fetched"], out["edited"]
    assert (fetched.id, fetched.text, fetched.namespace, fetched.user_id, fetched.topics, fetched.entities) == (
        "tea",
        "Alice drinks green tea every morning",
        NS,
        USER,
        ["drinks"],
        ["Alice"],
    )
    assert (edited.text, edited.topics, edited.created_at) == (
        "Alice drinks black coffee every morning",
        ["drinks"],
        fetched.created_at,
    )
    assert edited.memory_hash != fetched.memory_hash  # re-hashed with the new text
    found = out["found"]
    assert ([m.id for m in found.memories], found.total, found.next_offset) == (["tea"], 1, None)
    assert found.memories[0].text == "Alice drinks black coffee every morning"
    # Pages of two, newest first, each record once (the reference's pages repeat records).
    assert out["all"] == ["b-3", "b-2", "b-1", "bike", "tea", "wm-1"]
    tool = out["tool search"]
    assert [(m["id"], m["text"]) for m in tool["memories"]] == [("tea", "Alice drinks black coffee every morning")]
    assert tool["memories"][0]["relevance_score"] == pytest.approx(1 - found.memories[0].dist)
    # `total` is the true count of Alice's memories (the reference counts the page: 1, no more).
    assert {k: tool[k] for k in ("total_found", "offset", "next_offset", "has_more", "summary")} == {
        "total_found": 6,
        "offset": 0,
        "next_offset": 1,
        "has_more": True,
        "summary": f"Found 1 relevant memories for: {QUERY}",
    }
    for key in ("prompt", "hydrated"):
        assert out[key]["messages"] == _prompt_messages("Alice drinks black coffee every morning"), key
        assert [m["id"] for m in out[key]["long_term_memories"]] == ["tea"], key
    # The client sends no dry_run unless told true: the reference previews, and so do we.
    forgot = out["forget"]
    assert (forgot.scanned, forgot.deleted, forgot.deleted_ids, forgot.dry_run) == (1, 1, ["bob"], True)
    assert MemoryRecord.objects.filter(id="bob").count() == 1
    assert (out["deleted"].status, out["bike gone"]) == ("ok, deleted 1 memories", True)


# --- Tool helpers ---------------------------------------------------------------------------------

SCHEMAS = {
    "get_memory_search_tool_schema": "search_memory",
    "get_working_memory_tool_schema": "get_or_create_working_memory",
    "get_lazily_create_long_term_memory_tool_schema": "lazily_create_long_term_memory",
    "get_update_memory_data_tool_schema": "update_working_memory_data",
    "get_long_term_memory_tool_schema": "get_long_term_memory",
    "edit_long_term_memory_tool_schema": "edit_long_term_memory",
    "get_eagerly_create_long_term_memory_tool_schema": "eagerly_create_long_term_memory",
    "delete_long_term_memories_tool_schema": "delete_long_term_memories",
    "get_current_datetime_tool_schema": "get_current_datetime",
}


def _schemas(client) -> dict:
    """Each schema method's tool name and format (they build the schema client-side)."""
    out = {}
    for method, _ in SCHEMAS.items():
        for suffix in ("", "_anthropic"):
            schema = getattr(client, method + suffix)()
            out[method + suffix] = (schema.get_name(), schema.format)
    for suffix in ("", "_anthropic"):
        collection = getattr(client, "get_all_memory_tool_schemas" + suffix)()
        out["get_all_memory_tool_schemas" + suffix] = sorted(s.get_name() for s in collection)
    return out


OPENAI_CALL = {"id": "c-1", "type": "function", "function": {"name": "get_current_datetime", "arguments": "{}"}}
LEGACY_CALL = {"name": "search_memory", "arguments": '{"query": "tea", "max_results": 1}'}
ANTHROPIC_USE = {"id": "u-1", "type": "tool_use", "name": "get_long_term_memory", "input": {"memory_id": "tea"}}


def _parsed(client) -> dict:
    return {
        "parse_openai_tool_call": client.parse_openai_tool_call(OPENAI_CALL),
        "parse_openai_function_call": client.parse_openai_function_call(LEGACY_CALL),
        "parse_anthropic_tool_use": client.parse_anthropic_tool_use(ANTHROPIC_USE),
        "parse_tool_call": [client.parse_tool_call(c) for c in (OPENAI_CALL, LEGACY_CALL, ANTHROPIC_USE)],
    }


async def _tools(client) -> dict:
    out = {"schemas": _schemas(client), "parsed": _parsed(client)}
    out["get tool"] = await client.get_working_memory_tool(session_id="t-1", user_id=USER)
    out["get or create tool"] = await client.get_or_create_working_memory_tool(session_id="t-1", user_id=USER)
    out["add tool"] = await client.add_memory_tool(
        session_id="t-1", text="Alice is allergic to peanuts", memory_type="semantic", topics=["health"], user_id=USER
    )
    out["data tool"] = await client.update_memory_data_tool(session_id="t-1", data={"diet": "no peanuts"}, user_id=USER)
    common = {"session_id": "t-1", "user_id": USER}
    out["function"] = await client.resolve_function_call(
        "eagerly_create_long_term_memory",
        {"memories": [{"id": "r-1", "text": "Alice runs on Sundays", "topics": ["sport"]}]},
        **common,
    )
    out["functions"] = await client.resolve_function_calls(
        [
            {"name": "get_long_term_memory", "arguments": {"memory_id": "r-1"}},
            {"name": "edit_long_term_memory", "arguments": '{"memory_id": "r-1", "text": "Alice runs on Saturdays"}'},
            {"name": "no_such_tool", "arguments": {}},
        ],
        **common,
    )
    out["tool call"] = await client.resolve_tool_call(OPENAI_CALL, **common)
    out["tool calls"] = await client.resolve_tool_calls(
        [
            {"type": "tool_use", "id": "u-2", "name": "search_memory", "input": {"query": "running", "max_results": 1}},
            {
                "type": "tool_use",
                "id": "u-3",
                "name": "lazily_create_long_term_memory",
                "input": {"text": "Alice likes figs"},
            },
            {"type": "tool_use", "id": "u-4", "name": "update_working_memory_data", "input": {"data": {"k": 1}}},
            {"type": "tool_use", "id": "u-5", "name": "get_or_create_working_memory", "input": {}},
            {"type": "tool_use", "id": "u-6", "name": "delete_long_term_memories", "input": {"memory_ids": ["r-1"]}},
        ],
        **common,
    )
    good = ClientMemoryRecord(text="Alice likes figs")
    out["valid"] = client.validate_memory_record(good), client.validate_search_filters(limit=5, offset=0)
    out["invalid"] = []
    for bad in (
        lambda: client.validate_memory_record(ClientMemoryRecord(text=" ")),
        lambda: client.validate_memory_record(ClientMemoryRecord(id="not-a-ulid", text="x")),
        lambda: client.validate_search_filters(colour="red"),
        lambda: client.validate_search_filters(limit=0),
    ):
        try:
            bad()
        except MemoryValidationError as exc:
            out["invalid"].append(str(exc))
    return out


# --- Summary views and tasks ----------------------------------------------------------------------


async def _summary_views(client) -> dict:
    request = CreateSummaryViewRequest(
        name="per user", source="long_term", group_by=["user_id"], filters={"namespace": NS}
    )
    view = await client.create_summary_view(request)
    out = {"view": view, "listed": await client.list_summary_views(), "got": await client.get_summary_view(view.id)}
    out["no view"] = await client.get_summary_view("no-such-view")
    out["partition"] = await client.run_summary_view_partition(view.id, {"user_id": USER})
    out["partitions"] = await client.list_summary_view_partitions(view.id, user_id=USER)
    out["task"] = await client.run_summary_view(view.id, force=True)

    async def finished():
        task = await client.get_task(out["task"].id)
        return task if task.status in ("completed", "failed") else None

    deadline = time.monotonic() + 60
    while (done := await finished()) is None and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    out["done"], out["no task"] = done, await client.get_task("no-such-task")
    out["deleted"] = await client.delete_summary_view(view.id)
    out["after delete"] = await client.get_summary_view(view.id)
    return out


def _check_summary_views(out: dict) -> None:
    view = out["view"]
    assert view.model_dump(exclude={"id"}) == {
        "name": "per user",
        "source": "long_term",
        "group_by": ["user_id"],
        "filters": {"namespace": NS},
        "time_window_days": None,
        "continuous": False,
        "prompt": None,
        "model_name": None,
    }
    assert (out["listed"], out["got"], out["no view"]) == ([view], view, None)
    partition = out["partition"]
    assert (partition.view_id, partition.group, partition.memory_count) == (view.id, {"user_id": USER}, 5)
    # No LLM configured: an extractive summary, labelled so, of Alice's five memories.
    header, *lines = partition.summary.split("\n")
    assert header.startswith("Extractive summary (no LLM configured)")
    assert sorted(line.split("] ", 1)[1] for line in lines) == [
        "Alice bakes bread",
        "Alice drinks black coffee every morning",
        "Alice plays chess",
        "Alice prefers window seats",
        "Alice reads poetry",
    ]
    assert out["partitions"] == [partition]
    task, done = out["task"], out["done"]
    assert (task.type, task.status, task.view_id, task.started_at) == (
        "summary_view_full_run",
        "pending",
        view.id,
        None,
    )
    assert (done.id, done.status, done.error_message) == (task.id, "completed", None)
    assert done.started_at is not None and done.completed_at is not None
    assert out["no task"] is None
    assert (out["deleted"].status, out["after delete"]) == ("ok", None)


def _ok(result) -> dict:
    """A resolved tool call's fields, its result as a dict of plain values."""
    fields = result if isinstance(result, dict) else dict(result)
    return {k: fields[k] for k in ("success", "function_name", "error")}


def _check_tools(out: dict) -> None:
    _check_tool_schemas_and_parsing(out)
    _check_tool_helpers(out)
    _check_resolved_calls(out)
    assert out["valid"] == (None, None)
    assert out["invalid"] == [
        "Memory text cannot be empty",
        "Invalid ID format: not-a-ulid",
        "Invalid filter key: colour",
        "Limit must be a positive integer",
    ]


def _check_tool_schemas_and_parsing(out: dict) -> None:
    assert out["schemas"] == {
        **{method: (name, "openai") for method, name in SCHEMAS.items()},
        **{method + "_anthropic": (name, "anthropic") for method, name in SCHEMAS.items()},
        "get_all_memory_tool_schemas": sorted(
            set(SCHEMAS.values()) - {"get_current_datetime"} | {"get_current_datetime"}
        ),
        "get_all_memory_tool_schemas_anthropic": sorted(SCHEMAS.values()),
    }
    openai = {"id": "c-1", "name": "get_current_datetime", "arguments": {}, "provider": "openai"}
    legacy = {
        "id": None,
        "name": "search_memory",
        "arguments": {"query": "tea", "max_results": 1},
        "provider": "openai",
    }
    anthropic = {
        "id": "u-1",
        "name": "get_long_term_memory",
        "arguments": {"memory_id": "tea"},
        "provider": "anthropic",
    }
    assert out["parsed"] == {
        "parse_openai_tool_call": openai,
        "parse_openai_function_call": legacy,
        "parse_anthropic_tool_use": anthropic,
        "parse_tool_call": [openai, legacy, anthropic],
    }


def _check_tool_helpers(out: dict) -> None:
    empty = {"context": None, "data": {}, "data_keys": [], "memories": [], "memory_count": 0, "message_count": 0}
    assert out["get tool"] == {
        "session_id": "t-1",
        **empty,
        "summary": "Session has 0 messages, 0 stored memories, and 0 data entries",
    }
    assert out["get or create tool"] == {
        "session_id": "t-1",
        "created": False,  # the call before created it
        **empty,
        "summary": "Retrieved existing session with 0 messages, 0 stored memories, and 0 data entries",
    }
    assert out["add tool"] == {
        "success": True,
        "memory_type": "semantic",
        "text_preview": "Alice is allergic to peanuts",
        "topics": ["health"],
        "entities": [],
        "summary": "Successfully stored semantic memory: Alice is allergic to peanuts...",
    }
    assert out["data tool"] == {
        "success": True,
        "updated_keys": ["diet"],
        "merge_strategy": "merge",
        "data_preview": "diet: no peanuts...",
        "summary": "Successfully updated 1 data entries using merge strategy",
    }


def _check_resolved_calls(out: dict) -> None:
    assert dict(out["function"]) == {
        "success": True,
        "function_name": "eagerly_create_long_term_memory",
        "result": {"status": "ok", "message": "Created 1 memories successfully"},
        "error": None,
        "formatted_response": "{'status': 'ok', 'message': 'Created 1 memories successfully'}",
    }
    got, edited, unknown = out["functions"]
    assert [_ok(r) for r in (got, edited)] == [
        {"success": True, "function_name": name, "error": None}
        for name in ("get_long_term_memory", "edit_long_term_memory")
    ]
    assert (got["result"]["memory"].text, got["result"]["memory"].topics) == ("Alice runs on Sundays", ["sport"])
    assert edited["result"]["memory"].text == "Alice runs on Saturdays"
    assert dict(unknown) == {
        "success": False,
        "function_name": "no_such_tool",
        "result": None,
        "error": "Unknown function: no_such_tool",
        "formatted_response": "I don't know how to handle the function 'no_such_tool'. Please check the function name.",
    }
    now = out["tool call"]
    assert _ok(now) == {"success": True, "function_name": "get_current_datetime", "error": None}
    assert abs(now["result"]["unix_ts"] - time.time()) < 60
    search, lazily, data, session, delete = out["tool calls"]
    assert all(r["success"] for r in out["tool calls"]), out["tool calls"]
    assert [m["id"] for m in search["result"]["memories"]] == ["r-1"]
    assert lazily["result"]["summary"] == "Successfully stored semantic memory: Alice likes figs..."
    assert data["result"]["updated_keys"] == ["k"]
    assert (session["result"]["data"], [m["text"] for m in session["result"]["memories"]]) == (
        {"diet": "no peanuts", "k": 1},
        ["Alice is allergic to peanuts", "Alice likes figs"],
    )
    assert delete["result"] == {"status": "ok, deleted 1 memories"}
    assert MemoryRecord.objects.filter(id="r-1").count() == 0


async def _drive(deployment, driven: set[str]) -> dict:
    client = Recorded(_client(deployment), driven)
    out = {}
    for part in (_sessions, _long_term, _summary_views, _tools):
        out[part.__name__] = await part(client)
    await client.close()
    return out


@pytest.mark.multiprocess
def test_every_public_method_answers_as_it_should(deployment):
    driven: set[str] = set()
    out = asyncio.run(_drive(deployment, driven))
    _check_sessions(out["_sessions"])
    _check_long_term(out["_long_term"])
    _check_summary_views(out["_summary_views"])
    _check_tools(out["_tools"])
    # Every public method was driven: a method a new client version adds fails here.
    assert sorted(PUBLIC - driven) == []
    assert sorted(driven - PUBLIC) == []
