"""agent-memory-client 0.14's summary-view methods and get_task against a real gunicorn +
Dramatiq worker deployment: each answers in the client's models, a full run completes on
the worker, and an unknown view or task reads as None (the client's 404)."""

import asyncio

import pytest
from agent_memory_client import MemoryAPIClient, MemoryClientConfig
from agent_memory_client.exceptions import MemoryServerError
from agent_memory_client.models import ClientMemoryRecord, CreateSummaryViewRequest

from memory.models import SummaryPartition
from tests.helpers import auth_headers


async def _exercise(base_url: str) -> dict:
    async with MemoryAPIClient(MemoryClientConfig(base_url=base_url, default_namespace="client-ns")) as client:
        client._client.headers.update(auth_headers(base_url))  # the client has no auth option
        await client.create_long_term_memory(
            [
                ClientMemoryRecord(id="tea", text="Alice drinks green tea every morning", user_id="alice"),
                ClientMemoryRecord(id="bike", text="Alice rides her bike to work", user_id="alice"),
                ClientMemoryRecord(id="coffee", text="Bob drinks coffee", user_id="bob"),
            ]
        )
        request = CreateSummaryViewRequest(
            name="people", source="long_term", group_by=["user_id"], filters={"namespace": "client-ns"}
        )
        view = await client.create_summary_view(request)
        out: dict = {"view": view, "listed": await client.list_summary_views()}
        out["got"] = await client.get_summary_view(view.id)
        out["unknown view"] = await client.get_summary_view("no-such-view")
        out["alice"] = await client.run_summary_view_partition(view.id, {"user_id": "alice"})
        out["partitions"] = await client.list_summary_view_partitions(view.id, user_id="alice")
        out["task"] = await client.run_summary_view(view.id, force=True)
        for _ in range(600):
            polled = await client.get_task(out["task"].id)
            if polled.status in ("completed", "failed"):
                break
            await asyncio.sleep(0.1)
        out["done"] = polled
        out["all"] = await client.list_summary_view_partitions(view.id)
        out["unknown task"] = await client.get_task("no-such-task")
        try:
            await client.run_summary_view_partition(view.id, {"namespace": "client-ns"})
            out["bad group"] = None
        except MemoryServerError as exc:
            out["bad group"] = exc.status_code
        out["deleted"] = await client.delete_summary_view(view.id)
        out["after delete"] = await client.get_summary_view(view.id)
        return out


@pytest.mark.multiprocess
def test_the_clients_summary_view_methods_and_get_task(deployment):
    out = asyncio.run(_exercise(deployment.url))
    view = out["view"]
    assert (view.name, view.source, view.group_by, view.filters, view.continuous) == (
        "people",
        "long_term",
        ["user_id"],
        {"namespace": "client-ns"},
        False,
    )
    assert [v.id for v in out["listed"]] == [view.id] and out["got"] == view
    assert out["unknown view"] is None
    assert (out["alice"].group, out["alice"].memory_count, out["alice"].view_id) == ({"user_id": "alice"}, 2, view.id)
    assert out["alice"].summary.startswith("Extractive summary (no LLM configured)")
    assert "Alice drinks green tea" in out["alice"].summary and "Bob" not in out["alice"].summary
    assert out["partitions"] == [out["alice"]]
    assert (out["task"].status, out["task"].view_id, out["task"].type) == ("pending", view.id, "summary_view_full_run")
    done = out["done"]
    assert (done.status, done.error_message) == ("completed", None)
    assert done.started_at is not None and done.completed_at is not None
    assert [(p.group, p.memory_count) for p in out["all"]] == [({"user_id": "alice"}, 2), ({"user_id": "bob"}, 1)]
    assert out["unknown task"] is None
    assert out["bad group"] == 422
    assert out["deleted"].status == "ok" and out["after delete"] is None
    assert SummaryPartition.objects.count() == 0
