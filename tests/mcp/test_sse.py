"""The SSE transport: a namespace in the URL path reaches the tool calls, whose
messages the SDK posts to /{namespace}/messages/."""

import pytest

from memory.models import MemoryRecord
from tests.helpers import child_env, stop_process
from tests.mcp.client import TOOL_NAMES, over_sse, start_server

pytestmark = pytest.mark.django_db(transaction=True)


def test_sse_pins_the_namespace_of_its_path():
    proc, url = start_server(child_env(), transport="sse")
    try:

        async def work(tools):
            names = await tools.names()
            await tools.call("create_long_term_memories", memories=[{"id": "jazz", "text": "Alice likes jazz"}])
            refused = await tools.result("get_working_memory", session_id="s1", namespace="home")
            return names, refused

        names, refused = over_sse(f"{url}/work/sse", work)
    finally:
        stop_process(proc)
    assert names == TOOL_NAMES
    assert MemoryRecord.objects.get(id="jazz").namespace == "work"
    assert refused.isError and "namespace: this MCP server is pinned to namespace 'work', not 'home'." in (
        refused.content[0].text
    )
