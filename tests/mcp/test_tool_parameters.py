"""The MCP tools' flat parameters are the REST request fields, by the same names.

FastMCP derives each tool's input schema from its Python signature, so the search
parameters are written out again in `search_long_term_memory` and `memory_prompt`:
these tests make sure every one of them is a field the REST operation reads (nothing
an agent passes is silently dropped), and that the search tool offers every field of
the REST search body. Exact sets, so a parameter added on one side only fails here.
"""

import inspect

from memory.api.filters import DATE_FILTER_FIELDS, TAG_FILTER_FIELDS
from memory.api.long_term.serializers import (
    EditMemorySerializer,
    ForgetSerializer,
    ScopeQuerySerializer,
    SearchSerializer,
)
from memory.api.working_memory.serializers import (
    GetQuerySerializer,
    ListQuerySerializer,
    SessionQuerySerializer,
    WorkingMemoryPutSerializer,
)
from memory.mcp.tools_forget import compact_long_term_memories, forget_memories
from memory.mcp.tools_history import get_long_term_memory_history, undo_long_term_memory_change
from memory.mcp.tools_long_term import edit_long_term_memory, search_long_term_memory
from memory.mcp.tools_session import (
    delete_working_memory,
    get_working_memory,
    list_sessions,
    memory_prompt,
    set_working_memory,
)

# Accepted for agent-memory-server's clients and without effect on either door.
NO_EFFECT = {"optimize_query"}


def _parameters(tool) -> set[str]:
    return set(inspect.signature(tool).parameters) - {"ctx"}


def test_the_search_tool_takes_exactly_the_rest_search_body():
    rest_body = set(SearchSerializer().fields) | set(TAG_FILTER_FIELDS) | set(DATE_FILTER_FIELDS)
    # `status` and `hybrid_alpha` are REST-only: an agent searches approved memories
    # with the server's hybrid weighting; the tool keeps agent-memory-server's list.
    assert _parameters(search_long_term_memory) - NO_EFFECT == rest_body - {"status", "hybrid_alpha"}


def test_the_prompt_tool_takes_the_search_tool_s_parameters_and_the_session_s():
    session = {"session_id", "model_name", "context_window_max", "include_long_term_search", "query"}
    search = _parameters(search_long_term_memory) - {"text", "include_superseded"}
    assert _parameters(memory_prompt) == search | session


def test_the_edit_tool_edits_only_fields_the_rest_edit_accepts():
    # `context` and `status` are REST-only edits: an agent corrects the statement itself,
    # and approving is the review permission's, on the desk or over REST.
    assert _parameters(edit_long_term_memory) - {"memory_id"} == set(EditMemorySerializer().fields) - {
        "context",
        "status",
    }


def _fields(serializer) -> set[str]:
    return set(serializer().fields)


def test_the_forget_tool_takes_the_forget_route_s_query_and_body():
    assert _parameters(forget_memories) == _fields(ScopeQuerySerializer) | _fields(ForgetSerializer)


def test_the_compact_tool_takes_the_compact_route_s_query():
    # The route's schema leaves these out too: compaction acts on a whole namespace (and
    # user), and has no dry run (the operation refuses dry_run=true).
    assert _parameters(compact_long_term_memories) == _fields(ScopeQuerySerializer) - {"session_id", "limit", "dry_run"}


def test_the_session_tools_take_their_routes_fields():
    assert _parameters(list_sessions) == _fields(ListQuerySerializer)
    assert _parameters(delete_working_memory) == {"session_id"} | _fields(SessionQuerySerializer)
    assert _parameters(get_working_memory) == {"session_id"} | _fields(GetQuerySerializer)
    # The PUT query's model_name and context_window_max trim the answer: REST-only, as on
    # agent-memory-server's tool.
    assert _parameters(set_working_memory) == {"session_id"} | _fields(WorkingMemoryPutSerializer)


def test_the_history_tools_take_their_routes_path_parameters():
    assert _parameters(get_long_term_memory_history) == {"memory_id"}
    assert _parameters(undo_long_term_memory_change) == {"history_id"}
