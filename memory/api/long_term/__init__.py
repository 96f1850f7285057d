"""Long-term memory over REST and MCP: one function per operation, every door calls it.

- `serializers`: what each operation takes (the input serializers) and answers (the
  output serializers, which document the dicts `memory_to_dict` and the operations build).
- `operations`: the operations themselves, `memories_create_respond`,
  `memories_search_respond`, `memory_get_respond`, `memory_edit_respond`,
  `memories_delete_respond`, `memories_forget_respond`, `memories_compact_respond`:
  each validates its plain-data arguments, applies the caller's `Scope`, calls the
  services and selectors, and returns the response dict.
- `views`: the REST routes, a few lines each around an operation. The MCP tools
  (`memory.mcp.tools_long_term`) are the other door onto the same operations.

A record's history and its undo are in `memory.api.history`, the memory prompt in
`memory.api.prompt`, working memory in `memory.api.working_memory`.
"""
