"""The MCP server (the official `mcp` SDK's FastMCP) and its transports.

`manage.py mcp --transport stdio|sse|streamable-http` runs it; `bin/serve` starts the
streamable HTTP one beside the API. URLs of the network transports:

    /mcp                 streamable HTTP          /sse, /messages/              SSE
    /{namespace}/mcp     ... pinned to namespace  /{namespace}/sse, .../messages/  ... pinned

Streamable HTTP runs stateless (no MCP session lives in the process), so any number of
these processes can serve the same clients. The SDK turns on its DNS-rebinding guard
(Host and Origin checks) when the server binds to loopback, the default. With
AUTH_MODE=disabled the socket it bound must be loopback, else it refuses to serve
(`memoryproject.bind_check`).
"""

import uvicorn
from django.core.exceptions import ImproperlyConfigured
from mcp.server.fastmcp import FastMCP
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Mount, Route

from memory.mcp import tools_forget, tools_history, tools_long_term, tools_session, tools_summary
from memory.mcp.auth import BearerMiddleware
from memoryproject.bind_check import refuse_open_bind

INSTRUCTIONS = """\
This server is the user's long-term memory. Before answering anything that may depend on
what the user told you before (preferences, people, plans, past events), call
memory_prompt or search_long_term_memory. When the user tells you something worth
keeping, save it with create_long_term_memories, as self-contained statements with real
dates (get_current_datetime). Correct stored facts with edit_long_term_memory.
"""

TOOLS = (
    tools_long_term.search_long_term_memory,
    tools_long_term.create_long_term_memories,
    tools_long_term.get_long_term_memory,
    tools_long_term.edit_long_term_memory,
    tools_long_term.delete_long_term_memories,
    tools_session.memory_prompt,
    tools_session.set_working_memory,
    tools_session.get_working_memory,
    tools_session.get_current_datetime,
    tools_session.list_sessions,
    tools_session.delete_working_memory,
    tools_forget.forget_memories,
    tools_forget.compact_long_term_memories,
    tools_history.get_long_term_memory_history,
    tools_history.undo_long_term_memory_change,
    tools_summary.create_summary_view,
    tools_summary.list_summary_views,
    tools_summary.get_summary_view,
    tools_summary.delete_summary_view,
    tools_summary.run_summary_view_partition,
    tools_summary.list_summary_view_partitions,
    tools_summary.run_summary_view,
    tools_summary.get_task,
)
TRANSPORTS = ("stdio", "sse", "streamable-http")


def build_server(*, host: str, port: int) -> FastMCP:
    server = FastMCP(
        "Agent memory",
        instructions=INSTRUCTIONS,
        host=host,
        port=port,
        stateless_http=True,
        log_level="WARNING",
    )
    for tool in TOOLS:
        server.add_tool(tool)
    return server


def streamable_http_app(server: FastMCP) -> Starlette:
    """/mcp and /{namespace}/mcp; the namespace reaches the tools as a path parameter."""
    inner = server.streamable_http_app()
    return Starlette(
        routes=[Route("/mcp", endpoint=inner), Mount("/{namespace}", app=inner)],
        lifespan=lambda app: server.session_manager.run(),
        middleware=[Middleware(BearerMiddleware)],
    )


def sse_app(server: FastMCP) -> Starlette:
    """/sse and /{namespace}/sse. Under a namespace the SDK tells the client to post to
    /{namespace}/messages/ (it prefixes the mount's root path), so every call keeps it."""
    inner = server.sse_app()
    return Starlette(
        routes=[Route("/sse", endpoint=inner), Route("/messages/", endpoint=inner), Mount("/{namespace}", app=inner)],
        middleware=[Middleware(BearerMiddleware)],
    )


def serve(*, transport: str, host: str, port: int) -> None:
    server = build_server(host=host, port=port)
    if transport == "stdio":
        server.run("stdio")
        return
    app = streamable_http_app(server) if transport == "streamable-http" else sse_app(server)
    config = uvicorn.Config(app, host=host, port=port, log_level="warning")
    # Bound here, not by uvicorn, so the socket it will serve on is checked before it does.
    sock = config.bind_socket()
    try:
        refuse_open_bind([sock.getsockname()], server="the MCP server")
    except ImproperlyConfigured:
        sock.close()
        raise
    uvicorn.Server(config).run(sockets=[sock])
