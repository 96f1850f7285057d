"""Working memory over REST and MCP: one function per operation, every door calls it.

- `serializers`: what each operation takes (the PUT body, the query parameters) and
  answers (the output serializers document the service's dicts).
- `bound`: the serializers bound once per thread, and the plain inputs (a session id,
  a scope-only query, the commonest PUT body) answered without them, as they answer.
- `operations`: `working_memory_put_respond`, `working_memory_get_respond`,
  `working_memory_delete_respond`, `working_memory_list_respond`.
- `views`: the REST routes, a few lines each around an operation; the MCP tools
  `set_working_memory` and `get_working_memory` (`memory.mcp.tools_session`) are the
  other door onto the same operations.
"""
