"""REST and MCP answer alike: the same calls through both doors, compared field by field.

Every operation both doors offer (create, search in each mode and with
include_superseded, get, edit, delete, working memory set and get, the memory prompt)
runs once over REST (DRF's test client) and once over MCP (the SDK's client against
`manage.py mcp` over stdio), on the same records. Reads use the same records; each
write acts on a twin: REST on `rest-*` records in namespace `doors-rest`, MCP on
`mcp-*` records in `doors-mcp`, so `_as_mcp` maps a REST answer onto the MCP one.
Only values that must differ are left out, each where it is, with the reason.
"""

from datetime import UTC, datetime

import pytest

from memory.models import MemoryHistory
from memory.services.long_term import memories_create, memories_supersede
from tests.mcp.client import over_stdio

pytestmark = pytest.mark.django_db(transaction=True)

NS, USER = "doors", "alice"
WHEN = datetime(2025, 3, 1, 9, 30, tzinfo=UTC)
OWNER = {"namespace": NS, "user_id": USER}
# recency_boost off: the recency score decays with the time of the call, which differs
# between the two doors' calls by a second; without it every score is exact.
SEARCH = {"namespace": {"eq": NS}, "user_id": {"eq": USER}, "limit": 5, "recency_boost": False}
SEARCHES = {
    "semantic": {**SEARCH, "text": "What does Alice drink in the morning?"},
    "keyword": {**SEARCH, "text": "Wi-Fi password", "search_mode": "keyword"},
    "hybrid": {**SEARCH, "text": "green tea morning", "search_mode": "hybrid"},
    "include_superseded": {**SEARCH, "text": "Wi-Fi password", "search_mode": "keyword", "include_superseded": True},
    "listing": {**SEARCH, "text": ""},
}
MESSAGES = [
    {"id": "m1", "role": "user", "content": "Hi, I am Alice.", "created_at": "2025-03-01T09:00:00Z"},
    {"id": "m2", "role": "assistant", "content": "Hello Alice!", "created_at": "2025-03-01T09:00:05Z"},
]
QUERY = "What does Alice drink in the morning?"


def _records(door: str) -> list[dict]:
    """A door's twin records: one to edit, one to delete, one a create merges into."""
    owner = {"namespace": f"doors-{door}", "user_id": USER, "created_at": WHEN, "last_accessed": WHEN}
    return [
        {"id": f"{door}-edit", "text": "Bob likes coffee", **owner},
        {"id": f"{door}-del", "text": "Bob owns a red car", **owner},
        {"id": f"{door}-base", "text": "Carol plays the cello", **owner},
    ]


@pytest.fixture
def stored(api):
    """The shared records (a chain of three Wi-Fi passwords among them), both doors'
    twins, and a session."""
    shared = {"created_at": WHEN, "last_accessed": WHEN, **OWNER}
    memories_create(
        records=[
            {"id": "tea", "text": "Alice drinks green tea every morning", "topics": ["drinks"], **shared},
            {"id": "bike", "text": "Alice rides her bike to work", **shared},
            {"id": "wifi-1", "text": "The Wi-Fi password is apple-1.", **shared},
            {"id": "wifi-2", "text": "The Wi-Fi password is banana-2.", **shared},
            {"id": "wifi-3", "text": "The Wi-Fi password is cherry-3.", **shared},
            *_records("rest"),
            *_records("mcp"),
        ],
        deduplicate=False,
        actor="test",
    )
    memories_supersede(pairs=[("wifi-1", "wifi-2")], actor="test")
    memories_supersede(pairs=[("wifi-2", "wifi-3")], actor="test")
    session = api.put("/v1/working-memory/doors-s", {**OWNER, "messages": MESSAGES}, format="json")
    assert session.status_code == 200, session.content


def _writes(door: str) -> dict:
    """A door's write calls, as the MCP tools' arguments (the REST bodies hold the same)."""
    namespace = f"doors-{door}"
    return {
        "create": [
            {"id": f"{door}-new", "text": "Dave collects stamps", "namespace": namespace, "user_id": USER},
            {"text": "Carol plays the cello", "namespace": namespace, "user_id": USER, "topics": ["music"]},
        ],
        "edit": {"text": "Bob likes espresso", "topics": ["drinks"], "pinned": True},
        "delete": [f"{door}-del", "no-such-id"],
        "session": {
            "namespace": namespace,
            "user_id": USER,
            "messages": MESSAGES,
            "memories": [
                {
                    "id": f"{door}-wm-1",
                    "text": "Eve likes tea",
                    "created_at": "2025-03-01T09:00:00Z",
                    "updated_at": "2025-03-01T09:00:00Z",
                    "last_accessed": "2025-03-01T09:00:00Z",
                }
            ],
            "data": {"mood": "curious"},
            "context": "Alice said hello.",
            "ttl_seconds": 3600,
        },
    }


def _ok(response) -> dict:
    assert response.status_code == 200, response.content
    return response.json()


def _over_rest(api) -> dict:
    search = "/v1/long-term-memory/search"
    answers = {f"search {mode}": _ok(api.post(search, body, format="json")) for mode, body in SEARCHES.items()}
    answers["get"] = _ok(api.get("/v1/long-term-memory/wifi-3"))
    answers["session get"] = _ok(api.get("/v1/working-memory/doors-s", OWNER))
    prompt = {
        "query": QUERY,
        "session": {"session_id": "doors-s", **OWNER},
        "long_term_search": {"limit": 2, "recency_boost": False, "namespace": {"eq": NS}, "user_id": {"eq": USER}},
    }
    answers["prompt"] = _ok(api.post("/v1/memory/prompt", prompt, format="json"))
    writes = _writes("rest")
    answers["create"] = _ok(api.post("/v1/long-term-memory/", {"memories": writes["create"]}, format="json"))
    answers["edit"] = _ok(api.patch("/v1/long-term-memory/rest-edit", writes["edit"], format="json"))
    answers["delete"] = _ok(api.delete(f"/v1/long-term-memory?memory_ids={','.join(writes['delete'])}"))
    answers["session set"] = _ok(api.put("/v1/working-memory/rest-s", writes["session"], format="json"))
    return answers


async def _over_mcp(tools) -> dict:
    answers = {f"search {mode}": await tools.call("search_long_term_memory", **args) for mode, args in SEARCHES.items()}
    answers["get"] = await tools.call("get_long_term_memory", memory_id="wifi-3")
    answers["session get"] = await tools.call("get_working_memory", session_id="doors-s", **OWNER)
    answers["prompt"] = await tools.call(
        "memory_prompt", query=QUERY, session_id="doors-s", **OWNER, limit=2, recency_boost=False
    )
    writes = _writes("mcp")
    answers["create"] = await tools.call("create_long_term_memories", memories=writes["create"])
    answers["edit"] = await tools.call("edit_long_term_memory", memory_id="mcp-edit", **writes["edit"])
    answers["delete"] = await tools.call("delete_long_term_memories", memory_ids=writes["delete"])
    answers["session set"] = await tools.call("set_working_memory", session_id="mcp-s", **writes["session"])
    return answers


def _as_mcp(value):
    """A REST answer about the `rest-*` twins, as the MCP answer about the `mcp-*` ones reads."""
    if isinstance(value, dict):
        return {key: _as_mcp(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_as_mcp(item) for item in value]
    if value == "doors-rest":
        return "doors-mcp"
    if isinstance(value, str) and value.startswith("rest-"):
        return "mcp-" + value.removeprefix("rest-")
    return value


def test_rest_and_mcp_answer_alike_for_every_operation(api, stored):
    """One MCP session (one process start) for every call; each operation's check below."""
    rest = _over_rest(api)
    mcp = over_stdio(_over_mcp)
    assert set(mcp) == set(rest)
    for check in (_searches, _get, _session_get, _prompt, _create, _edit, _delete, _session_set):
        check(rest, mcp)


def _searches(rest, mcp):
    for mode in SEARCHES:
        assert mcp[f"search {mode}"] == rest[f"search {mode}"], mode
    # The answers compared are no empty ones: each search found its records.
    found = {mode: [m["id"] for m in rest[f"search {mode}"]["memories"]] for mode in SEARCHES}
    assert found["semantic"][0] == "tea"
    assert found["keyword"] == ["wifi-3"]
    assert found["hybrid"][0] == "tea"
    assert sorted(found["include_superseded"]) == ["wifi-1", "wifi-2", "wifi-3"]
    assert sorted(found["listing"]) == ["bike", "tea", "wifi-3"]
    current = rest["search keyword"]["memories"][0]
    assert (current["supersedes"], "chain" in current) == (["wifi-2"], False)
    chains = {m["id"]: m["chain"] for m in rest["search include_superseded"]["memories"]}
    assert chains == {i: ["wifi-3", "wifi-2", "wifi-1"] for i in ("wifi-1", "wifi-2", "wifi-3")}


def _get(rest, mcp):
    assert rest["get"]["supersedes"] == ["wifi-2"]
    assert mcp["get"] == rest["get"]


def _session_get(rest, mcp):
    assert [m["id"] for m in rest["session get"]["messages"]] == ["m1", "m2"]
    assert mcp["session get"] == rest["session get"]


def _prompt(rest, mcp):
    assert [m["id"] for m in rest["prompt"]["memories_used"]["memories"]] == ["tea", "bike"]
    assert mcp["prompt"] == rest["prompt"]


def _create(rest, mcp):
    # Each merge's history entry is its own row: the ids differ, each names its merge.
    for answer, door in ((rest, "rest"), (mcp, "mcp")):
        merge = MemoryHistory.objects.get(memory_id=f"{door}-base", action=MemoryHistory.Action.MERGED)
        assert answer["create"]["memories"][1]["history_id"] == merge.pk
        answer["create"]["memories"][1]["history_id"] = "the merge's entry"
    assert [(m["id"], m["outcome"]) for m in rest["create"]["memories"]] == [
        ("rest-new", "created"),
        ("rest-base", "merged_hash"),
    ]
    assert mcp["create"] == _as_mcp(rest["create"])


def _edit(rest, mcp):
    # updated_at is the time of each edit, a second apart.
    rest_edit, mcp_edit = ({k: v for k, v in a["edit"].items() if k != "updated_at"} for a in (rest, mcp))
    assert (rest_edit["text"], rest_edit["topics"], rest_edit["pinned"]) == ("Bob likes espresso", ["drinks"], True)
    assert mcp_edit == _as_mcp(rest_edit)


def _delete(rest, mcp):
    assert rest["delete"] == {"status": "ok, deleted 1 memories", "deleted": 1}
    assert mcp["delete"] == rest["delete"]


def _session_set(rest, mcp):
    # last_accessed is the time of each write, a second apart.
    rest_set, mcp_set = ({k: v for k, v in a["session set"].items() if k != "last_accessed"} for a in (rest, mcp))
    assert [m["id"] for m in rest_set["memories"]] == ["rest-wm-1"]
    assert mcp_set == _as_mcp(rest_set)
