"""Working memory's fast answers to its commonest inputs, which skip DRF's serializers.

The commonest inputs, a session id or a query of namespace and user_id that are plain tag
values, skip DRF altogether: `plain` accepts only values every rule of `TagValueField`
passes unchanged, and anything else goes through the serializer
(`tests/memory/api/test_working_memory_bound.py` holds the two to the same answers). So
is the commonest PUT body (`plain_put_body`): its messages still go through the
serializer's own message field, and anything past the plain fields through the whole
serializer. Together with `memory.api.fields.bound`, a PUT's validation cost fell by half
(BENCHMARKS.md, "Speed and scale, round three").
"""

import re
from typing import Any

from rest_framework import serializers

from memory.api.fields import SCOPE_MAX_LENGTH, bound, validated_session_id
from memory.api.working_memory.serializers import StrategySerializer, WorkingMemoryPutSerializer

# What a tag value must not hold: control characters (has_control_character's) and the
# lone surrogates CharField refuses.
_NOT_PLAIN = re.compile("[\x00-\x1f\x7f\ud800-\udfff]")
# The query parameters the scope-only queries may carry for `plain_scope_query` to answer.
SCOPE_KEYS = frozenset({"namespace", "user_id"})


def plain(value: object) -> bool:
    """A scope value (namespace, user_id, session id) that `TagValueField` takes as it is:
    a non-empty string of at most SCOPE_MAX_LENGTH characters, with no control character,
    lone surrogate or surrounding whitespace."""
    return (
        type(value) is str
        and 0 < len(value) <= SCOPE_MAX_LENGTH
        and _NOT_PLAIN.search(value) is None
        and value == value.strip()
    )


def plain_scope_query(query: dict[str, Any]) -> dict[str, Any] | None:
    """What `SessionQuerySerializer` and its subclasses answer for a query of at most a
    plain namespace and user_id (a missing one is None), or None for any other query."""
    if not SCOPE_KEYS.issuperset(query) or not all(plain(value) for value in query.values()):
        return None
    return {"namespace": query.get("namespace"), "user_id": query.get("user_id")}


# A context holding neither (CharField's two validators) is taken as it is.
_NOT_PLAIN_TEXT = re.compile("[\x00\ud800-\udfff]")
_STRATEGIES = frozenset(StrategySerializer._declared_fields["strategy"].choices)  # type: ignore[attr-defined]


def _plain_scope(body: dict[str, Any], name: str) -> bool:
    value = body.get(name)
    return value is None or plain(value)


def _plain_strategy(strategy: object) -> dict[str, Any] | None:
    """What StrategySerializer answers for None, or for a strategy naming a choice (or
    none) with a config that is an object (or none); None for anything else."""
    if strategy is None:
        return {"strategy": "discrete", "config": {}}
    if type(strategy) is not dict:
        return None
    name, config = strategy.get("strategy", "discrete"), strategy.get("config", {})
    if type(name) is not str or name not in _STRATEGIES or type(config) is not dict:
        return None
    return {"strategy": name, "config": config or {}}


def plain_put_body(body: dict[str, Any]) -> dict[str, Any] | None:
    """What `WorkingMemoryPutSerializer` answers for a body of valid messages, no memories,
    a JSON object or null as data, a plain context, namespace and user_id (or none), no
    TTL and a plain strategy (or none); None for any other body. Keys that are no field
    are ignored, as the serializer ignores them."""
    memories, data, context = body.get("memories"), body.get("data"), body.get("context")
    strategy = _plain_strategy(body.get("long_term_memory_strategy"))
    if (
        strategy is None
        or ("memories" in body and (type(memories) is not list or memories))
        or (data is not None and type(data) is not dict)
        or (context is not None and (type(context) is not str or _NOT_PLAIN_TEXT.search(context)))
        or body.get("ttl_seconds") is not None
        or not (_plain_scope(body, "namespace") and _plain_scope(body, "user_id"))
    ):
        return None
    messages = body.get("messages", [])
    if type(messages) is not list:
        return None
    try:  # the serializer's own message field: every rule of a message is there
        messages = bound(WorkingMemoryPutSerializer).fields["messages"].run_validation(messages)
    except serializers.ValidationError:
        return None  # the whole serializer names every problem, this one's included
    return {
        "messages": messages,
        "memories": [],
        "data": data,
        "context": context,
        "user_id": body.get("user_id"),
        "namespace": body.get("namespace"),
        "ttl_seconds": None,
        "long_term_memory_strategy": strategy,
    }


def checked_session_id(session_id: object) -> str:
    """`memory.api.fields.validated_session_id` (a path's session id), without DRF when plain."""
    if plain(session_id):
        return session_id  # type: ignore[return-value]  # plain() checked it is a str
    return validated_session_id(session_id)
