"""The cross-tenant matrix: tenant beta's key against tenant alpha's data, on every REST
route. The routes come from the URL conf (every pattern under /v1/ and every method its
view answers): a route or method without a case fails `test_every_route_and_method_has_cases`.

Both tenants have a session "s-1" of user "u-1" and records of user "u-1" (memory ids
are global, so alpha's and beta's differ). A denied case must answer its status and
change nothing at all (every DB row, every Redis key); a case a key may run (a search
without filters, a listing) must show only beta's data and leave alpha's untouched.
"""

import json
from dataclasses import dataclass, field

import pytest
from django.urls import get_resolver
from rest_framework.test import APIClient

from memory.models import MemoryHistory
from memory.services.api_keys import api_key_create
from memory.services.long_term import memories_create, memories_delete
from tests.helpers import db_rows, put_session, redis_state

pytestmark = pytest.mark.django_db(transaction=True)

A, B = "ns-a", "ns-b"
USER, SESSION = "u-1", "s-1"
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
DELETED_NONE = {"status": "ok, deleted 0 memories"}
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
            answer={"status": "ok, deleted 1 memories"},
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
        Case("post", "/v1/long-term-memory/forget", FORGET, status=422, loc=["query", "namespace"]),
    ],
    "long-term-memory-compact": [
        Case("post", f"/v1/long-term-memory/compact?namespace={A}", detail=NS_DENIED),
        Case("post", "/v1/long-term-memory/compact", status=422, loc=["query", "namespace"]),
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
    assert count == 33


@pytest.fixture
def tenants(api):
    """Alpha and beta, the same session and user ids in each; beta's key is returned."""
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
    memories_create(records=records, deduplicate=False, actor="test")
    memories_delete(memory_ids=["a-gone"], actor="test")
    undo = MemoryHistory.objects.get(memory_id="a-gone", action=MemoryHistory.Action.DELETED).pk
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {beta}")
    return client, undo


def _shown(case: Case, body: dict) -> tuple[str, ...]:
    if "sessions" in body:
        return tuple(body["sessions"])
    if "messages" in body and case.path.startswith("/v1/working-memory/"):
        return tuple(m["content"] for m in body["messages"])
    memories = body.get("long_term_memories") if "long_term_memories" in body else body["memories"]
    return tuple(m["id"] for m in memories or [])


def _alpha_state() -> tuple:
    rows = {model: [r for r in found if "ns-a" in repr(r) or "a-gone" in repr(r)] for model, found in db_rows().items()}
    return rows, {k: v for k, v in redis_state().items() if b"ns-a" in k or b"a-1" in k}


@pytest.mark.parametrize(
    "case", [c for cases in CASES.values() for c in cases], ids=lambda c: f"{c.method}-{c.path}-{c.body}"[:90]
)
def test_beta_cannot_reach_alpha(tenants, case):
    client, undo = tenants
    path = case.path.replace("{undo}", str(undo))
    before, alpha_before = (redis_state(), db_rows()), _alpha_state()
    response = getattr(client, case.method)(path, case.body, format="json")
    assert response.status_code == case.status, response.content
    if case.shows is not None:
        assert _shown(case, response.json()) == case.shows
        assert _alpha_state() == alpha_before
        return
    if case.answer is not None:
        assert response.json() == case.answer
    if case.status != 200:
        assert (redis_state(), db_rows()) == before
    assert _alpha_state() == alpha_before
    if case.detail is not None:
        assert response.json() == {"detail": case.detail}
    if case.loc:
        assert [e["loc"] for e in response.json()["detail"]] == [case.loc]


# --- MCP: the same boundary on every tool ---------------------------------------------------


@dataclass(frozen=True)
class ToolCase:
    arguments: dict
    # The tool error's message holds this; None: the call succeeds and shows `shows`.
    error: str | None = None
    shows: tuple[str, ...] = ()
    answer: dict | None = None  # the whole result, where it must be exactly this


OUTSIDE = f"Namespace {A!r} is outside this credential's scope"
MCP_CASES: dict[str, list[ToolCase]] = {
    "search_long_term_memory": [
        ToolCase({"text": "green tea", "namespace": {"eq": A}}, "Filter namespace.eq names 'ns-a'"),
        ToolCase({"text": "green tea", "user_id": {"eq": USER}}, shows=("b-1",)),
    ],
    "create_long_term_memories": [ToolCase({"memories": [{"text": "Mallory", "namespace": A}]}, OUTSIDE)],
    "get_long_term_memory": [ToolCase({"memory_id": "a-1"}, "memory_id: no memory with id 'a-1'.")],
    "edit_long_term_memory": [
        ToolCase({"memory_id": "a-1", "text": "Mallory"}, "memory_id: no memory with id 'a-1'."),
        ToolCase({"memory_id": "b-1", "namespace": A}, OUTSIDE),
    ],
    # Alpha's ids are unknown ids to beta: ignored, the same answer as for ids nobody has.
    "delete_long_term_memories": [
        ToolCase({"memory_ids": ["a-1"]}, answer={"status": "ok, deleted 0 memories", "deleted": 0}),
        ToolCase({"memory_ids": ["a-1", "a-2"]}, answer={"status": "ok, deleted 0 memories", "deleted": 0}),
    ],
    "memory_prompt": [
        ToolCase({"query": "tea?", "session_id": SESSION, "namespace": A}, OUTSIDE),
        ToolCase({"query": "green tea", "session_id": SESSION}, shows=("beta's turn", "b-1")),
    ],
    "set_working_memory": [ToolCase({"session_id": SESSION, "namespace": A, "messages": MESSAGE}, OUTSIDE)],
    "get_working_memory": [
        ToolCase({"session_id": SESSION, "namespace": A}, OUTSIDE),
        ToolCase({"session_id": SESSION}, shows=("beta's turn",)),
    ],
    "get_current_datetime": [ToolCase({}, shows=())],
}


def _tool_shown(result: dict) -> tuple[str, ...]:
    if "memories_used" in result:  # the prompt: the session's turns, then the memories it shows
        turns = [m["content"]["text"] for m in result["messages"] if m["role"] in ("user", "assistant")]
        return (*turns[:-1], *(m["id"] for m in (result["memories_used"] or {}).get("memories", [])))
    if "session_id" in result:  # a session: its turns
        return tuple(m["content"] for m in result["messages"])
    return tuple(m["id"] for m in result.get("memories", []))


def test_every_mcp_tool_has_cases():
    from memory.mcp.server import TOOLS

    assert {tool.__name__ for tool in TOOLS} == set(MCP_CASES)
    count = sum(len(cases) for cases in MCP_CASES.values())
    print(f"cross-tenant matrix: {count} MCP cases over {len(TOOLS)} tools")
    assert count == 14


@pytest.mark.multiprocess
def test_beta_cannot_reach_alpha_over_mcp(tenants):
    from tests.helpers import child_env
    from tests.mcp.client import over_http, start_server

    client, _ = tenants
    beta = client._credentials["HTTP_AUTHORIZATION"]
    proc, url = start_server(child_env())
    try:
        outcomes = over_http(f"{url}/mcp", _run_tool_cases, headers={"Authorization": beta})
    finally:
        proc.terminate()
        proc.wait()
    for name, case, result, changed in outcomes:
        if case.error is not None:
            # FastMCP prefixes "Error executing tool <name>: " to the message.
            assert result.isError and case.error in result.content[0].text, (name, result.content[0].text)
            assert not changed, (name, case)
        else:
            assert not result.isError, (name, result.content[0].text)
            assert _tool_shown(json.loads(result.content[0].text)) == case.shows, name
            if case.answer is not None:
                assert json.loads(result.content[0].text) == case.answer, name
            assert not changed, (name, case)


async def _run_tool_cases(tools) -> dict:
    from asgiref.sync import sync_to_async

    outcomes = []
    for name, cases in MCP_CASES.items():
        for case in cases:
            # A refused call changes nothing; an allowed one leaves alpha's data as it was.
            state = _alpha_state if case.error is None else lambda: (redis_state(), db_rows())
            before = await sync_to_async(state)()
            result = await tools.result(name, **case.arguments)
            outcomes.append((name, case, result, await sync_to_async(state)() != before))
    return outcomes
