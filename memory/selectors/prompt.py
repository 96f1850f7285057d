"""The memory prompt: a session's summary and recent turns, the long-term memories
relevant to a query, and the query, as chat messages ready for an LLM.

The messages follow agent-memory-server's `POST /v1/memory/prompt`, in its order:

1. a system message with the running summary, when the session has one;
2. the session's messages, the newest that fit the window when one is given (always
   at least one, as `working_memory_get` trims them);
3. a system message listing the relevant long-term memories with their ids (also
   when none was found, so the model knows it looked);
4. the query, as a user message.

Each message is `{"role", "content": {"type": "text", "text"}}`, the MCP prompt shape
the reference returns; session turns other than the user's are shown as the
assistant's, as there (MCP prompts know only those two roles).

Round trips: one HMGET for the session, then the search's (the query embedding from
the Redis cache, one vector query; the prompt shows no total, so no count query). The
session read takes about 0.1 ms; run in a thread beside the search it measured the same
as before it (BENCHMARKS.md, "Memory prompt"), so it simply runs first.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from memory.selectors.long_term import SearchHit, SearchQuery, memories_search
from memory.selectors.working_memory import working_memory_get

SUMMARY_HEADING = "## A summary of the conversation so far:"
MEMORIES_HEADING = "## Long term memories related to the user's query"
NO_MEMORIES = "No relevant long-term memories found."


@dataclass(frozen=True)
class PromptSession:
    session_id: str
    namespace: str | None
    user_id: str | None
    window: int | None  # tokens; None keeps every message


@dataclass(frozen=True)
class MemoryPrompt:
    messages: list[dict[str, Any]]
    hits: list[SearchHit]  # the long-term memories the prompt lists, best first
    stale_ids: list[str]  # index documents without a row, for the caller to clean up
    searched: bool


def text_message(role: str, text: str) -> dict[str, Any]:
    return {"role": role, "content": {"type": "text", "text": text}}


def memory_prompt_build(
    *, query: str, session: PromptSession | None, search: SearchQuery | None, now: datetime
) -> MemoryPrompt:
    """The prompt for `query`; `search` (when given) already holds the query text and
    every filter the caller asked for, none widened."""
    memory = None
    if session is not None:
        memory = working_memory_get(
            session_id=session.session_id, namespace=session.namespace, user_id=session.user_id, window=session.window
        )
    result = memories_search(query=search, now=now) if search is not None else None

    messages = _session_messages(memory) if memory is not None else []
    hits = result.hits if result is not None else []
    if result is not None:
        messages.append(text_message("system", _memories_text(hits)))
    messages.append(text_message("user", query))
    return MemoryPrompt(
        messages=messages, hits=hits, stale_ids=result.stale_ids if result else [], searched=result is not None
    )


def _session_messages(memory: dict[str, Any]) -> list[dict[str, Any]]:
    messages = []
    if memory.get("context"):
        messages.append(text_message("system", f"{SUMMARY_HEADING}\n{memory['context']}"))
    for message in memory["messages"]:
        role = "user" if message["role"] == "user" else "assistant"
        messages.append(text_message(role, message["content"]))
    return messages


def _memories_text(hits: list[SearchHit]) -> str:
    if not hits:
        return f"{MEMORIES_HEADING}\n {NO_MEMORIES}"
    lines = "\n".join(f"- {hit.record.text} (ID: {hit.record.id})" for hit in hits)
    return f"{MEMORIES_HEADING}\n {lines}"
