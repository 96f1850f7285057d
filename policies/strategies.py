"""Extraction strategies as policy concerns: the built-in instructions of each strategy,
and the params a policy version may set, with their defaults and ranges.

`policies.services` validates a version with `params_validate` when it is saved;
`memory.extraction` reads the resolved params and instructions when it runs one.
"""

from typing import Any

from policies.models import Strategy

# Params a policy version may set: (default, lowest, highest); an int default takes integers only.
PARAMS: dict[str, tuple[int | float, int | float, int | float]] = {
    "temperature": (0.0, 0.0, 2.0),
    "max_tokens": (2000, 1, 100_000),
    "max_memories": (50, 1, 500),
    "max_memory_chars": (1000, 20, 20_000),
    "context_messages": (20, 0, 500),
}
# Keyed by Strategy, read by a version's strategy string (Strategy is a str enum).
STRATEGY_PARAM_DEFAULTS: dict[str, dict[str, int]] = {Strategy.SUMMARY: {"max_memories": 1, "max_memory_chars": 4000}}
# Earlier turns the messages strategy reads to find the first new turn's predecessor
# (system turns are skipped).
MESSAGE_CONTEXT_TURNS = 3

INSTRUCTIONS: dict[str, str] = {
    Strategy.DISCRETE: (
        "You extract durable memories from a conversation between a user and an assistant. "
        'Extract facts about the user and the world they describe (memory_type "semantic": '
        "attributes, relationships, preferences, plans) and events that happened or are planned "
        '(memory_type "episodic", with event_date when it is known). One fact or event per memory, '
        "in one plain sentence."
    ),
    Strategy.SUMMARY: (
        "You summarise a conversation between a user and an assistant for long-term memory. "
        'Write exactly one memory (memory_type "episodic") summarising the new turns: what was '
        "discussed, decided and planned, in a few plain sentences."
    ),
    Strategy.PREFERENCES: (
        "You extract the user's preferences from a conversation between a user and an assistant: "
        "likes, dislikes, habits, choices, and how they want things done. One preference per memory "
        '(memory_type "semantic"), stated as a plain sentence about User.'
    ),
}


# A summary version's prompt when it names none: the reference's default instructions
# (agent_memory_server.summary_views, 0.15.2), so a moved view summarises as it did there.
SUMMARIZE_DEFAULT_PROMPT = (
    "You are a summarization assistant. Given a set of long-term memories, produce a concise summary "
    "that highlights key facts, stable preferences, and important events relevant to the group."
)


def params_validate(params: dict[str, Any]) -> None:
    """Raise ValueError naming the first unknown or out-of-range param."""
    if not isinstance(params, dict):
        raise ValueError("params must be an object")
    for name, value in params.items():
        if name not in PARAMS:
            raise ValueError(f"unknown param {name!r}; known: {', '.join(PARAMS)}")
        default, low, high = PARAMS[name]
        kind = float if isinstance(default, float) else int
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (kind is int and value != int(value)):
            raise ValueError(f"param {name!r} must be a{'n integer' if kind is int else ' number'}")
        if not low <= value <= high:
            raise ValueError(f"param {name!r} must be between {low} and {high}")


def context_size(*, strategy: str, params: dict[str, Any] | None) -> int:
    """How many earlier turns this strategy and these params send as context."""
    if strategy == Strategy.MESSAGES:
        return MESSAGE_CONTEXT_TURNS
    return int(params_resolve(strategy=strategy, params=params)["context_messages"])


def params_resolve(*, strategy: str, params: dict[str, Any] | None) -> dict[str, Any]:
    """Every param's value for a version: its own, else the strategy's default, else the global one."""
    resolved = {name: spec[0] for name, spec in PARAMS.items()}
    resolved.update(STRATEGY_PARAM_DEFAULTS.get(strategy, {}))
    resolved.update(params or {})
    return resolved
