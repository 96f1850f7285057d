"""The summary-view tools and get_task call the REST routes' operations: the same answers
(field by field against REST), the key's permission (a refusal writes nothing), and
another tenant's view or task does not exist for them."""

import json

import pytest
from rest_framework.test import APIClient

from memory.models import SummaryView, Task
from memory.services.api_keys import api_key_create
from tests.factories import memory_records_create
from tests.helpers import db_rows
from tests.mcp.client import over_stdio

pytestmark = pytest.mark.django_db(transaction=True)


def _key(tenant: str, permissions: list[str], namespace: str = "ns") -> tuple[str, APIClient]:
    _, secret = api_key_create(
        name=tenant, tenant=tenant, namespaces=[namespace], permissions=permissions, actor="test"
    )
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return secret, client


def test_every_summary_tool_answers_as_its_rest_route():
    memory_records_create(
        {"text": "Alice likes tea", "user_id": "alice"},
        {"text": "Alice rides a bike", "user_id": "alice"},
        {"text": "Bob likes coffee", "user_id": "bob"},
        namespace="ns",
    )
    secret, rest = _key("acme", ["read", "write", "delete"])

    async def work(tools):
        arguments = {"group_by": ["user_id"], "name": "people", "time_window_days": 30}  # `name` is call()'s own
        created = await tools.session.call_tool("create_summary_view", arguments)
        view = json.loads(created.content[0].text)
        out = {"view": view}
        out["listed"] = await tools.call("list_summary_views")
        out["got"] = await tools.call("get_summary_view", view_id=view["id"])
        out["alice"] = await tools.call("run_summary_view_partition", view_id=view["id"], group={"user_id": "alice"})
        out["partitions"] = await tools.call("list_summary_view_partitions", view_id=view["id"], user_id="alice")
        out["task"] = await tools.call("run_summary_view", view_id=view["id"], task_id="mcp-task")
        out["polled"] = await tools.call("get_task", task_id="mcp-task")
        return out

    out = over_stdio(work, MCP_API_KEY=secret)
    view = out["view"]
    assert (view["name"], view["group_by"], view["time_window_days"], view["source"]) == (
        "people",
        ["user_id"],
        30,
        "long_term",
    )
    assert SummaryView.objects.get(id=view["id"]).tenant == "acme"
    assert out["listed"] == {"summary_views": rest.get("/v1/summary-views").json()} == {"summary_views": [view]}
    assert out["got"] == rest.get(f"/v1/summary-views/{view['id']}").json() == view
    assert (out["alice"]["memory_count"], out["alice"]["group"], out["alice"]["kind"]) == (
        2,
        {"user_id": "alice"},
        "extractive",
    )
    assert out["partitions"] == {"partitions": [out["alice"]]}
    assert rest.get(f"/v1/summary-views/{view['id']}/partitions").json() == [out["alice"]]
    assert (out["task"]["id"], out["task"]["status"], out["task"]["view_id"]) == ("mcp-task", "pending", view["id"])
    assert out["polled"] == rest.get("/v1/tasks/mcp-task").json()

    async def delete(tools):
        return await tools.call("delete_summary_view", view_id=view["id"])

    assert over_stdio(delete, MCP_API_KEY=secret) == {"status": "ok"}
    assert SummaryView.objects.count() == 0 and Task.objects.filter(id="mcp-task").count() == 1


def test_the_tools_keep_the_keys_permission_and_tenant():
    other, _ = _key("other", ["read", "write", "delete"], namespace="ns-other")
    reader, _ = _key("acme", ["read"])
    _, writer = _key("acme", ["read", "write", "delete"])
    view = writer.post("/v1/summary-views", {"source": "long_term", "group_by": []}, format="json").json()
    task = writer.post(f"/v1/summary-views/{view['id']}/run", {}, format="json").json()

    async def refused(tools):
        return {
            "create": await tools.result("create_summary_view", group_by=[]),
            "run": await tools.result("run_summary_view", view_id=view["id"]),
            "delete": await tools.result("delete_summary_view", view_id=view["id"]),
            "listed": await tools.call("list_summary_views"),
        }

    async def hidden(tools):
        return {
            "get": await tools.result("get_summary_view", view_id=view["id"]),
            "partitions": await tools.result("list_summary_view_partitions", view_id=view["id"]),
            "task": await tools.result("get_task", task_id=task["id"]),
            "listed": await tools.call("list_summary_views"),
        }

    before = db_rows()
    by_reader = over_stdio(refused, MCP_API_KEY=reader)
    by_other = over_stdio(hidden, MCP_API_KEY=other)
    assert {k: (r.isError, r.content[0].text) for k, r in by_reader.items() if k != "listed"} == {
        "create": (
            True,
            "Error executing tool create_summary_view: This credential may not write (its permissions: read).",
        ),
        "run": (True, "Error executing tool run_summary_view: This credential may not write (its permissions: read)."),
        "delete": (
            True,
            "Error executing tool delete_summary_view: This credential may not delete (its permissions: read).",
        ),
    }
    assert by_reader["listed"] == {"summary_views": [view]}
    assert {k: (r.isError, r.content[0].text) for k, r in by_other.items() if k != "listed"} == {
        "get": (True, f"Error executing tool get_summary_view: view_id: no summary view with id {view['id']!r}."),
        "partitions": (
            True,
            f"Error executing tool list_summary_view_partitions: view_id: no summary view with id {view['id']!r}.",
        ),
        "task": (True, f"Error executing tool get_task: task_id: no task with id {task['id']!r}."),
    }
    assert by_other["listed"] == {"summary_views": []}
    assert {k: v for k, v in db_rows().items() if k != "memory.ApiKey"} == {
        k: v for k, v in before.items() if k != "memory.ApiKey"
    }
