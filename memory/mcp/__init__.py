"""The MCP door: memory as tools an agent's model calls itself, on the official `mcp` SDK.

- `server`: the FastMCP server, its tools, and the transports (stdio, SSE, streamable
  HTTP; the network ones answer on `/mcp` and `/sse`, and on `/{namespace}/mcp` and
  `/{namespace}/sse` to pin a namespace);
- `scope`: who is calling and which namespace they are pinned to (`mcp_caller`);
- `calls`: running the Django services from async tool handlers, and their errors as
  tool errors that name the argument;
- `tools_long_term`, `tools_session`: the tools, with agent-memory-server's names and
  flat parameters, over the same services, selectors and REST serializers.
"""
