"""One slow MCP call does not hold up the others (memory.mcp.calls.in_thread): tool calls
and credential checks run on a pool of threads, not on one shared thread.

The slow calls are real: Redis is told to hold every write (CLIENT PAUSE WRITE, what a
failover does), so a tool call that writes and the credential check of a key's first use
(it caches the key) wait inside the server on Redis, seen there as blocked clients. A
read of another client must still be answered while they wait."""

import asyncio

import pytest

from memory.selectors.working_memory import working_memory_get
from tests.helpers import child_env, operator_api_key, stop_process, wait_until
from tests.mcp.client import bearer, http_tools, start_server

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.multiprocess]

# Redis lets the writes through by itself after this long, should the test fail midway.
PAUSE_MS = 10_000


def _blocked_clients(redis_client) -> int:
    """Connections of the server that Redis holds (flag "b"), here: postponed writes."""
    return sum("b" in client["flags"] for client in redis_client.client_list())


async def _first_use_read(url: str, headers: dict) -> dict:
    """A client with a key never used before: its credential check writes the key cache."""
    async with http_tools(url, headers) as tools:
        return await tools.call("get_working_memory", session_id="kept")


async def _scenario(url: str, redis_client, keys: list[str]):
    reader_key, writer_key, newcomer_key = keys
    async with http_tools(url, bearer(reader_key)) as reader, http_tools(url, bearer(writer_key)) as writer:
        await reader.call("set_working_memory", session_id="kept", messages=[{"role": "user", "content": "Hi!"}])
        await writer.call("get_working_memory", session_id="kept")  # its key is cached and its use noted
        redis_client.client_pause(PAUSE_MS, all=False)
        try:
            write = asyncio.create_task(
                writer.result("set_working_memory", session_id="late", messages=[{"role": "user", "content": "Bye"}])
            )
            newcomer = asyncio.create_task(_first_use_read(url, bearer(newcomer_key)))
            await asyncio.to_thread(
                wait_until,
                lambda: _blocked_clients(redis_client) == 2,
                what="the write and the newcomer's credential check to wait on Redis",
            )
            read = await reader.call("get_working_memory", session_id="kept")
            still_waiting = (not write.done(), not newcomer.done())
        finally:
            redis_client.client_unpause()
        return read, still_waiting, await write, await newcomer


def test_a_call_waiting_on_redis_does_not_hold_up_another_clients_call(redis_client):
    keys = [operator_api_key(name) for name in ("reader", "writer", "newcomer")]
    proc, url = start_server(child_env())
    try:
        read, still_waiting, write, newcomer = asyncio.run(_scenario(f"{url}/mcp", redis_client, keys))
    finally:
        stop_process(proc)
    assert [m["content"] for m in read["messages"]] == ["Hi!"]
    assert still_waiting == (True, True)  # answered while both were held
    assert not write.isError, write.content[0].text
    assert [m["content"] for m in working_memory_get(session_id="late", namespace=None, user_id=None)["messages"]] == [
        "Bye"
    ]
    assert [m["content"] for m in newcomer["messages"]] == ["Hi!"]
