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
from django.conf import settings

from memory.models import MemoryHistory, MemoryRecord
from memory.services.long_term import memories_create, memories_supersede
from tests.helpers import operator_api_key
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


# --- Forget, compact, history and undo, sessions --------------------------------------------------
# The tools agent-memory-server's MCP lacks (forget_memories and the session tools are named
# as in its MCP parity pull request), against their REST routes, on each door's twins.

OLD = {"user_id": USER, "created_at": WHEN, "last_accessed": WHEN}
FORGET = {"policy": {"max_age_days": 30}}


def _upkeep_records(door: str) -> list[dict]:
    """Two old memories a forget finds, a pinned old one and a new one it keeps; Frank's
    two copies of one memory for compaction."""
    namespace = f"doors-{door}"
    return [
        {"id": f"{door}-old-1", "text": "Gina paints watercolours", "namespace": namespace, **OLD},
        {"id": f"{door}-old-2", "text": "Hank repairs clocks", "namespace": namespace, **OLD},
        {"id": f"{door}-pin", "text": "Ivy speaks Dutch", "namespace": namespace, "pinned": True, **OLD},
        {"id": f"{door}-new", "text": "Jack runs marathons", "namespace": namespace, "user_id": USER},
        *(
            {"id": f"{door}-dup-{n}", "text": "Frank builds wooden boats", "namespace": namespace, "user_id": "frank"}
            for n in (1, 2)
        ),
    ]


@pytest.fixture
def upkeep(api):
    memories_create(records=[*_upkeep_records("rest"), *_upkeep_records("mcp")], deduplicate=False, actor="test")
    for door in ("rest", "mcp"):
        for session in ("s1", "s2"):
            body = {"namespace": f"doors-{door}", "user_id": USER, "messages": MESSAGES[:1]}
            assert api.put(f"/v1/working-memory/{door}-{session}", body, format="json").status_code == 200


def _rows(namespace: str) -> int:
    return MemoryRecord.objects.filter(namespace=namespace).count()


def _upkeep_over_rest(api) -> dict:
    where = f"namespace=doors-rest&user_id={USER}"
    forget = f"/v1/long-term-memory/forget?{where}"
    answers = {"forget preview": _ok(api.post(forget, FORGET, format="json"))}
    answers["rows after preview"] = _rows("doors-rest")
    answers["forget"] = _ok(api.post(f"{forget}&dry_run=false", FORGET, format="json"))
    answers["history"] = _ok(api.get("/v1/long-term-memory/rest-old-1/history"))
    undo = f"/v1/long-term-memory/history/{answers['history']['history'][0]['id']}/undo"
    answers["undo"] = _ok(api.post(undo))
    answers["compact"] = _ok(api.post("/v1/long-term-memory/compact?namespace=doors-rest&user_id=frank"))
    answers["sessions"] = _ok(api.get(f"/v1/working-memory/?{where}"))
    answers["session delete"] = _ok(api.delete(f"/v1/working-memory/rest-s1?{where}"))
    answers["sessions after delete"] = _ok(api.get(f"/v1/working-memory/?{where}"))
    return answers


async def _upkeep_over_mcp(tools) -> dict:
    from asgiref.sync import sync_to_async

    owner = {"namespace": "doors-mcp", "user_id": USER}
    answers = {"forget preview": await tools.call("forget_memories", **FORGET, **owner)}
    answers["rows after preview"] = await sync_to_async(_rows)("doors-mcp")
    answers["forget"] = await tools.call("forget_memories", **FORGET, **owner, dry_run=False)
    answers["history"] = await tools.call("get_long_term_memory_history", memory_id="mcp-old-1")
    history_id = answers["history"]["history"][0]["id"]
    answers["undo"] = await tools.call("undo_long_term_memory_change", history_id=history_id)
    answers["compact"] = await tools.call("compact_long_term_memories", namespace="doors-mcp", user_id="frank")
    answers["sessions"] = await tools.call("list_sessions", **owner)
    answers["session delete"] = await tools.call("delete_working_memory", session_id="mcp-s1", **owner)
    answers["sessions after delete"] = await tools.call("list_sessions", **owner)
    return answers


def _key_actor(door: str, secret: str) -> str:
    return f"{door}:key-{secret.split('.')[0]}"


def test_rest_and_mcp_answer_alike_for_forget_compact_history_undo_and_sessions(api, api_key, upkeep):
    mcp_key = operator_api_key("doors-mcp")
    rest = _upkeep_over_rest(api)
    mcp = over_stdio(_upkeep_over_mcp, MCP_API_KEY=mcp_key)
    assert set(mcp) == set(rest)
    rest_actor, mcp_actor = _key_actor("api", api_key), _key_actor("mcp", mcp_key)

    # A forget without dry_run is a dry run on both doors, as on agent-memory-server: nothing went.
    preview = {
        "scanned": 4,
        "deleted": 2,
        "deleted_ids": ["rest-old-1", "rest-old-2"],
        "dry_run": True,
        "remaining": 0,
        "max_per_call": settings.MEMORY_FORGET_MAX_PER_CALL,
    }
    assert rest["forget preview"] == preview
    assert (rest["rows after preview"], mcp["rows after preview"]) == (6, 6)
    assert rest["forget"] == {**preview, "dry_run": False}
    for key in ("forget preview", "rows after preview", "forget"):
        assert mcp[key] == _as_mcp(rest[key]), key
    assert MemoryRecord.objects.filter(id__endswith="old-2").count() == 0

    # The history names each door's actor (the audit trail says which door and which key).
    for answer, actor in ((rest, rest_actor), (mcp, mcp_actor)):
        entries = answer["history"]["history"]
        assert [(e["action"], e["actor"], e["reason"], e["undoable"]) for e in entries] == [
            ("deleted", actor, "forgotten by policy", True),
            ("created", "test", "created", False),
        ]
        for entry in entries:
            entry.update(id="each door's entry", created_at="each call's time", actor="each door's key")
    assert mcp["history"] == _as_mcp(rest["history"])

    # Undo brings the forgotten memory back, recorded under each door's actor.
    for answer, door, actor in ((rest, "rest", rest_actor), (mcp, "mcp", mcp_actor)):
        undone = MemoryHistory.objects.filter(memory_id=f"{door}-old-1").order_by("-pk").first()
        assert (undone.action, undone.actor) == (MemoryHistory.Action.RESTORED, actor)
        answer["undo"]["history_id"] = "each door's entry"
        for moment in ("updated_at", "persisted_at"):  # the undo's time, a second apart
            answer["undo"]["memory"][moment] = "the undo's time"
    assert rest["undo"]["memory"]["text"] == "Gina paints watercolours"
    assert mcp["undo"] == _as_mcp(rest["undo"])

    assert rest["compact"] == {"status": "ok, 1 memories remaining after compaction", "merged": 1, "remaining": 1}
    assert mcp["compact"] == rest["compact"]
    assert MemoryRecord.objects.filter(user_id="frank").count() == 2  # one per door

    assert rest["sessions"] == {"sessions": ["rest-s2", "rest-s1"], "total": 2}
    assert rest["session delete"] == {"status": "ok"}
    assert rest["sessions after delete"] == {"sessions": ["rest-s2"], "total": 1}
    for key in ("sessions", "session delete", "sessions after delete"):
        assert mcp[key] == _as_mcp(rest[key]), key
