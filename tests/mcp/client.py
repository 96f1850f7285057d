"""The MCP SDK's own client against our server: over stdio (a `manage.py mcp` child
process) and over streamable HTTP (a running `manage.py mcp --transport streamable-http`)."""

import asyncio
import contextlib
import json
import subprocess

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamablehttp_client

from tests.helpers import BASE_DIR, PYTHON, child_env, free_port, operator_api_key, wait_for_http

TOOL_NAMES = {
    "search_long_term_memory",
    "create_long_term_memories",
    "get_long_term_memory",
    "edit_long_term_memory",
    "delete_long_term_memories",
    "memory_prompt",
    "set_working_memory",
    "get_working_memory",
    "get_current_datetime",
    "list_sessions",
    "delete_working_memory",
    "forget_memories",
    "compact_long_term_memories",
    "get_long_term_memory_history",
    "undo_long_term_memory_change",
    "create_summary_view",
    "list_summary_views",
    "get_summary_view",
    "delete_summary_view",
    "run_summary_view_partition",
    "list_summary_view_partitions",
    "run_summary_view",
    "get_task",
}


class Tools:
    """`await tools.call(name, **args)`: the tool's JSON result, or raises ToolFailed."""

    def __init__(self, session: ClientSession):
        self.session = session

    async def names(self) -> set[str]:
        return {tool.name for tool in (await self.session.list_tools()).tools}

    async def result(self, name: str, **arguments):
        """The raw CallToolResult."""
        return await self.session.call_tool(name, arguments)

    async def call(self, name: str, **arguments) -> dict:
        result = await self.result(name, **arguments)
        assert not result.isError, result.content[0].text
        return json.loads(result.content[0].text)


def bearer(api_key: str | None = None) -> dict:
    """The header the network transports need (AUTH_MODE=required): a new operator key by default."""
    return {"Authorization": f"Bearer {api_key or operator_api_key('mcp')}"}


def over_stdio(work, **env: str):
    """Run `await work(tools)` against a `manage.py mcp --transport stdio` child process,
    acting with MCP_API_KEY (a new operator key unless `env` gives one)."""
    env.setdefault("MCP_API_KEY", operator_api_key("mcp"))
    params = StdioServerParameters(
        command=PYTHON, args=["manage.py", "mcp", "--transport", "stdio"], env=child_env(**env), cwd=str(BASE_DIR)
    )

    async def main():
        async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            return await work(Tools(session))

    return asyncio.run(main())


@contextlib.asynccontextmanager
async def http_tools(url: str, headers: dict):
    """An initialized SDK client session on the streamable HTTP server at `url` (…/mcp)."""
    async with (
        streamablehttp_client(url, headers=headers) as (read, write, _),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        yield Tools(session)


def over_http(url: str, work, headers: dict | None = None):
    """Run `await work(tools)` against the streamable HTTP server at `url` (…/mcp)."""
    headers = bearer() if headers is None else headers

    async def main():
        async with http_tools(url, headers) as tools:
            return await work(tools)

    return asyncio.run(main())


def over_sse(url: str, work, headers: dict | None = None):
    """Run `await work(tools)` against the SSE server at `url` (…/sse)."""
    from mcp.client.sse import sse_client

    headers = bearer() if headers is None else headers

    async def main():
        async with sse_client(url, headers=headers) as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            return await work(Tools(session))

    return asyncio.run(main())


def start_server(env: dict, transport: str = "streamable-http") -> tuple[subprocess.Popen, str]:
    """`manage.py mcp` on a network transport, on a free port; (process, base URL)."""
    port = free_port()
    proc = subprocess.Popen(
        [PYTHON, "manage.py", "mcp", "--transport", transport, "--port", str(port)], cwd=BASE_DIR, env=env
    )
    url = f"http://127.0.0.1:{port}"
    wait_for_http(f"{url}/mcp" if transport == "streamable-http" else f"{url}/messages/")
    return proc, url
