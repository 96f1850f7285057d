"""POST /v1/memory/prompt: a memory-enriched prompt, wire-compatible with agent-memory-server.

Body: `{query, session?: {session_id, namespace, user_id, model_name, context_window_max},
long_term_search?: SearchRequest | true}`; agent-memory-client also sends the query
parameter `optimize_query`, which is accepted and has no effect (no LLM call on this path).

Where the reference differs (README, "Memory prompt"):
- the long-term search always searches for the query text, also with
  `long_term_search: true` (the reference then searches with no text at all);
- it stays inside the session's namespace and user unless the request names its own
  filter for them; no filter is dropped or widened, whatever the result;
- the response's `memories_used` lists the ids, scores and mode of what the prompt shows.

The MCP tool `memory_prompt` goes through `memory_prompt_respond` too. Both stay in the
credential's scope (`memory.api.scope`): a session or search filter naming a namespace
or user outside it is a 403, and the search is narrowed to the scope.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

from django.utils import timezone
from drf_spectacular.utils import extend_schema, extend_schema_field, inline_serializer
from rest_framework import exceptions, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from memory.api.errors import field_error, located
from memory.api.fields import (
    SCOPE_MAX_LENGTH,
    NonBlankTextField,
    ScopeField,
    TagValueField,
    at_least_one_of,
    validated,
    validated_query,
)
from memory.api.filters import scoped_query
from memory.api.long_term.operations import search_query_from_body
from memory.api.long_term.serializers import SearchSerializer, memory_to_dict
from memory.api.schema_errors import declared
from memory.api.scope import Scope, request_scope
from memory.api.working_memory.serializers import WindowQuerySerializer
from memory.selectors.long_term import SEARCH_MODES, SearchQuery
from memory.selectors.prompt import MemoryPrompt, PromptSession, memory_prompt_build
from memory.selectors.working_memory import context_window
from memory.services.long_term import memories_after_search

# `long_term_search: true` searches this many memories, as the reference does.
DEFAULT_PROMPT_SEARCH_LIMIT = 20


class PromptSessionSerializer(WindowQuerySerializer):
    session_id = TagValueField(max_length=SCOPE_MAX_LENGTH)
    namespace = ScopeField(default=None)
    user_id = ScopeField(default=None)


@extend_schema_field(
    {
        "oneOf": [
            {"type": "object", "description": "A search body, as POST /v1/long-term-memory/search takes."},
            {"type": "boolean"},
        ],
        "nullable": True,
    }
)
class LongTermSearchField(serializers.Field[Any, Any, Any, Any]):
    """A search request object (validated later, as POST /v1/long-term-memory/search
    validates it) or a boolean; `false` means no search."""

    def to_internal_value(self, data: Any) -> dict[str, Any] | bool:
        if not isinstance(data, (dict, bool)):
            raise serializers.ValidationError("Must be a search request object, true or false.")
        return data

    def to_representation(self, value: Any) -> Any:
        return value


class MemoryPromptSerializer(serializers.Serializer[Any]):
    # What memory_prompt_respond refuses: neither a session nor a search (`{}` and false are none).
    schema_rules = at_least_one_of(
        session={"type": "object"},
        long_term_search={"oneOf": [{"type": "object", "minProperties": 1}, {"type": "boolean", "enum": [True]}]},
    )

    query = NonBlankTextField()
    session = PromptSessionSerializer(required=False, allow_null=True, default=None)
    long_term_search = LongTermSearchField(required=False, allow_null=True, default=None)


class PromptQuerySerializer(serializers.Serializer[Any]):
    optimize_query = serializers.BooleanField(required=False, default=False)


@contextmanager
def _errors_under(field: str) -> Iterator[None]:
    """Errors of a nested request, located under its field: ["body", field, ...]."""
    try:
        yield
    except exceptions.ValidationError as exc:
        located(exc, ("body", field, *getattr(exc, "loc", ("body",))[1:]))
        raise


def prompt_search_query(
    spec: dict[str, Any] | bool | None, *, query: str, session: dict[str, Any] | None
) -> SearchQuery | None:
    """The long-term search of a prompt: for the query text, in the session's namespace
    and user unless `spec` filters on them itself."""
    if spec is None or spec is False:
        return None
    spec = {"limit": DEFAULT_PROMPT_SEARCH_LIMIT} if spec is True else dict(spec)
    spec["text"] = query
    for name in ("namespace", "user_id"):
        if spec.get(name) is None and session is not None and session[name] is not None:
            spec[name] = {"eq": session[name]}
    with _errors_under("long_term_search"):
        serializer = SearchSerializer(data=spec)
        serializer.is_valid(raise_exception=True)
        # The prompt shows no total, so the search skips counting.
        return replace(search_query_from_body(spec, serializer.validated_data), count_total=False)


def _prompt_session(session: dict[str, Any] | None) -> PromptSession | None:
    if session is None:
        return None
    return PromptSession(
        session_id=session["session_id"],
        namespace=session["namespace"],
        user_id=session["user_id"],
        window=context_window(
            model_name=session.get("model_name"), context_window_max=session.get("context_window_max")
        ),
    )


def prompt_response(prompt: MemoryPrompt, search: SearchQuery | None) -> dict[str, Any]:
    """The reference's MemoryPromptResponse, plus `memories_used`."""
    memories = [
        {**memory_to_dict(h.record), "dist": h.dist, "score": h.score, "score_type": h.score_type} for h in prompt.hits
    ]
    used = None
    if search is not None:
        used = {
            "search_mode": search.mode,
            "memories": [{"id": h.record.id, "score": h.score, "dist": h.dist} for h in prompt.hits],
        }
    return {"messages": prompt.messages, "long_term_memories": memories or None, "memories_used": used}


def _scope_session(session: dict[str, Any] | None, scope: Scope) -> None:
    """The session is read in the credential's scope (and its search defaults to it)."""
    if session is not None:
        loc = ["body", "session"]
        session["namespace"] = scope.namespace(session["namespace"], [*loc, "namespace"])
        session["user_id"] = scope.user(session["user_id"], [*loc, "user_id"])


def memory_prompt_respond(data: Any, *, scope: Scope) -> dict[str, Any]:
    """Validate a prompt request body (`MemoryPromptSerializer`), build the prompt in the
    caller's scope, count the memories' access; answers `MemoryPromptResponseSerializer`."""
    body = validated(MemoryPromptSerializer, data)
    if body["session"] is None and not body["long_term_search"]:
        raise field_error(["body"], "Give a session, a long_term_search, or both.", "missing")
    _scope_session(body["session"], scope)
    search = prompt_search_query(body["long_term_search"], query=body["query"], session=body["session"])
    if search is not None:
        spec = body["long_term_search"]
        search = scoped_query(search, spec if isinstance(spec, dict) else {}, scope)
    now = timezone.now()
    prompt = memory_prompt_build(query=body["query"], session=_prompt_session(body["session"]), search=search, now=now)
    memories_after_search(found_ids=[h.record.id for h in prompt.hits], stale_ids=prompt.stale_ids, accessed_at=now)
    return prompt_response(prompt, search)


class PromptMessageSerializer(serializers.Serializer[Any]):
    """Documents one message of the prompt (the MCP prompt-message shape)."""

    role = serializers.ChoiceField(["system", "user", "assistant"])
    content = inline_serializer("PromptText", {"type": serializers.CharField(), "text": serializers.CharField()})


class MemoriesUsedSerializer(serializers.Serializer[Any]):
    search_mode = serializers.ChoiceField(SEARCH_MODES)
    memories = inline_serializer(
        "MemoryUsed",
        {"id": serializers.CharField(), "score": serializers.FloatField(), "dist": serializers.FloatField()},
        many=True,
    )


class MemoryPromptResponseSerializer(serializers.Serializer[Any]):
    """Documents the response (the view returns `prompt_response`'s dict)."""

    messages = PromptMessageSerializer(many=True)
    long_term_memories = serializers.ListField(child=serializers.DictField(), allow_null=True)
    memories_used = MemoriesUsedSerializer(allow_null=True)


class MemoryPromptView(APIView):
    access = {"POST": ("read", "searches")}

    @extend_schema(
        request=MemoryPromptSerializer,
        parameters=[PromptQuerySerializer],
        responses=declared(MemoryPromptResponseSerializer, 403, 422),
    )
    def post(self, request: Request) -> Response:
        """Summary, recent session messages, relevant long-term memories and the query, as messages."""
        validated_query(request, PromptQuerySerializer)  # optimize_query: accepted, no effect
        return Response(memory_prompt_respond(request.data, scope=request_scope(request)))
