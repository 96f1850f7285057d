"""MCP over streamable HTTP against what `make run` starts: bin/serve's gunicorn, worker
and MCP process, on the test DB and Redis, driven by the SDK's own client."""

import os
import signal
import subprocess

import pytest

from memory.models import MemoryRecord
from tests.helpers import BASE_DIR, child_env, free_port, wait_for_http, wait_until
from tests.mcp.client import TOOL_NAMES, over_http

QUERY = "What does Alice drink in the morning?"


@pytest.fixture
def served(transactional_db, tmp_path):
    """bin/serve with its own ports; yields (API URL, MCP base URL)."""
    api_port, mcp_port = free_port(), free_port()
    env = child_env(
        AUTH_MODE="disabled",
        PORT=str(api_port),
        MCP_PORT=str(mcp_port),
        WEB_WORKERS="1",
        WEB_THREADS="2",
        WORKER_THREADS="2",
        DEV_API_KEY_FILE=str(tmp_path / "dev-api-key"),
    )
    proc = subprocess.Popen([str(BASE_DIR / "bin/serve")], cwd=BASE_DIR, env=env, start_new_session=True)
    try:
        api, mcp = f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{mcp_port}"
        wait_for_http(f"{api}/v1/health", timeout=120)
        wait_for_http(f"{mcp}/mcp", timeout=60)  # a GET without an event-stream Accept is a 4xx
        yield api, mcp
    finally:
        os.killpg(proc.pid, signal.SIGTERM)  # bin/serve's trap stops gunicorn, the worker and MCP
        proc.wait(timeout=60)


@pytest.mark.multiprocess
def test_mcp_over_streamable_http_pinned_by_the_url_path(served):
    _, mcp = served

    async def pinned(tools):
        names = await tools.names()
        created = await tools.call(
            "create_long_term_memories",
            memories=[
                {"id": "tea", "text": "Alice drinks green tea every morning", "user_id": "alice"},
                {"id": "bike", "text": "Alice rides her bike to work", "user_id": "alice"},
            ],
        )
        found = await tools.call("search_long_term_memory", text=QUERY, user_id={"eq": "alice"})
        await tools.call("set_working_memory", session_id="s1", messages=[{"role": "user", "content": "Hi!"}])
        read = await tools.call("get_working_memory", session_id="s1")
        prompt = await tools.call("memory_prompt", query=QUERY, session_id="s1", user_id="alice", limit=1)
        elsewhere = await tools.result("search_long_term_memory", text=QUERY, namespace={"eq": "work"})
        zero = await tools.result("search_long_term_memory", text=QUERY, limit=0)
        return names, created, found, read, prompt, elsewhere, zero

    names, created, found, read, prompt, elsewhere, zero = over_http(f"{mcp}/home/mcp", pinned)

    assert names == TOOL_NAMES
    assert [m["outcome"] for m in created["memories"]] == ["created", "created"]
    assert dict(MemoryRecord.objects.values_list("id", "namespace")) == {"tea": "home", "bike": "home"}
    assert [m["id"] for m in found["memories"]] == ["tea", "bike"]
    assert (read["namespace"], [m["content"] for m in read["messages"]]) == ("home", ["Hi!"])
    assert [(m["role"], m["content"]["text"]) for m in prompt["messages"]] == [
        ("user", "Hi!"),
        (
            "system",
            "## Long term memories related to the user's query\n - Alice drinks green tea every morning (ID: tea)",
        ),
        ("user", QUERY),
    ]
    assert elsewhere.isError and "pinned to namespace 'home'" in elsewhere.content[0].text
    assert zero.isError and "limit: Ensure this value is greater than or equal to 1." in zero.content[0].text

    # The worker counts the search's and the prompt's hits: tea was shown twice, bike once.
    wait_until(
        lambda: dict(MemoryRecord.objects.values_list("id", "access_count")) == {"tea": 2, "bike": 1},
        what="the worker to count the accesses",
    )

    async def unpinned(tools):
        return await tools.call("search_long_term_memory", text=QUERY, namespace={"eq": "home"}, limit=1)

    assert [m["id"] for m in over_http(f"{mcp}/mcp", unpinned)["memories"]] == ["tea"]
