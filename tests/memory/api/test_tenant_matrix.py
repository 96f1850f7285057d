"""The cross-tenant matrix: tenant beta's key against tenant alpha's data, on every REST
route (over MCP: tests/mcp/test_tenant_matrix.py). The routes come from the URL conf (every
pattern under /v1/ and every method its view answers): a route or method without a case
fails `test_every_route_and_method_has_cases`.

Both tenants have a session "s-1" of user "u-1" and records of user "u-1" (memory ids
are global, so alpha's and beta's differ). A denied case must answer its status and
change nothing at all (every DB row, every Redis key); a case a key may run (a search
without filters, a listing) must show only beta's data and leave alpha's untouched.
"""

from dataclasses import dataclass, field

import pytest
from django.urls import get_resolver

from tests.helpers import db_rows, redis_state
from tests.tenant_pair import SESSION, USER, A, B, alpha_state

pytestmark = pytest.mark.django_db(transaction=True)

MESSAGE = [{"role": "user", "content": "Alice likes green tea"}]
FORGET = {"policy": {"max_age_days": 0}}


@dataclass(frozen=True)
class Case:
    method: str
    path: str  # "{undo}" stands for alpha's undoable history entry
    body: dict | None = None
    status: int = 403
    # For a case the key may run: the ids or session ids the answer must hold (beta's only).
    shows: tuple[str, ...] | None = None
    detail: str | None = None
    loc: list = field(default_factory=list)
    # The whole answer, where it must be exactly this (alpha's id answered as an unknown one).
    answer: dict | None = None


NS_DENIED = f"Namespace {A!r} is outside this credential's scope (namespaces {B})."
# Alpha's id is one beta cannot use; the message is the one for any id it cannot use.
ID_REFUSED = [
    {
        "loc": ["body", "memories", 0, "id"],
        "msg": "id 'a-1' cannot be used; send another id, or none for a new one",
        "type": "conflict",
    }
]
DELETED_NONE = {"status": "ok, deleted 0 memories", "deleted": 0}
FORGOT_NOTHING = {
    "scanned": 1,
    "deleted": 1,
    "deleted_ids": ["b-1"],
    "dry_run": True,
    "remaining": 0,
    "max_per_call": 1000,
}
COMPACTED_NOTHING = {"status": "ok, 1 memories remaining after compaction", "merged": 0, "remaining": 1}
CASES: dict[str, list[Case]] = {
    "health": [Case("get", "/v1/health", status=200)],
    "working-memory-list": [
        Case("get", f"/v1/working-memory/?namespace={A}", detail=NS_DENIED),
        Case("get", f"/v1/working-memory/?namespace={A}&user_id={USER}", detail=NS_DENIED),
        Case("get", "/v1/working-memory/", status=200, shows=(SESSION,)),
    ],
    "working-memory": [
        Case("get", f"/v1/working-memory/{SESSION}?namespace={A}", detail=NS_DENIED),
        Case("put", f"/v1/working-memory/{SESSION}?namespace={A}", {"messages": MESSAGE}, detail=NS_DENIED),
        Case("put", f"/v1/working-memory/{SESSION}", {"messages": MESSAGE, "namespace": A}, detail=NS_DENIED),
        Case("delete", f"/v1/working-memory/{SESSION}?namespace={A}&user_id={USER}", detail=NS_DENIED),
        Case("get", f"/v1/working-memory/{SESSION}", status=200, shows=("beta's turn",)),
    ],
    "long-term-memory": [
        Case("post", "/v1/long-term-memory/", {"memories": [{"text": "Mallory was here", "namespace": A}]}),
        Case(
            "post",
            "/v1/long-term-memory/",
            {"memories": [{"id": "a-1", "text": "Mallory"}]},
            status=422,
            answer={"detail": ID_REFUSED},
        ),
        # The same answer as for an id nobody has.
        Case("delete", "/v1/long-term-memory/?memory_ids=a-1", status=200, answer=DELETED_NONE),
    ],
    "long-term-memory-bulk": [
        Case("post", "/v1/long-term-memory", {"memories": [{"text": "Mallory", "namespace": A, "user_id": USER}]}),
        Case("delete", "/v1/long-term-memory?memory_ids=a-1,no-such-id", status=200, answer=DELETED_NONE),
        # Beta's own b-1 goes; alpha's a-1 is left as an unknown id would be.
        Case(
            "delete",
            "/v1/long-term-memory?memory_ids=b-1,a-1",
            status=200,
            answer={"status": "ok, deleted 1 memories", "deleted": 1},
        ),
    ],
    "long-term-memory-search": [
        Case("post", "/v1/long-term-memory/search", {"text": "green tea", "namespace": {"eq": A}}),
        Case("post", "/v1/long-term-memory/search", {"text": "tea", "namespace": {"any": [A, B]}}),
        Case("post", "/v1/long-term-memory/search", {"text": "green tea"}, status=200, shows=("b-1",)),
        Case("post", "/v1/long-term-memory/search", {"text": "", "user_id": {"eq": USER}}, status=200, shows=("b-1",)),
        Case("post", "/v1/long-term-memory/search", {"text": "tea", "namespace": {"ne": B}}, status=200, shows=()),
    ],
    "long-term-memory-detail": [
        Case("get", "/v1/long-term-memory/a-1", status=404, detail="Memory a-1 not found"),
        Case("patch", "/v1/long-term-memory/a-1", {"text": "Mallory was here"}, status=404),
        Case("patch", "/v1/long-term-memory/b-1", {"namespace": A}),
    ],
    "long-term-memory-forget": [
        Case("post", f"/v1/long-term-memory/forget?namespace={A}", FORGET, detail=NS_DENIED),
        # Without a namespace, beta's key (one namespace) acts in its own: a dry run by default.
        Case("post", "/v1/long-term-memory/forget", FORGET, status=200, answer=FORGOT_NOTHING),
    ],
    "long-term-memory-compact": [
        Case("post", f"/v1/long-term-memory/compact?namespace={A}", detail=NS_DENIED),
        Case("post", "/v1/long-term-memory/compact", status=200, answer=COMPACTED_NOTHING),
    ],
    "long-term-memory-history": [
        Case("get", "/v1/long-term-memory/a-1/history", status=404),
        Case("get", "/v1/long-term-memory/a-gone/history", status=404),
    ],
    "long-term-memory-history-undo": [Case("post", "/v1/long-term-memory/history/{undo}/undo", status=404)],
    "memory-prompt": [
        Case("post", "/v1/memory/prompt", {"query": "tea?", "session": {"session_id": SESSION, "namespace": A}}),
        Case("post", "/v1/memory/prompt", {"query": "tea?", "long_term_search": {"namespace": {"eq": A}}}),
        Case("post", "/v1/memory/prompt", {"query": "green tea", "long_term_search": True}, status=200, shows=("b-1",)),
    ],
    # Alpha's view and task do not exist for beta; a view filtered on alpha's namespace is refused.
    "summary-views": [
        Case(
            "post",
            "/v1/summary-views",
            {"source": "long_term", "group_by": ["user_id"], "filters": {"namespace": A}},
            detail="Filter filters.namespace names 'ns-a', outside this credential's scope.",
        ),
        Case("get", "/v1/summary-views", status=200, answer=[]),
    ],
    "summary-view": [
        Case("get", "/v1/summary-views/alpha-view", status=404, detail="SummaryView alpha-view not found"),
        Case("delete", "/v1/summary-views/alpha-view", status=404, detail="SummaryView alpha-view not found"),
    ],
    "summary-view-partition-run": [
        Case("post", "/v1/summary-views/alpha-view/partitions/run", {"group": {"user_id": USER}}, status=404)
    ],
    "summary-view-partitions": [Case("get", "/v1/summary-views/alpha-view/partitions", status=404)],
    "summary-view-run": [Case("post", "/v1/summary-views/alpha-view/run", {}, status=404)],
    "task": [Case("get", "/v1/tasks/alpha-task", status=404, detail="Task alpha-task not found")],
}


def v1_routes() -> dict[str, set[str]]:
    """Route name -> the HTTP methods its view answers, for every pattern under /v1/."""
    (v1,) = [p for p in get_resolver().url_patterns if str(p.pattern) == "v1/"]
    routes = {}
    for pattern in v1.url_patterns:
        view = pattern.callback.view_class
        routes[pattern.name] = {m for m in view.http_method_names if hasattr(view, m) and m not in ("options", "head")}
    return routes


def test_every_route_and_method_has_cases():
    routes = v1_routes()
    assert set(routes) == set(CASES), f"routes without cases: {sorted(set(routes) - set(CASES))}"
    for name, methods in routes.items():
        assert methods == {c.method for c in CASES[name]}, f"{name}: methods without cases"
    count = sum(len(cases) for cases in CASES.values())
    print(f"cross-tenant matrix: {count} REST cases over {len(routes)} routes")
    assert count == 41


def _shown(case: Case, body: dict) -> tuple[str, ...]:
    if "sessions" in body:
        return tuple(body["sessions"])
    if "messages" in body and case.path.startswith("/v1/working-memory/"):
        return tuple(m["content"] for m in body["messages"])
    memories = body.get("long_term_memories") if "long_term_memories" in body else body["memories"]
    return tuple(m["id"] for m in memories or [])


@pytest.mark.parametrize(
    "case", [c for cases in CASES.values() for c in cases], ids=lambda c: f"{c.method}-{c.path}-{c.body}"[:90]
)
def test_beta_cannot_reach_alpha(tenants, case):
    client, undo = tenants
    path = case.path.replace("{undo}", str(undo))
    before, alpha_before = (redis_state(), db_rows()), alpha_state()
    response = getattr(client, case.method)(path, case.body, format="json")
    assert response.status_code == case.status, response.content
    if case.shows is not None:
        assert _shown(case, response.json()) == case.shows
        assert alpha_state() == alpha_before
        return
    if case.answer is not None:
        assert response.json() == case.answer
    if case.status != 200:
        assert (redis_state(), db_rows()) == before
    assert alpha_state() == alpha_before
    if case.detail is not None:
        assert response.json() == {"detail": case.detail}
    if case.loc:
        assert [e["loc"] for e in response.json()["detail"]] == [case.loc]
