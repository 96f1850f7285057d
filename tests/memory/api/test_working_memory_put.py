"""The PUT path: atomic under races, and Redis only (no DB, LLM or embedding)."""

import asyncio
import json
import subprocess
import textwrap

from agent_memory_client import MemoryAPIClient, MemoryClientConfig
from agent_memory_client.models import MemoryMessage, WorkingMemory

from memory import tokens
from tests.helpers import BASE_DIR, PYTHON, child_env


def writer_session(name: str, size: int) -> WorkingMemory:
    return WorkingMemory(
        session_id="race",
        namespace="ns",
        user_id="alice",
        context=f"context of {name}",
        data={"writer": name},
        messages=[MemoryMessage(id=f"{name}-{i}", role="user", content=f"{name} says {i}") for i in range(size)],
    )


def test_racing_puts_never_leave_a_mixed_session(live_server, api_key):
    sessions = {"a": writer_session("a", 3), "b": writer_session("b", 5)}
    observed = []

    async def race(client):
        async def write(name):
            for _ in range(40):
                await client.put_working_memory("race", sessions[name])

        async def read():
            for _ in range(80):
                observed.append(await client.get_working_memory("race", namespace="ns"))

        await asyncio.gather(write("a"), write("b"), read(), write("a"), write("b"))

    async def main():
        async with MemoryAPIClient(MemoryClientConfig(base_url=live_server.url)) as client:
            client._client.headers["Authorization"] = f"Bearer {api_key}"
            await client.put_working_memory("race", sessions["a"])
            # On a loaded machine one round's reads may all land between the same
            # writer's PUTs; race again (at most 5 rounds) until both writers were seen.
            for rounds in range(1, 6):
                await race(client)
                if {m.data["writer"] for m in observed} == {"a", "b"}:
                    return rounds
        return rounds

    rounds = asyncio.run(main())
    seen = set()
    for memory in observed:
        writer = memory.data["writer"]
        seen.add(writer)
        expected = sessions[writer]
        assert memory.context == expected.context
        assert [m.id for m in memory.messages] == [m.id for m in expected.messages]
        assert memory.tokens == sum(tokens.count_message(m.role, m.content) for m in expected.messages)
    assert len(observed) == 80 * rounds
    assert seen == {"a", "b"}  # the reads really did interleave with both writers


HOT_PATH_SCRIPT = textwrap.dedent("""
    import json, os, sys
    import django
    django.setup()
    from django.db import connection
    from django.urls import resolve
    from rest_framework.test import APIClient
    resolve("/v1/health")  # load the URLconf (startup work, not request work)
    before = set(sys.modules)
    client = APIClient(raise_request_exception=True)
    client.credentials(HTTP_AUTHORIZATION="Bearer " + os.environ["TEST_API_KEY"])
    body = {"namespace": "ns", "user_id": "alice", "messages": [
        {"role": "user", "content": "turn %d " % i + "words " * 40} for i in range(20)]}
    statuses = [client.put("/v1/working-memory/hot?context_window_max=500", body, format="json").status_code,
                client.get("/v1/working-memory/hot?namespace=ns&model_name=gpt-4o").status_code,
                client.get("/v1/working-memory/?namespace=ns").status_code]
    imported = set(sys.modules) - before
    print(json.dumps({
        "statuses": statuses,
        "heavy": sorted(m for m in imported if m.split(".")[0] in ("litellm", "sentence_transformers", "torch",
                                                                   "openai", "transformers")),
        "db_connected": connection.connection is not None,
    }))
""")


def test_a_put_over_the_threshold_touches_neither_db_nor_llm_nor_embeddings(redis_client, api, api_key):
    api.get("/v1/working-memory/?namespace=ns")  # the key's first use: read from its row, now in the auth cache
    result = subprocess.run(
        [PYTHON, "-c", HOT_PATH_SCRIPT],
        cwd=BASE_DIR,
        env=child_env(LLM_MODEL="openai/x", TEST_API_KEY=api_key),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report == {"statuses": [200, 200, 200], "heavy": [], "db_connected": False}
    # The summary was queued for the worker rather than computed here.
    queued = [json.loads(raw)["actor_name"] for raw in redis_client.hvals("dramatiq:default.msgs")]
    assert "working_memory_summarize" in queued
