"""The session tools apply the rules of the REST session door (memory.api.fields; the
REST side: tests/memory/api/test_working_memory_shared_rules.py): the same session-id
check and memory rules, as tool errors naming the argument, and nothing is written."""

import pytest

from tests.helpers import redis_state
from tests.mcp.client import over_stdio


def memory(**fields):
    return {"text": "Alice likes tea", **fields}


@pytest.mark.django_db(transaction=True)  # the child process reads the API key's row
def test_the_mcp_tool_applies_the_same_rules(redis_client):
    """Over stdio: the same session-id check and memory rules, as tool errors naming the argument."""

    async def work(tools):
        results = [
            await tools.result("set_working_memory", session_id="a\nb"),
            await tools.result("set_working_memory", session_id="s-1", memories=[memory(id="r\n1")]),
            await tools.result("set_working_memory", session_id="s-1", memories=[memory(topics=["a\tb"])]),
            await tools.result("get_working_memory", session_id=" s-1"),
        ]
        return [(result.isError, result.content[0].text) for result in results], redis_state()

    results, state = over_stdio(work)
    set_error, get_error = "Error executing tool set_working_memory: ", "Error executing tool get_working_memory: "
    assert results == [
        (True, f"{set_error}session_id: Must not contain control characters."),
        (True, f"{set_error}memories[0].id: Must not contain control characters."),
        (True, f"{set_error}memories[0].topics[0]: Must not contain control characters."),
        (True, f"{get_error}session_id: Must not start or end with whitespace."),
    ]
    assert not any(key.startswith(b"wm:") for key in state)
