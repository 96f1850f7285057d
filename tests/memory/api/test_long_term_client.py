"""agent-memory-client 0.14 against a real gunicorn + Dramatiq worker deployment."""

import asyncio

import pytest
import requests
from agent_memory_client import MemoryAPIClient, MemoryClientConfig
from agent_memory_client.exceptions import MemoryNotFoundError, MemoryServerError
from agent_memory_client.filters import Namespace, Topics, UserId
from agent_memory_client.models import ClientMemoryRecord

from memory.models import MemoryRecord
from tests.helpers import auth_headers, pending_access_counts, wait_until, wait_until_no_messages


async def _exercise(base_url: str) -> dict:
    async with MemoryAPIClient(MemoryClientConfig(base_url=base_url, default_namespace="client-ns")) as client:
        client._client.headers.update(auth_headers(base_url))  # the client has no auth option
        ack = await client.create_long_term_memory(
            [
                ClientMemoryRecord(
                    id="mem-tea",
                    text="Alice drinks green tea every morning",
                    user_id="alice",
                    topics=["drinks"],
                    entities=["Alice"],
                    memory_type="semantic",
                ),
                ClientMemoryRecord(
                    id="mem-bike",
                    text="Alice rides her bike to work",
                    user_id="alice",
                    topics=["commute"],
                    memory_type="episodic",
                ),
                ClientMemoryRecord(id="mem-bob", text="Bob drinks coffee", user_id="bob", topics=["drinks"]),
            ]
        )
        results = await client.search_long_term_memory(
            text="what does Alice drink?", user_id=UserId(eq="alice"), topics=Topics(any=["drinks", "commute"]), limit=1
        )
        filtered_out = await client.search_long_term_memory(text="Alice", namespace=Namespace(eq="elsewhere"))
        fetched = await client.get_long_term_memory("mem-tea")
        edited = await client.edit_long_term_memory(
            "mem-tea", {"text": "Alice switched to black coffee", "topics": ["drinks", "change"]}
        )
        after_edit = await client.search_long_term_memory(text="black coffee", user_id=UserId(eq="alice"))
        deleted = await client.delete_long_term_memories(["mem-bike"])
        try:
            await client.get_long_term_memory("mem-bike")
            missing = False
        except MemoryNotFoundError:
            missing = True
        try:
            await client.search_long_term_memory(text="x", limit=1000)
            bad_limit = None
        except MemoryServerError as exc:
            bad_limit = exc.status_code
        return dict(
            ack=ack,
            results=results,
            filtered_out=filtered_out,
            fetched=fetched,
            edited=edited,
            after_edit=after_edit,
            deleted=deleted,
            missing=missing,
            bad_limit=bad_limit,
        )


@pytest.mark.multiprocess
def test_agent_memory_client_works_and_the_worker_counts_search_hits(deployment, redis_client):
    out = asyncio.run(_exercise(deployment.url))
    assert out["ack"].status == "ok"
    assert out["results"].total == 2  # both of Alice's memories match the topic filter
    assert [m.id for m in out["results"].memories] == ["mem-tea"] and out["results"].next_offset == 1
    assert out["results"].memories[0].dist < 0.6
    assert out["filtered_out"].total == 0 and out["filtered_out"].memories == []
    assert (out["fetched"].text, out["fetched"].namespace, out["fetched"].topics) == (
        "Alice drinks green tea every morning",
        "client-ns",
        ["drinks"],
    )
    assert (out["edited"].text, out["edited"].topics) == ("Alice switched to black coffee", ["drinks", "change"])
    assert out["after_edit"].memories[0].id == "mem-tea"
    assert out["deleted"].status == "ok, deleted 1 memories"
    assert out["missing"] is True and out["bad_limit"] == 422
    assert set(MemoryRecord.objects.values_list("id", flat=True)) == {"mem-tea", "mem-bob"}

    # Search hits are counted by the worker, off the response path.
    requests.post(
        f"{deployment.url}/v1/long-term-memory/",
        headers=deployment.headers,
        json={
            "memories": [
                {"id": "counted", "text": "Carol keeps tropical fish", "namespace": "acc"},
                {"id": "not-counted", "text": "Dan plays the cello", "namespace": "acc"},
            ]
        },
        timeout=30,
    ).raise_for_status()
    before = MemoryRecord.objects.get(id="counted").last_accessed
    for _ in range(3):
        body = requests.post(
            f"{deployment.url}/v1/long-term-memory/search",
            headers=deployment.headers,
            json={"text": "tropical fish", "search_mode": "keyword", "namespace": {"eq": "acc"}},
            timeout=30,
        ).json()
        assert [m["id"] for m in body["memories"]] == ["counted"]
    wait_until(
        lambda: MemoryRecord.objects.get(id="counted").access_count >= 3,
        timeout=60,
        interval=0.2,
        what="the worker to count three hits",
    )
    wait_until_no_messages(redis_client, "memories_access_flush", timeout=60)  # no flush is still to come
    assert pending_access_counts(redis_client) == {}
    counted = MemoryRecord.objects.get(id="counted")
    assert counted.access_count == 3 and counted.last_accessed > before
    assert MemoryRecord.objects.get(id="not-counted").access_count == 0
