"""POST /v1/memory/prompt: summary, the session's recent turns, the relevant long-term
memories and the query, in the reference's order; the search uses the query text and
never leaves the session's namespace and user unless asked; 422s name the field."""

import pytest

from memory.services.long_term import memories_create
from tests.helpers import pending_access_counts, put_session, queued_messages, with_client

pytestmark = pytest.mark.django_db(transaction=True)

SUMMARY = "## A summary of the conversation so far:\n"
MEMORIES = "## Long term memories related to the user's query\n "
NONE_FOUND = MEMORIES + "No relevant long-term memories found."
QUERY = "What does Alice drink in the morning?"


def text(role, body):
    return {"role": role, "content": {"type": "text", "text": body}}


@pytest.fixture(autouse=True)
def open_api(settings):
    settings.AUTH_MODE = "disabled"


@pytest.fixture
def memories():
    """Alice's two memories in `home`, and near misses in another user and namespace.
    The bike memory is the newest, so a search without text would list it first."""
    for record in (
        {"id": "tea", "text": "Alice drinks green tea every morning", "user_id": "alice"},
        {"id": "bob-tea", "text": "Bob drinks green tea every morning", "user_id": "bob"},
        {
            "id": "away-tea",
            "text": "Alice drinks green tea every morning at the office",
            "user_id": "alice",
            "namespace": "work",
        },
        {"id": "bike", "text": "Alice rides her bike to work", "user_id": "alice"},
    ):
        memories_create(actor="test", records=[{"namespace": "home", **record}], deduplicate=False)


def prompt(api, body, query=""):
    response = api.post(f"/v1/memory/prompt{query}", body, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def test_the_prompt_is_summary_turns_memories_query_in_that_order(api, memories, redis_client):
    put_session(
        api,
        "s1",
        [
            {"role": "user", "content": "Hi, I am Alice."},
            {"role": "assistant", "content": "Hello Alice!"},
            {"role": "tool", "content": "lookup done"},
        ],
        namespace="home",
        user_id="alice",
        context="Alice introduced herself.",
    )
    body = prompt(
        api,
        {
            "query": QUERY,
            "session": {"session_id": "s1", "namespace": "home", "user_id": "alice"},
            "long_term_search": {"limit": 5},
        },
    )
    assert body["messages"] == [
        text("system", SUMMARY + "Alice introduced herself."),
        text("user", "Hi, I am Alice."),
        text("assistant", "Hello Alice!"),
        text("assistant", "lookup done"),  # MCP prompts know user and assistant only
        text(
            "system",
            MEMORIES + "- Alice drinks green tea every morning (ID: tea)\n- Alice rides her bike to work (ID: bike)",
        ),
        text("user", QUERY),
    ]
    used = body["memories_used"]
    assert used["search_mode"] == "semantic"
    assert [m["id"] for m in used["memories"]] == ["tea", "bike"]
    assert used["memories"][0]["score"] > used["memories"][1]["score"]
    assert [m["id"] for m in body["long_term_memories"]] == ["tea", "bike"]
    assert body["long_term_memories"][0]["score_type"] == "semantic"
    # The hits are counted as accessed, as a search's are, and the worker's flush is due.
    assert pending_access_counts(redis_client) == {"tea": 1, "bike": 1}
    assert len(queued_messages(redis_client, "memories_access_flush")) == 1


def test_long_term_search_true_searches_the_query_text_in_the_sessions_scope(api, memories):
    put_session(api, "s1", [{"role": "user", "content": "hello"}], namespace="home", user_id="alice")
    session = {"session_id": "s1", "namespace": "home", "user_id": "alice"}
    body = prompt(api, {"query": QUERY, "session": session, "long_term_search": True})
    # Ranked by the query (tea before the newer bike), never Bob's or another namespace's.
    assert [m["id"] for m in body["memories_used"]["memories"]] == ["tea", "bike"]
    assert body["messages"][-2] == text(
        "system",
        MEMORIES + "- Alice drinks green tea every morning (ID: tea)\n- Alice rides her bike to work (ID: bike)",
    )


def test_an_empty_result_never_widens_the_filter(api, memories, redis_client):
    session = {"session_id": "none-yet", "namespace": "home", "user_id": "alice"}
    body = prompt(api, {"query": QUERY, "session": session, "long_term_search": {"topics": {"any": ["cooking"]}}})
    assert body["messages"] == [text("system", NONE_FOUND), text("user", QUERY)]
    assert body["long_term_memories"] is None
    assert body["memories_used"] == {"search_mode": "semantic", "memories": []}
    assert pending_access_counts(redis_client) == {}
    assert queued_messages(redis_client, "memories_access_flush") == []


def test_a_filter_the_request_names_replaces_only_that_part_of_the_sessions_scope(api, memories):
    session = {"session_id": "s1", "namespace": "home", "user_id": "alice"}
    body = prompt(api, {"query": QUERY, "session": session, "long_term_search": {"namespace": {"eq": "work"}}})
    assert [m["id"] for m in body["memories_used"]["memories"]] == ["away-tea"]
    body = prompt(api, {"query": QUERY, "session": session, "long_term_search": {"user_id": {"eq": "bob"}}})
    assert [m["id"] for m in body["memories_used"]["memories"]] == ["bob-tea"]


LONG_TURN = " ".join(["the long first message goes on"] * 100)


@pytest.mark.parametrize(
    ("window", "kept"),
    [
        ({}, [LONG_TURN, "short two", "short three"]),
        ({"context_window_max": 100000}, [LONG_TURN, "short two", "short three"]),
        ({"context_window_max": "100"}, ["short two", "short three"]),  # the client sends a string
        ({"context_window_max": 1}, ["short three"]),  # always at least the newest
        ({"model_name": "gpt-4o-mini"}, [LONG_TURN, "short two", "short three"]),
    ],
)
def test_session_turns_are_trimmed_to_the_window(api, window, kept):
    turns = [{"role": "user", "content": c} for c in (LONG_TURN, "short two", "short three")]
    put_session(api, "s1", turns, namespace="home")
    body = prompt(api, {"query": "next?", "session": {"session_id": "s1", "namespace": "home", **window}})
    assert body["messages"] == [*(text("user", c) for c in kept), text("user", "next?")]
    assert body["long_term_memories"] is None and body["memories_used"] is None


def test_another_users_session_shows_nothing(api):
    put_session(api, "s1", [{"role": "user", "content": "Alice's secret"}], namespace="home", user_id="alice")
    body = prompt(api, {"query": "hi", "session": {"session_id": "s1", "namespace": "home", "user_id": "bob"}})
    assert body["messages"] == [text("user", "hi")]


@pytest.mark.parametrize(
    ("body", "query", "loc"),
    [
        ({"session": {"session_id": "s"}}, "", ["body", "query"]),
        ({"query": "  ", "session": {"session_id": "s"}}, "", ["body", "query"]),
        ({"query": 7, "session": {"session_id": "s"}}, "", ["body", "query"]),
        ({"query": "q"}, "", ["body"]),
        ({"query": "q", "long_term_search": False}, "", ["body"]),
        ({"query": "q", "session": {"namespace": "n"}}, "", ["body", "session", "session_id"]),
        ({"query": "q", "session": {"session_id": "s", "model_name": "gpt-9"}}, "", ["body", "session", "model_name"]),
        (
            {"query": "q", "session": {"session_id": "s", "context_window_max": 0}},
            "",
            ["body", "session", "context_window_max"],
        ),
        ({"query": "q", "long_term_search": "yes"}, "", ["body", "long_term_search"]),
        ({"query": "q", "long_term_search": {"limit": 0}}, "", ["body", "long_term_search", "limit"]),
        ({"query": "q", "long_term_search": {"search_mode": "fuzzy"}}, "", ["body", "long_term_search", "search_mode"]),
        (
            {"query": "q", "long_term_search": {"topics": {"like": "a"}}},
            "",
            ["body", "long_term_search", "topics", "like"],
        ),
        ({"query": "q", "long_term_search": True}, "?optimize_query=maybe", ["query", "optimize_query"]),
    ],
)
def test_bad_input_is_a_422_naming_the_field(api, redis_client, body, query, loc):
    response = api.post(f"/v1/memory/prompt{query}", body, format="json")
    assert response.status_code == 422, response.content
    (error,) = response.json()["detail"]
    assert error["loc"] == loc
    assert queued_messages(redis_client) == []


def test_a_body_that_is_not_an_object_is_a_422(api):
    response = api.post("/v1/memory/prompt", ["query"], format="json")
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body"]


@pytest.mark.multiprocess
def test_the_official_clients_memory_prompt_and_hydrate_work_unchanged(deployment_with):
    deployment = deployment_with(AUTH_MODE="disabled")
    memories_create(
        actor="test",
        records=[
            {"id": "tea", "text": "Alice drinks green tea every morning", "namespace": "home", "user_id": "alice"},
            {"id": "away", "text": "Alice drinks green tea at the office", "namespace": "work", "user_id": "alice"},
        ],
        deduplicate=False,
    )
    put_session(
        deployment.url, "s1", [{"role": "user", "content": "Hi, I am Alice."}], namespace="home", user_id="alice"
    )

    async def work(client):
        with_session = await client.memory_prompt(
            QUERY, session_id="s1", user_id="alice", context_window_max=1000, long_term_search={"limit": 3}
        )
        hydrated = await client.hydrate_memory_prompt(QUERY, user_id={"eq": "alice"}, limit=3)
        return with_session, hydrated

    with_session, hydrated = with_client(deployment.url, work, default_namespace="home")
    listing = text("system", MEMORIES + "- Alice drinks green tea every morning (ID: tea)")
    assert with_session["messages"] == [text("user", "Hi, I am Alice."), listing, text("user", QUERY)]
    assert hydrated["messages"] == [listing, text("user", QUERY)]
    assert hydrated["memories_used"]["memories"][0]["id"] == "tea"


def test_the_openapi_schema_documents_the_prompt(api):
    schema = api.get("/openapi.json").json()
    operation = schema["paths"]["/v1/memory/prompt"]["post"]
    assert operation["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/MemoryPromptResponse"
    }
    search = schema["components"]["schemas"]["MemoryPrompt"]["properties"]["long_term_search"]
    assert [option["type"] for option in search["oneOf"]] == ["object", "boolean"]
    assert [p["name"] for p in operation["parameters"]] == ["optimize_query"]
