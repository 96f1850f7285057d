"""The tools agent-memory-server's MCP lacks (forget_memories, compact_long_term_memories,
list_sessions, delete_working_memory, get_long_term_memory_history,
undo_long_term_memory_change) keep the REST routes' rules: the key's permission (a refusal
changes nothing), the server's pin, and a forget that previews unless told otherwise.
What they answer, field by field against REST: tests/mcp/test_doors_agree.py; another
tenant's data: tests/mcp/test_tenant_matrix.py."""

import pytest

from memory.models import MemoryHistory, MemoryRecord
from memory.services.api_keys import api_key_create
from memory.services.long_term import memories_delete
from tests.factories import memory_records_create
from tests.helpers import db_rows, operator_api_key, put_session, redis_state
from tests.mcp.client import over_stdio

pytestmark = pytest.mark.django_db(transaction=True)

MESSAGES = [{"role": "user", "content": "Hi"}]


@pytest.fixture
def homes(api):
    """Records and a session in "home" and in "work"; "gone" deleted (its delete undoable)."""
    memory_records_create(
        {"id": "home-1", "text": "Alice likes green tea", "namespace": "home", "user_id": "alice"},
        {"id": "home-2", "text": "Alice rides a bike", "namespace": "home", "user_id": "alice"},
        {"id": "work-1", "text": "Alice leads the design team", "namespace": "work", "user_id": "alice"},
        {"id": "gone", "text": "Alice had a cat", "namespace": "home", "user_id": "alice"},
    )
    memories_delete(memory_ids=["gone"], actor="test")
    for namespace in ("home", "work"):
        put_session(api, f"{namespace}-s", MESSAGES, namespace=namespace, user_id="alice")
    return MemoryHistory.objects.get(memory_id="gone", action=MemoryHistory.Action.DELETED).pk


def _refusal(name: str, message: str) -> str:
    return f"Error executing tool {name}: {message}"


def test_a_read_only_key_cannot_forget_compact_delete_a_session_or_undo(homes):
    _, secret = api_key_create(name="ro", tenant="tests", namespaces=["home"], permissions=["read"], actor="test")
    writes = {
        "forget_memories": {"policy": {"budget": 0}, "dry_run": False},
        "compact_long_term_memories": {},
        "delete_working_memory": {"session_id": "home-s"},
        "undo_long_term_memory_change": {"history_id": homes},
    }

    async def work(tools):
        refused = {name: await tools.result(name, **arguments) for name, arguments in writes.items()}
        sessions = await tools.call("list_sessions")
        history = await tools.call("get_long_term_memory_history", memory_id="gone")
        return refused, sessions, history

    before = (db_rows(), redis_state())
    refused, sessions, history = over_stdio(work, MCP_API_KEY=secret)
    needs = dict.fromkeys(writes, "delete") | {"undo_long_term_memory_change": "write"}
    assert {name: (r.isError, r.content[0].text) for name, r in refused.items()} == {
        name: (True, _refusal(name, f"This credential may not {need} (its permissions: read)."))
        for name, need in needs.items()
    }
    # The key's reads work, in its one namespace.
    assert sessions == {"sessions": ["home-s"], "total": 1}
    assert [e["action"] for e in history["history"]] == ["deleted", "created"]
    assert (db_rows(), redis_state()) == before


def test_a_pinned_server_refuses_another_namespace_and_acts_in_its_own(homes):
    other = {
        "forget_memories": {"policy": {"budget": 0}, "namespace": "work"},
        "compact_long_term_memories": {"namespace": "work"},
        "list_sessions": {"namespace": "work"},
        "delete_working_memory": {"session_id": "work-s", "namespace": "work"},
    }

    async def work(tools):
        refused = {name: await tools.result(name, **arguments) for name, arguments in other.items()}
        hidden = await tools.result("get_long_term_memory_history", memory_id="work-1")
        preview = await tools.call("forget_memories", policy={"budget": 0})
        sessions = await tools.call("list_sessions")
        return refused, hidden, preview, sessions

    before = (db_rows(), redis_state())
    refused, hidden, preview, sessions = over_stdio(work, MCP_API_KEY=operator_api_key(), MCP_NAMESPACE="home")
    pinned = "namespace: this MCP server is pinned to namespace 'home', not 'work'."
    assert {name: (r.isError, r.content[0].text) for name, r in refused.items()} == {
        name: (True, _refusal(name, pinned)) for name in other
    }
    assert (hidden.isError, hidden.content[0].text) == (
        True,
        _refusal("get_long_term_memory_history", "memory_id: no history."),
    )
    # No namespace named: the pin's. No dry_run named: a preview, nothing deleted.
    assert (preview["deleted_ids"], preview["dry_run"]) == (["home-1", "home-2"], True)
    assert sessions == {"sessions": ["home-s"], "total": 1}
    assert (db_rows(), redis_state()) == before


def test_forget_deletes_only_when_told_and_undo_brings_a_memory_back(homes):
    mcp_key = operator_api_key("upkeep")

    async def work(tools):
        forgot = await tools.call("forget_memories", policy={"budget": 1}, namespace="home", dry_run=False)
        history = await tools.call("get_long_term_memory_history", memory_id=forgot["deleted_ids"][0])
        undone = await tools.call("undo_long_term_memory_change", history_id=history["history"][0]["id"])
        again = await tools.result("undo_long_term_memory_change", history_id=history["history"][0]["id"])
        return forgot, history, undone, again

    forgot, history, undone, again = over_stdio(work, MCP_API_KEY=mcp_key)
    actor = f"mcp:key-{mcp_key.split('.')[0]}"
    assert (forgot["deleted"], forgot["dry_run"]) == (1, False)
    (forgotten,) = forgot["deleted_ids"]
    assert [(e["action"], e["actor"], e["reason"]) for e in history["history"]] == [
        ("deleted", actor, "forgotten by policy"),
        ("created", "test", "created"),
    ]
    assert (undone["status"], undone["memory"]["id"]) == ("ok", forgotten)
    assert MemoryRecord.objects.filter(namespace="home").count() == 2
    restored = MemoryHistory.objects.filter(memory_id=forgotten).order_by("-pk").first()
    assert (restored.action, restored.actor) == (MemoryHistory.Action.RESTORED, actor)
    assert again.isError and "was already undone at" in again.content[0].text
