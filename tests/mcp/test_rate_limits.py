"""MCP tool calls count against the credential's REST rate limits (memory.mcp.scope,
memory.api.auth.rate_limit_wait): the same settings and the same counters, so a
credential has one budget whichever door it uses. Over it is a tool error naming the
limit, and the call changes nothing."""

import re

import pytest
from rest_framework.test import APIClient

from memory.models import MemoryRecord
from memory.selectors.working_memory import working_memory_get
from memory.services.api_keys import api_key_create
from tests.helpers import child_env, stop_process
from tests.mcp.client import over_http, start_server

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.multiprocess]

# Per day: a window that ends during the test would reset the counts.
LIMITS = {"RATE_LIMIT_WRITES": "2/d", "RATE_LIMIT_SEARCHES": "1/d"}
HI = [{"role": "user", "content": "Hi!"}]


@pytest.fixture
def server(settings):
    for name, rate in LIMITS.items():
        setattr(settings, name, rate)  # this process's REST views count with the same limits
    proc, url = start_server(child_env(**LIMITS))
    yield f"{url}/mcp"
    stop_process(proc)


def _key(namespace: str) -> str:
    _, secret = api_key_create(
        name=namespace, tenant="acme", namespaces=[namespace], permissions=["read", "write", "delete"], actor="test"
    )
    return secret


def _session(namespace: str, session_id: str):
    return working_memory_get(session_id=session_id, namespace=namespace, user_id=None)


def _refusal(result, setting: str) -> int:
    """The seconds a rate-limit tool error says to wait; asserts it names the limit."""
    assert result.isError
    text = result.content[0].text
    said = re.fullmatch(
        rf"Error executing tool \w+: Request was throttled\. This credential is over {setting} "
        rf"\({LIMITS[setting]}\)\. Retry in (\d+) s\.",
        text,
    )
    assert said, text
    return int(said.group(1))


def test_writes_and_searches_are_limited_per_credential_and_a_refused_call_changes_nothing(server):
    first, second = _key("home"), _key("work")

    async def calls(tools):
        writes = [await tools.result("set_working_memory", session_id=f"s{n}", messages=HI) for n in (1, 2, 3)]
        created = await tools.result("create_long_term_memories", memories=[{"id": "tea", "text": "Alice likes tea"}])
        reads = [await tools.result("get_working_memory", session_id="s1") for _ in range(3)]
        searches = [await tools.result("search_long_term_memory", text="tea", search_mode="keyword") for _ in (1, 2)]
        prompt = await tools.result("memory_prompt", query="tea", session_id="s1")
        return writes, created, reads, searches, prompt

    writes, created, reads, searches, prompt = over_http(server, calls, headers={"Authorization": f"Bearer {first}"})
    assert [w.isError for w in writes] == [False, False, True]
    assert 1 <= _refusal(writes[2], "RATE_LIMIT_WRITES") <= 86400
    _refusal(created, "RATE_LIMIT_WRITES")  # a create is a write too
    assert [_session("home", s) is not None for s in ("s1", "s2", "s3")] == [True, True, False]
    assert MemoryRecord.objects.count() == 0
    assert [r.isError for r in reads] == [False, False, False]  # reads are not limited
    assert [s.isError for s in searches] == [False, True]
    _refusal(searches[1], "RATE_LIMIT_SEARCHES")
    _refusal(prompt, "RATE_LIMIT_SEARCHES")  # the memory prompt searches

    async def other_key(tools):
        return await tools.result("set_working_memory", session_id="s1", messages=HI)

    assert not over_http(server, other_key, headers={"Authorization": f"Bearer {second}"}).isError


def test_rest_and_mcp_calls_of_one_credential_share_its_limit(server):
    secret = _key("home")
    rest = APIClient()
    rest.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert rest.put("/v1/working-memory/r1?namespace=home", {"messages": HI}, format="json").status_code == 200

    async def calls(tools):
        return [await tools.result("set_working_memory", session_id=f"m{n}", messages=HI) for n in (1, 2)]

    writes = over_http(server, calls, headers={"Authorization": f"Bearer {secret}"})
    assert [w.isError for w in writes] == [False, True]
    _refusal(writes[1], "RATE_LIMIT_WRITES")
    refused = rest.put("/v1/working-memory/r2?namespace=home", {"messages": HI}, format="json")
    assert refused.status_code == 429
    assert refused.json()["detail"].startswith(
        "Request was throttled. This credential is over RATE_LIMIT_WRITES (2/d). Expected available in "
    )
    assert [_session("home", s) is not None for s in ("r1", "m1", "m2", "r2")] == [True, True, False, False]


def test_the_upkeep_tools_count_as_their_routes_do(server):
    """forget, compact, deleting a session and undo are writes (POST/DELETE routes); listing
    sessions and a history are reads, never limited."""
    secret = _key("home")

    async def calls(tools):
        writes = [
            await tools.result("forget_memories", policy={"budget": 0}),
            await tools.result("compact_long_term_memories"),
            await tools.result("delete_working_memory", session_id="s1"),
            await tools.result("undo_long_term_memory_change", history_id=1),
        ]
        reads = [await tools.result("list_sessions") for _ in range(3)]
        reads += [await tools.result("get_long_term_memory_history", memory_id="tea") for _ in range(3)]
        return writes, reads

    writes, reads = over_http(server, calls, headers={"Authorization": f"Bearer {secret}"})
    assert [w.isError for w in writes] == [False, False, True, True]
    for refused in writes[2:]:
        _refusal(refused, "RATE_LIMIT_WRITES")
    assert [r.isError for r in reads] == [False, False, False, True, True, True]
    # The histories are refused for what they are, no history in this key's scope, not for the limit.
    assert {r.content[0].text for r in reads[3:]} == {
        "Error executing tool get_long_term_memory_history: memory_id: no history."
    }
