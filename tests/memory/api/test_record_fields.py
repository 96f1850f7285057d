"""The reference's newest record fields (issue 22): `metadata` (free JSON, capped, editable),
`extraction_strategy` and `extraction_strategy_config`, on every door that takes or
returns a record, and `extraction_strategy` as a search filter; an edit that ignores what
the reference ignores (a fetched record spread into it) and refuses a changed read-only field."""

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from agent_memory_client import MemoryAPIClient, MemoryClientConfig
from rest_framework.test import APIClient

from memory.models import MemoryHistory, MemoryRecord
from memory.services.api_keys import api_key_create
from memory.services.long_term import memories_access_flush
from tests.factories import memory_records_create
from tests.helpers import auth_headers

pytestmark = pytest.mark.django_db(transaction=True)

METADATA = {"source": {"url": "https://example.com/a", "page": 3}, "tags": ["a", 1, None, True], "score": 0.5}
CONFIG = {"custom_prompt": "Extract the user's travel plans.", "max_memories": 5}
NEW_FIELDS = ("metadata", "extraction_strategy", "extraction_strategy_config")
DEFAULTS = {"metadata": {}, "extraction_strategy": "discrete", "extraction_strategy_config": {}}


def _fields(memory: dict) -> dict:
    return {name: memory[name] for name in NEW_FIELDS}


def _create(api, *memories: dict):
    response = api.post("/v1/long-term-memory/", {"memories": list(memories), "deduplicate": False}, format="json")
    assert response.status_code == 200, response.content
    return response


def _error(response) -> tuple[list, str]:
    assert response.status_code == 422, response.content
    (error,) = response.json()["detail"]
    return error["loc"], error["msg"]


def _search(api, **body) -> list[str]:
    response = api.post("/v1/long-term-memory/search", {"text": "", "limit": 10, **body}, format="json")
    assert response.status_code == 200, response.content
    return [m["id"] for m in response.json()["memories"]]


def test_the_fields_round_trip_on_create_get_search_prompt_and_edit(api):
    given = {"metadata": METADATA, "extraction_strategy": "custom", "extraction_strategy_config": CONFIG}
    _create(
        api,
        {"id": "full", "text": "Alice books a window seat to Porto", "namespace": "ns", **given},
        {"id": "plain", "text": "Alice likes green tea", "namespace": "ns"},
    )

    assert _fields(api.get("/v1/long-term-memory/full").json()) == given
    assert _fields(api.get("/v1/long-term-memory/plain").json()) == DEFAULTS
    hits = api.post("/v1/long-term-memory/search", {"text": "window seat to Porto", "limit": 2}, format="json").json()[
        "memories"
    ]
    assert [(h["id"], _fields(h)) for h in hits] == [("full", given), ("plain", DEFAULTS)]
    prompt = api.post(
        "/v1/memory/prompt", {"query": "window seat to Porto", "long_term_search": {"limit": 1}}, format="json"
    ).json()
    assert [(m["id"], _fields(m)) for m in prompt["long_term_memories"]] == [("full", given)]

    edited = api.patch("/v1/long-term-memory/full", {"metadata": {"checked": True}}, format="json")
    assert (edited.status_code, _fields(edited.json())) == (200, {**given, "metadata": {"checked": True}})
    assert MemoryRecord.objects.get(id="full").metadata == {"checked": True}
    entry = MemoryHistory.objects.filter(memory_id="full", action="edited").get()
    assert entry.detail["changed"] == ["metadata"]
    assert (entry.detail["before"]["metadata"], entry.detail["after"]["metadata"]) == (METADATA, {"checked": True})
    # null is an empty object, as a record without metadata has.
    assert api.patch("/v1/long-term-memory/full", {"metadata": None}, format="json").json()["metadata"] == {}


def test_an_undone_delete_brings_the_fields_back(api):
    given = {"metadata": METADATA, "extraction_strategy": "preferences", "extraction_strategy_config": CONFIG}
    _create(api, {"id": "r", "text": "Alice prefers aisle seats", "namespace": "ns", **given})
    assert api.delete("/v1/long-term-memory?memory_ids=r").json()["deleted"] == 1
    deleted = MemoryHistory.objects.get(memory_id="r", action="deleted")

    assert api.post(f"/v1/long-term-memory/history/{deleted.pk}/undo").status_code == 200

    assert _fields(api.get("/v1/long-term-memory/r").json()) == given


def test_metadata_is_capped_in_bytes_of_its_compact_json_and_over_it_nothing_is_written(api, settings):
    settings.MEMORY_METADATA_MAX_BYTES = 64
    # {"k":"..."} is 8 bytes around the value; "é" is 2 bytes in UTF-8, so 28 fit and 29 do not.
    fits, too_big = {"k": "é" * 28}, {"k": "é" * 29}
    batch = [{"text": "Alice likes tea", "metadata": fits}, {"text": "Alice likes coffee", "metadata": too_big}]

    response = api.post("/v1/long-term-memory/", {"memories": batch}, format="json")

    assert _error(response) == (
        ["body", "memories", 1, "metadata"],
        "Must be at most 64 bytes as compact JSON (got 66).",
    )
    assert (MemoryRecord.objects.count(), MemoryHistory.objects.count()) == (0, 0)
    config = api.post(
        "/v1/long-term-memory/", {"memories": [{"text": "x", "extraction_strategy_config": too_big}]}, format="json"
    )
    assert _error(config)[0] == ["body", "memories", 0, "extraction_strategy_config"]
    assert _error(api.post("/v1/long-term-memory/", {"memories": [{"text": "x", "metadata": [1]}]}, format="json")) == (
        ["body", "memories", 0, "metadata"],
        "Must be a JSON object.",
    )

    _create(api, {"id": "r", "text": "Alice likes tea", "metadata": fits})
    before = MemoryHistory.objects.count()
    assert _error(api.patch("/v1/long-term-memory/r", {"metadata": too_big}, format="json"))[0] == ["body", "metadata"]
    assert (MemoryRecord.objects.get().metadata, MemoryHistory.objects.count()) == (fits, before)


def test_extraction_strategy_filters_like_the_other_tags(api):
    _create(
        api,
        {"id": "d", "text": "Alice likes tea", "namespace": "f"},
        {"id": "m", "text": "user: I like tea", "namespace": "f", "extraction_strategy": "messages"},
        {"id": "c", "text": "Alice likes green tea", "namespace": "f", "extraction_strategy": "custom"},
        {"id": "other", "text": "Bob likes tea", "namespace": "g", "extraction_strategy": "messages"},
    )
    f = {"namespace": {"eq": "f"}}

    assert _search(api, **f, extraction_strategy={"eq": "messages"}) == ["m"]
    assert sorted(_search(api, **f, extraction_strategy={"ne": "messages"})) == ["c", "d"]
    assert sorted(_search(api, **f, extraction_strategy={"any": ["custom", "discrete"]})) == ["c", "d"]
    assert _search(api, **f, extraction_strategy={"all": ["custom"]}) == ["c"]
    assert sorted(_search(api, extraction_strategy={"eq": "messages"})) == ["m", "other"]
    assert _search(api, text="tea", **f, extraction_strategy={"eq": "discrete"}) == ["d"]
    bad = api.post("/v1/long-term-memory/search", {"extraction_strategy": {"eq": " messages"}}, format="json")
    assert _error(bad)[0] == ["body", "extraction_strategy", "eq"]


def test_working_memory_memories_carry_the_fields(api):
    given = {"metadata": METADATA, "extraction_strategy": "custom", "extraction_strategy_config": CONFIG}
    memories = [{"id": "w1", "text": "Alice flies on Friday", **given}, {"id": "w2", "text": "Alice likes tea"}]
    put = api.put("/v1/working-memory/s-1?namespace=ns", {"messages": [], "memories": memories}, format="json")
    assert put.status_code == 200, put.content

    got = api.get("/v1/working-memory/s-1?namespace=ns").json()["memories"]

    assert [(m["id"], _fields(m)) for m in got] == [("w1", given), ("w2", DEFAULTS)]
    over = [{"text": "x", "metadata": {"k": "x" * 20_000}}]
    refused = api.put("/v1/working-memory/s-2?namespace=ns", {"messages": [], "memories": over}, format="json")
    assert _error(refused)[0] == ["body", "memories", 0, "metadata"]


def _agent(namespace: str) -> APIClient:
    """An agent's key: read and write in one namespace, no review permission."""
    _, secret = api_key_create(name="agent", tenant="t", namespaces=[namespace], actor="test")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


def test_a_fetched_record_spread_into_an_edit_changes_only_the_changed_field(api):
    _create(api, {"id": "r", "text": "Alice likes tea", "namespace": "ns", "topics": ["drinks"], "metadata": {"a": 1}})
    agent = _agent("ns")
    fetched = agent.get("/v1/long-term-memory/r").json()
    # A search counts an access after it answered; the fetched copy's counters are then behind.
    hit = agent.post("/v1/long-term-memory/search", {"text": "tea"}, format="json").json()["memories"][0]
    assert memories_access_flush() == 1
    assert MemoryRecord.objects.get().access_count == 1

    # Every field as fetched (status included: the agent may not review, and does not),
    # fields no record has (a search hit's score), and one change.
    response = agent.patch("/v1/long-term-memory/r", {**hit, **fetched, "text": "Alice likes black tea"}, format="json")

    assert response.status_code == 200, response.content
    after = agent.get("/v1/long-term-memory/r").json()
    changed = {k for k in after if after[k] != fetched[k]}
    assert changed == {"text", "memory_hash", "updated_at", "access_count", "last_accessed"}
    assert (after["text"], after["access_count"]) == ("Alice likes black tea", 1)
    assert MemoryHistory.objects.get(memory_id="r", action="edited").detail["changed"] == ["text"]


def test_an_edit_that_changes_a_read_only_field_is_refused_and_writes_nothing(api):
    _create(api, {"id": "r", "text": "Alice likes tea", "namespace": "ns"})
    fetched = api.get("/v1/long-term-memory/r").json()
    later = (datetime.fromisoformat(fetched["updated_at"]) + timedelta(days=1)).astimezone(UTC).isoformat()
    before = (list(MemoryRecord.objects.values()), MemoryHistory.objects.count())

    for field, value in [
        ("id", "another"),
        ("access_count", 5),
        ("created_at", "2020-01-01T00:00:00Z"),
        ("updated_at", later),
        ("extraction_strategy", "messages"),
        ("extraction_strategy_config", {"x": 1}),
    ]:
        response = api.patch("/v1/long-term-memory/r", {**fetched, "text": "changed", field: value}, format="json")
        loc, msg = _error(response)
        assert (loc, msg.split(":")[0]) == (["body", field], f"{field} is read-only")

    assert (list(MemoryRecord.objects.values()), MemoryHistory.objects.count()) == before
    # Read-only fields alone, as stored: nothing to change, nothing written.
    same = api.patch("/v1/long-term-memory/r", {"id": "r", "access_count": 0}, format="json")
    assert (same.status_code, same.json()) == (200, {k: v for k, v in fetched.items() if k != "supersedes"})
    assert (list(MemoryRecord.objects.values()), MemoryHistory.objects.count()) == before


def test_the_extraction_strategy_is_kept_when_records_are_created_in_bulk_by_the_service():
    rows = memory_records_create({"text": "a"}, {"text": "b", "extraction_strategy": "summary"}, namespace="ns")
    assert [(r.extraction_strategy, r.extraction_strategy_config, r.metadata) for r in rows] == [
        ("discrete", {}, {}),
        ("summary", {}, {}),
    ]


async def _spread_with_the_client(url: str) -> tuple:
    async with MemoryAPIClient(MemoryClientConfig(base_url=url, default_namespace="ns")) as client:
        client._client.headers.update(auth_headers(url))  # the client has no auth option
        fetched = await client.get_long_term_memory("r")
        changes = {**fetched.model_dump(mode="json"), "text": "Alice likes black tea"}
        return fetched, await client.edit_long_term_memory("r", changes)


def test_agent_memory_client_edits_with_a_fetched_record_spread_into_the_changes(live_server):
    memory_records_create({"id": "r", "text": "Alice likes tea", "topics": ["drinks"]}, namespace="ns")

    fetched, edited = asyncio.run(_spread_with_the_client(live_server.url))

    assert (fetched.text, edited.text, edited.topics, edited.created_at) == (
        "Alice likes tea",
        "Alice likes black tea",
        ["drinks"],
        fetched.created_at,
    )
    assert MemoryHistory.objects.get(memory_id="r", action="edited").detail["changed"] == ["text"]


def _nest(depth: int) -> dict | int:
    """`depth` objects, one in the other, around a 1."""
    return {"a": _nest(depth - 1)} if depth else 1


@pytest.mark.parametrize(
    ("metadata", "msg"),
    [
        ({"n": 2**64}, "Integers must fit in 64 bits."),
        ({"n": [-(2**63) - 1]}, "Integers must fit in 64 bits."),
        ({"n": _nest(63)}, "Must nest at most 64 levels deep."),
    ],
)
def test_metadata_an_answer_could_not_render_is_refused(api, metadata, msg):
    # Schema fuzzing stored a 20-digit integer, and every search that found the record was a 500.
    response = api.post("/v1/long-term-memory/", {"memories": [{"text": "x", "metadata": metadata}]}, format="json")

    assert _error(response) == (["body", "memories", 0, "metadata"], msg)
    assert MemoryRecord.objects.count() == 0


def test_metadata_at_the_edges_of_what_renders_is_kept(api):
    metadata = {"big": 2**64 - 1, "small": -(2**63), "deep": _nest(62)}
    _create(api, {"id": "r", "text": "Alice likes tea", "metadata": metadata})

    assert api.get("/v1/long-term-memory/r").json()["metadata"] == metadata
    found = api.post("/v1/long-term-memory/search", {"text": "tea"}, format="json").json()["memories"]
    assert [m["metadata"] for m in found] == [metadata]
