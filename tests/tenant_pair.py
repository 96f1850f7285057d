"""Two tenants with the same session and user ids, for the cross-tenant matrices over REST
(tests/memory/api/test_tenant_matrix.py) and over MCP (tests/mcp/test_tenant_matrix.py):
alpha (namespace ns-a, a read-only key) and beta (ns-b, read/write/delete), each with a
session "s-1" of user "u-1" and records of user "u-1"; the `tenants` fixture in
tests/conftest.py makes them."""

from rest_framework.test import APIClient

from memory.models import MemoryHistory, SummaryView, Task
from memory.services.api_keys import api_key_create
from memory.services.long_term import memories_delete
from memory.services.summary_views.runs import partition_run
from tests.factories import memory_records_create
from tests.helpers import db_rows, put_session, redis_state

A, B = "ns-a", "ns-b"
USER, SESSION = "u-1", "s-1"


def tenants_make(api) -> tuple[APIClient, int]:
    """Alpha and beta, the same session and user ids in each; a client with beta's key, and
    the history id of alpha's deleted record (an undo beta must not reach)."""
    _, alpha = api_key_create(name="alpha", tenant="alpha", namespaces=[A], actor="test", permissions=["read"])
    _, beta = api_key_create(
        name="beta", tenant="beta", namespaces=[B], actor="test", permissions=["read", "write", "delete"]
    )
    put_session(api, SESSION, [{"role": "user", "content": "alpha's turn"}], namespace=A, user_id=USER)
    put_session(api, "s-alpha-only", [{"role": "user", "content": "alpha only"}], namespace=A, user_id=USER)
    put_session(api, SESSION, [{"role": "user", "content": "beta's turn"}], namespace=B, user_id=USER)
    records = [
        {"id": "a-1", "text": "Alice likes green tea", "namespace": A, "user_id": USER, "session_id": SESSION},
        {"id": "a-2", "text": "Alice likes green tea a lot", "namespace": A, "user_id": USER},
        {"id": "a-gone", "text": "Alice had a cat", "namespace": A, "user_id": USER},
        {"id": "b-1", "text": "Bob likes green tea", "namespace": B, "user_id": USER, "session_id": SESSION},
    ]
    memory_records_create(*records)
    memories_delete(memory_ids=["a-gone"], actor="test")
    # Alpha's summary view, a partition of it, and a task (issue 22's routes and tools).
    view = SummaryView.objects.create(id="alpha-view", tenant="alpha", namespaces=[A], group_by=["user_id"])
    partition_run(view=view, group={"user_id": USER}, actor="test")
    Task.objects.create(id="alpha-task", tenant="alpha", view_id=view.id)
    undo = MemoryHistory.objects.get(memory_id="a-gone", action=MemoryHistory.Action.DELETED).pk
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {beta}")
    return client, undo


def alpha_state() -> tuple:
    """Alpha's DB rows and Redis keys: what no call of beta's may change."""
    rows = {model: [r for r in found if "ns-a" in repr(r) or "a-gone" in repr(r)] for model, found in db_rows().items()}
    return rows, {k: v for k, v in redis_state().items() if b"ns-a" in k or b"a-1" in k}
