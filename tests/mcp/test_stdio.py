"""The MCP server over stdio, driven by the SDK's own client as a subprocess of
`manage.py mcp`, on the test DB and Redis: the tools, their effects, and bad arguments
as tool errors that name the argument."""

import pytest

from memory.models import MemoryHistory, MemoryRecord
from tests.helpers import operator_api_key
from tests.mcp.client import TOOL_NAMES, over_stdio

pytestmark = pytest.mark.django_db(transaction=True)

TEA = {"text": "Alice drinks green tea every morning", "user_id": "alice", "namespace": "home", "id": "tea"}
BIKE = {"text": "Alice rides her bike to work", "user_id": "alice", "namespace": "home", "id": "bike"}
QUERY = "What does Alice drink in the morning?"


def test_tools_over_stdio_create_search_prompt_and_keep_working_memory(redis_client):
    async def work(tools):
        names = await tools.names()
        created = await tools.call("create_long_term_memories", memories=[TEA, BIKE])
        found = await tools.call("search_long_term_memory", text=QUERY, user_id={"eq": "alice"}, limit=2)
        fetched = await tools.call("get_long_term_memory", memory_id="tea")
        edited = await tools.call("edit_long_term_memory", memory_id="bike", text="Alice rides her e-bike to work")
        messages = [{"role": "user", "content": "Hi, I am Alice."}, {"role": "assistant", "content": "Hello!"}]
        stored = await tools.call(
            "set_working_memory", session_id="s1", messages=messages, namespace="home", user_id="alice"
        )
        read = await tools.call("get_working_memory", session_id="s1", namespace="home", user_id="alice")
        prompt = await tools.call(
            "memory_prompt", query=QUERY, session_id="s1", namespace="home", user_id="alice", limit=1
        )
        deleted = await tools.call("delete_long_term_memories", memory_ids=["bike"])
        now = await tools.call("get_current_datetime")
        return names, created, found, fetched, edited, stored, read, prompt, deleted, now

    key = operator_api_key("stdio")
    names, created, found, fetched, edited, stored, read, prompt, deleted, now = over_stdio(work, MCP_API_KEY=key)

    assert names == TOOL_NAMES
    # The REST create's answer, distance and history_id included (a merge's; none here) (issue 21).
    assert created["memories"] == [
        {"id": "tea", "outcome": "created", "distance": None, "history_id": None, "conflicts": []},
        {"id": "bike", "outcome": "created", "distance": None, "history_id": None, "conflicts": []},
    ]
    assert [m["id"] for m in found["memories"]] == ["tea", "bike"]
    assert found["total"] == 2
    assert (fetched["text"], fetched["namespace"]) == (TEA["text"], "home")
    assert edited["text"] == "Alice rides her e-bike to work"
    assert [m["content"] for m in stored["messages"]] == ["Hi, I am Alice.", "Hello!"]
    assert [m["content"] for m in read["messages"]] == ["Hi, I am Alice.", "Hello!"]
    assert [(m["role"], m["content"]["text"]) for m in prompt["messages"]] == [
        ("user", "Hi, I am Alice."),
        ("assistant", "Hello!"),
        ("system", "## Long term memories related to the user's query\n - " + TEA["text"] + " (ID: tea)"),
        ("user", QUERY),
    ]
    assert prompt["memories_used"]["memories"][0]["id"] == "tea"
    assert deleted["deleted"] == 1
    assert now["iso_utc"].endswith("Z") and isinstance(now["unix_ts"], int)

    assert list(MemoryRecord.objects.values_list("id", flat=True)) == ["tea"]
    # Every change is recorded under the MCP caller's actor: its key's public prefix.
    actor = f"mcp:key-{key.partition('.')[0]}"
    assert set(MemoryHistory.objects.values_list("action", "actor")) == {
        ("created", actor),
        ("edited", actor),
        ("deleted", actor),
    }


BAD_CALLS = {
    "limit 0": (
        "search_long_term_memory",
        {"text": "tea", "limit": 0},
        "limit: Ensure this value is greater than or equal to 1.",
    ),
    "unknown mode": (
        "search_long_term_memory",
        {"text": "tea", "search_mode": "fuzzy"},
        "search_mode\n  Input should be 'semantic', 'keyword' or 'hybrid'",
    ),
    "bad filter": (
        "search_long_term_memory",
        {"text": "tea", "topics": {"like": "x"}},
        "topics.like: Unknown operator 'like'; tag filters take eq, ne, any, all, in_, not_eq, not_in, none.",
    ),
    "bad id": ("get_long_term_memory", {"memory_id": "no-such-id"}, "memory_id: no memory with id 'no-such-id'."),
    "edit bad id": (
        "edit_long_term_memory",
        {"memory_id": "no-such-id", "text": "x"},
        "memory_id: no memory with id 'no-such-id'.",
    ),
    "empty text": ("create_long_term_memories", {"memories": [{"text": "  "}]}, "memories[0].text: Must not be empty."),
    "prompt limit": (
        "memory_prompt",
        {"query": "tea", "limit": 0},
        "limit: Ensure this value is greater than or equal to 1.",
    ),
    "prompt window": (
        "memory_prompt",
        {"query": "tea", "session_id": "s1", "context_window_max": 0},
        "context_window_max: Ensure this value is greater than or equal to 1.",
    ),
    "bad message": (
        "set_working_memory",
        {"session_id": "s1", "messages": [{"role": "user"}]},
        "messages[0].content: Required: a string.",
    ),
    "no ids": ("delete_long_term_memories", {"memory_ids": []}, "memory_ids: Give at least one memory id."),
    # The REST search's depth cap, word for word (issue 20).
    "search too deep": (
        "search_long_term_memory",
        {"text": "tea", "search_mode": "keyword", "offset": 9990},
        "offset: offset + limit must be at most 1000 for a search with text (got 10000); narrow the filters instead.",
    ),
    "prompt too deep": (
        "memory_prompt",
        {"query": "tea", "search_mode": "hybrid", "offset": 9990},
        "offset: offset + limit must be at most 1000 for a search with text (got 10000); narrow the filters instead.",
    ),
}


@pytest.fixture(scope="module")
def bad_call_results(django_db_setup, django_db_blocker):
    """Every bad call of BAD_CALLS, in one stdio session (one process start)."""

    async def work(tools):
        return {case: await tools.result(name, **args) for case, (name, args, _) in BAD_CALLS.items()}

    with django_db_blocker.unblock():
        return over_stdio(work)


@pytest.mark.parametrize("case", BAD_CALLS)
def test_a_bad_argument_is_a_tool_error_naming_it(bad_call_results, case):
    result = bad_call_results[case]
    assert result.isError is True
    name, _, message = BAD_CALLS[case]
    assert result.content[0].text.startswith(f"Error executing tool {name}: ")
    assert message in result.content[0].text


def test_a_pinned_namespace_fills_missing_arguments_and_refuses_others():
    async def work(tools):
        created = await tools.call("create_long_term_memories", memories=[{"text": "Alice likes jazz", "id": "jazz"}])
        found = await tools.call("search_long_term_memory", text="music")
        other = await tools.result("search_long_term_memory", text="music", namespace={"eq": "work"})
        other_create = await tools.result("create_long_term_memories", memories=[{"text": "x", "namespace": "work"}])
        other_session = await tools.result("get_working_memory", session_id="s1", namespace="work")
        return created, found, other, other_create, other_session

    created, found, other, other_create, other_session = over_stdio(work, MCP_NAMESPACE="home")
    assert created["memories"][0]["outcome"] == "created"
    assert MemoryRecord.objects.get(id="jazz").namespace == "home"
    assert [m["id"] for m in found["memories"]] == ["jazz"]
    assert other.isError and "pinned to namespace 'home'" in other.content[0].text
    assert other_create.isError and "memories[0].namespace: this MCP server is pinned" in other_create.content[0].text
    assert other_session.isError and "namespace: " in other_session.content[0].text
    assert MemoryRecord.objects.count() == 1
