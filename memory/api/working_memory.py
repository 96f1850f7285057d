"""Working-memory routes, wire-compatible with agent-memory-server (agent-memory-client 0.14).

GET /v1/working-memory/                  list sessions: {"sessions": [...], "total": N}
GET/PUT/DELETE /v1/working-memory/{id}   one session

Serializers validate and shape; the service and selector do the work.
"""

from datetime import UTC, datetime, timedelta

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_field, inline_serializer
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView
from ulid import ULID

from memory.api.errors import field_error, validation_detail
from memory.api.fields import StrictCharField, validated_query
from memory.selectors.working_memory import (
    MODEL_CONTEXT_WINDOWS,
    context_window,
    working_memory_get,
    working_memory_list,
)
from memory.services.working_memory import SessionOwnedByAnotherUser, working_memory_delete, working_memory_put

MAX_FUTURE = timedelta(minutes=5)
MAX_ID_LENGTH = 200  # namespace, user_id, session_id and ids fit the DB columns promotion writes


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _parse_datetime(value) -> datetime:
    """ISO 8601 (naive means UTC) or epoch seconds, as pydantic accepts them."""
    if isinstance(value, bool):
        raise ValueError
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value, UTC)
    if not isinstance(value, str):
        raise ValueError
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


class ScopeField(StrictCharField):
    """namespace / user_id: optional; an empty string means none."""

    def __init__(self, **kwargs):
        super().__init__(required=False, allow_null=True, allow_blank=True, default=None, max_length=MAX_ID_LENGTH,
                         **kwargs)

    def to_internal_value(self, data):
        return super().to_internal_value(data) or None


@extend_schema_field(OpenApiTypes.DATETIME)
class IsoDateTimeField(serializers.Field):
    default_error_messages = {"invalid": "Must be an ISO 8601 datetime or epoch seconds."}

    def to_internal_value(self, data):
        try:
            return _iso(_parse_datetime(data))
        except (ValueError, OverflowError, OSError):
            self.fail("invalid")

    def to_representation(self, value):
        return value


class MemoryMessageSerializer(serializers.Serializer):
    """Documents one message (validation is MessagesField's)."""

    id = serializers.CharField(required=False)
    role = serializers.CharField()
    content = serializers.CharField()
    created_at = serializers.DateTimeField(required=False)
    persisted_at = serializers.DateTimeField(required=False, allow_null=True)
    discrete_memory_extracted = serializers.ChoiceField(["t", "f"], required=False)


@extend_schema_field(MemoryMessageSerializer(many=True))
class MessagesField(serializers.Field):
    """The message list, validated in one tight loop: it is the hot path's bulk.

    Each message: `role` and `content` non-empty strings; `id` a string (a ULID when
    missing); `created_at` not more than 5 minutes ahead (now when missing).
    """

    def to_internal_value(self, data):
        if not isinstance(data, list):
            raise serializers.ValidationError("Must be a list of messages.")
        if len(data) > settings.WORKING_MEMORY_MAX_MESSAGES:
            raise serializers.ValidationError(
                f"{len(data)} messages; at most {settings.WORKING_MEMORY_MAX_MESSAGES} are accepted "
                "(WORKING_MEMORY_MAX_MESSAGES).", code="too_long")
        now = datetime.now(UTC)
        now_iso = _iso(now)
        latest = now + MAX_FUTURE
        errors: list[dict] = [{} for _ in data]
        failed = False
        seen_ids: set[str] = set()
        messages = []
        for index, item in enumerate(data):
            problems = errors[index]
            if not isinstance(item, dict):
                problems["non_field_errors"] = ["Must be an object with role and content."]
                failed = True
                continue
            role, content, message_id = item.get("role"), item.get("content"), item.get("id")
            if not isinstance(role, str) or not role.strip():
                problems["role"] = ["Required: a non-empty string." if role is None else "Must be a non-empty string."]
            if not isinstance(content, str):
                problems["content"] = ["Required: a string." if content is None else "Must be a string."]
            elif not content.strip():
                problems["content"] = ["Must not be empty."]
            if message_id is None:
                message_id = str(ULID())
            elif not isinstance(message_id, str) or not message_id or len(message_id) > MAX_ID_LENGTH:
                problems["id"] = [f"Must be a non-empty string of at most {MAX_ID_LENGTH} characters."]
            elif message_id in seen_ids:
                problems["id"] = [f"Duplicate message id {message_id!r}."]
            seen_ids.add(message_id)
            created_at = item.get("created_at")
            if created_at is None:
                created_at = now_iso
            else:
                try:
                    when = _parse_datetime(created_at)
                except (ValueError, OverflowError, OSError):
                    problems["created_at"] = ["Must be an ISO 8601 datetime or epoch seconds."]
                else:
                    if when > latest:
                        problems["created_at"] = [
                            f"{_iso(when)} is more than 5 minutes in the future (server time {now_iso})."]
                    created_at = _iso(when)
            persisted_at = item.get("persisted_at")
            if persisted_at is not None:
                try:
                    persisted_at = _iso(_parse_datetime(persisted_at))
                except (ValueError, OverflowError, OSError):
                    problems["persisted_at"] = ["Must be an ISO 8601 datetime or epoch seconds."]
            extracted = item.get("discrete_memory_extracted", "f")
            if extracted not in ("t", "f"):
                problems["discrete_memory_extracted"] = ['Must be "t" or "f".']
            if problems:
                failed = True
                continue
            messages.append({"id": message_id, "role": role, "content": content, "created_at": created_at,
                             "persisted_at": persisted_at, "discrete_memory_extracted": extracted})
        if failed:
            raise serializers.ValidationError(errors)
        return messages

    def to_representation(self, value):
        return value


class MemoryRecordSerializer(serializers.Serializer):
    """A structured memory kept in the session until promotion (agent-memory-client's MemoryRecord)."""

    id = StrictCharField(required=False, allow_null=True, max_length=MAX_ID_LENGTH)
    text = StrictCharField(trim_whitespace=False)
    session_id = ScopeField()
    user_id = ScopeField()
    namespace = ScopeField()
    topics = serializers.ListField(child=StrictCharField(), required=False, allow_null=True)
    entities = serializers.ListField(child=StrictCharField(), required=False, allow_null=True)
    memory_type = serializers.ChoiceField(["episodic", "semantic", "message"], required=False, default="message")
    memory_hash = StrictCharField(required=False, allow_null=True)
    discrete_memory_extracted = serializers.ChoiceField(["t", "f"], required=False, default="f")
    extracted_from = serializers.ListField(child=StrictCharField(), required=False, allow_null=True)
    created_at = IsoDateTimeField(required=False)
    updated_at = IsoDateTimeField(required=False)
    last_accessed = IsoDateTimeField(required=False)
    event_date = IsoDateTimeField(required=False, allow_null=True)
    persisted_at = IsoDateTimeField(required=False, allow_null=True)

    def to_internal_value(self, data):
        record = super().to_internal_value(data)
        now = _iso(datetime.now(UTC))
        record["id"] = record.get("id") or str(ULID())
        for name in ("created_at", "updated_at", "last_accessed"):
            record.setdefault(name, now)
        for name in ("topics", "entities", "memory_hash",
                     "extracted_from", "event_date", "persisted_at"):
            record.setdefault(name, None)
        return record


class JSONObjectField(serializers.JSONField):
    default_error_messages = {"not_an_object": "Must be a JSON object or null."}

    def to_internal_value(self, data):
        if data is not None and not isinstance(data, dict):
            self.fail("not_an_object")
        return data


class StrategySerializer(serializers.Serializer):
    strategy = serializers.ChoiceField(["discrete", "summary", "preferences", "custom"], default="discrete")
    config = JSONObjectField(required=False, default=dict)

    def to_internal_value(self, data):
        strategy = super().to_internal_value(data)
        strategy["config"] = strategy["config"] or {}
        return strategy


class WorkingMemoryPutSerializer(serializers.Serializer):
    """PUT body. `session_id`, `tokens` and `last_accessed` may be sent and are ignored:
    the path names the session and the server computes the others."""

    messages = MessagesField(required=False, default=list)
    memories = MemoryRecordSerializer(many=True, required=False, default=list)
    data = JSONObjectField(required=False, allow_null=True, default=None)
    context = StrictCharField(required=False, allow_null=True, allow_blank=True, trim_whitespace=False, default=None)
    user_id = ScopeField()
    namespace = ScopeField()
    ttl_seconds = serializers.IntegerField(required=False, allow_null=True, min_value=1, default=None)
    long_term_memory_strategy = StrategySerializer(required=False, allow_null=True, default=None)

    def to_internal_value(self, data):
        body = super().to_internal_value(data)
        body["long_term_memory_strategy"] = body["long_term_memory_strategy"] or {"strategy": "discrete", "config": {}}
        return body


class WindowQuerySerializer(serializers.Serializer):
    model_name = serializers.ChoiceField(sorted(MODEL_CONTEXT_WINDOWS), required=False)
    context_window_max = serializers.IntegerField(required=False, min_value=1)


class SessionQuerySerializer(serializers.Serializer):
    namespace = ScopeField()
    user_id = ScopeField()


class GetQuerySerializer(SessionQuerySerializer, WindowQuerySerializer):
    recent_messages_limit = serializers.IntegerField(required=False, min_value=1)


class PutQuerySerializer(SessionQuerySerializer, WindowQuerySerializer):
    """`user_id` here overrides the body's (agent-memory-client sends both);
    `namespace` here is used when the body has none."""


class ListQuerySerializer(SessionQuerySerializer):
    limit = serializers.IntegerField(required=False, min_value=1, max_value=100, default=20)
    offset = serializers.IntegerField(required=False, min_value=0, default=0)


class WorkingMemoryResponseSerializer(WorkingMemoryPutSerializer):
    """Documents the response (views return the service's dict as is)."""

    messages = MemoryMessageSerializer(many=True)
    session_id = serializers.CharField()
    tokens = serializers.IntegerField()
    last_accessed = serializers.DateTimeField()
    context_percentage_total_used = serializers.FloatField(allow_null=True)
    context_percentage_until_summarization = serializers.FloatField(allow_null=True)
    new_session = serializers.BooleanField(allow_null=True)
    unsaved = serializers.BooleanField(allow_null=True)


def _check_session_id(session_id: str) -> None:
    if len(session_id) > MAX_ID_LENGTH:
        raise field_error(["path", "session_id"], f"Must be at most {MAX_ID_LENGTH} characters.")


def _not_found(session_id: str) -> Response:
    return Response({"detail": f"Session {session_id} not found"}, status=status.HTTP_404_NOT_FOUND)


class WorkingMemoryListView(APIView):
    @extend_schema(
        operation_id="v1_working_memory_list",
        parameters=[ListQuerySerializer],
        responses={200: inline_serializer("SessionList", {
            "sessions": serializers.ListField(child=serializers.CharField()), "total": serializers.IntegerField()})},
    )
    def get(self, request):
        """Sessions in a namespace and/or of a user, most recently written first; `total` is exact."""
        query = validated_query(request, ListQuerySerializer)
        total, sessions = working_memory_list(namespace=query["namespace"],
                                              user_id=query["user_id"], limit=query["limit"],
                                              offset=query["offset"])
        return Response({"sessions": sessions, "total": total})


class WorkingMemoryView(APIView):
    @extend_schema(parameters=[GetQuerySerializer], responses={200: WorkingMemoryResponseSerializer})
    def get(self, request, session_id):
        """One session; 404 when it does not exist or belongs to another user_id."""
        _check_session_id(session_id)
        query = validated_query(request, GetQuerySerializer)
        memory = working_memory_get(
            session_id=session_id, namespace=query.get("namespace"), user_id=query.get("user_id"),
            window=context_window(model_name=query.get("model_name"),
                                  context_window_max=query.get("context_window_max")),
            recent_messages_limit=query.get("recent_messages_limit"),
        )
        if memory is None:
            return _not_found(session_id)
        return Response(memory)

    @extend_schema(parameters=[PutQuerySerializer], request=WorkingMemoryPutSerializer,
                   responses={200: WorkingMemoryResponseSerializer})
    def put(self, request, session_id):
        """Replace the session. Redis only; summarisation and promotion run in the worker."""
        _check_session_id(session_id)
        length = int(request.META.get("CONTENT_LENGTH") or 0)
        if length > settings.WORKING_MEMORY_MAX_BODY_BYTES:
            return Response({"detail": [{
                "loc": ["body"], "type": "too_large",
                "msg": f"Request body is {length} bytes; at most {settings.WORKING_MEMORY_MAX_BODY_BYTES} "
                       "are accepted (WORKING_MEMORY_MAX_BODY_BYTES).",
            }]}, status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
        query = validated_query(request, PutQuerySerializer)
        serializer = WorkingMemoryPutSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        body = serializer.validated_data
        user_in_query = query.get("user_id") is not None
        try:
            memory = working_memory_put(
                session_id=session_id,
                namespace=body["namespace"] or query.get("namespace"),
                user_id=query["user_id"] if user_in_query else body["user_id"],
                messages=body["messages"],
                memories=body["memories"],
                data=body["data"],
                context=body["context"],
                ttl_seconds=body["ttl_seconds"],
                long_term_memory_strategy=body["long_term_memory_strategy"],
                window=context_window(model_name=query.get("model_name"),
                                      context_window_max=query.get("context_window_max")),
            )
        except SessionOwnedByAnotherUser:
            loc = ["query" if user_in_query else "body", "user_id"]
            return Response({"detail": validation_detail(
                [f"Session {session_id} belongs to another user; delete it first to reuse the id."],
                loc)}, status=status.HTTP_409_CONFLICT)
        return Response(memory)

    @extend_schema(parameters=[SessionQuerySerializer],
                   responses={200: inline_serializer("Ack", {"status": serializers.CharField()})})
    def delete(self, request, session_id):
        """Delete the session; deleting a missing one is fine, another user's is a 404."""
        _check_session_id(session_id)
        query = validated_query(request, SessionQuerySerializer)
        try:
            working_memory_delete(session_id=session_id, namespace=query.get("namespace"),
                                  user_id=query.get("user_id"))
        except SessionOwnedByAnotherUser:
            return _not_found(session_id)
        return Response({"status": "ok"})
