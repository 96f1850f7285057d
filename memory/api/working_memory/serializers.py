"""What the working-memory operations take and answer.

The input serializers validate a PUT's body (its messages in one tight loop,
`MessagesField`: they are the hot path's bulk) and the routes' query parameters; the
output serializers document the dicts the service and selector return, which the
operations (`memory.api.working_memory.operations`) answer as they are.
"""

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.validators import RegexValidator
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from ulid import ULID

from memory.api.fields import (
    CONTROL,
    HAS_CONTENT,
    MESSAGE_ID_MAX_LENGTH,
    MemoryTextField,
    PageLimitField,
    RecordIdField,
    RecordJSONField,
    ScopeField,
    StrictCharField,
    extraction_strategy_field,
    has_control_character,
    id_list,
    tag_list,
)
from memory.datetimes import datetime_decode, datetime_encode
from memory.selectors.working_memory import (
    MODEL_CONTEXT_WINDOWS,
)

# Clients' clocks run a little ahead; a created_at further ahead than this is a bug.
MAX_FUTURE = timedelta(minutes=5)
DATETIME_INVALID = "Must be an ISO 8601 datetime or epoch seconds."


def _decode_datetime_or_epoch(value: object) -> datetime:
    """ISO 8601 (naive means UTC) or epoch seconds, as pydantic accepts them.
    Raises ValueError, OverflowError or OSError (an epoch out of range)."""
    if isinstance(value, bool):  # a bool is an int to Python, never a time to a client
        raise ValueError
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value, UTC)
    if not isinstance(value, str):
        raise ValueError
    parsed = datetime_decode(value)
    if parsed is None:  # the codec reads "" as no date; a client sending a field means one
        raise ValueError
    return parsed


# Bounds that keep values inside what Redis can take (schema fuzzing found both).
MAX_LIST_OFFSET = 10**12
MAX_TTL_SECONDS = 100 * 365 * 24 * 3600  # a century: WORKING_MEMORY_MAX_TTL_SECONDS 0 still stops here


class TtlSecondsField(serializers.IntegerField):
    """A session's `ttl_seconds`: 1 to WORKING_MEMORY_MAX_TTL_SECONDS (read per request)."""

    def __init__(self, **kwargs: Any) -> None:
        longest = min(settings.WORKING_MEMORY_MAX_TTL_SECONDS or MAX_TTL_SECONDS, MAX_TTL_SECONDS)
        kwargs.setdefault(
            "error_messages",
            {"max_value": "At most {max_value} seconds are accepted (WORKING_MEMORY_MAX_TTL_SECONDS)."},
        )
        super().__init__(min_value=1, max_value=longest, **kwargs)


@extend_schema_field(OpenApiTypes.DATETIME)
class IsoDateTimeField(serializers.Field[Any, Any, Any, Any]):
    """A datetime kept as its ISO string: working memory stores JSON as sent."""

    default_error_messages = {"invalid": DATETIME_INVALID}

    def to_internal_value(self, data: object) -> str:
        try:
            return datetime_encode(_decode_datetime_or_epoch(data))
        except (ValueError, OverflowError, OSError):
            self.fail("invalid")

    def to_representation(self, value: Any) -> Any:
        return value


class MemoryMessageSerializer(serializers.Serializer[Any]):
    """Documents one message (validation is MessagesField's; the regexes here only
    declare its rules in the schema: MessageValidator's id, role and content checks)."""

    id = serializers.CharField(
        required=False, max_length=MESSAGE_ID_MAX_LENGTH, validators=[RegexValidator(f"^[^{CONTROL}]+$")]
    )
    role = serializers.CharField(validators=[RegexValidator(HAS_CONTENT)])
    content = serializers.CharField(validators=[RegexValidator(HAS_CONTENT)])
    created_at = serializers.DateTimeField(required=False)
    persisted_at = serializers.DateTimeField(required=False, allow_null=True)
    discrete_memory_extracted = serializers.ChoiceField(["t", "f"], required=False)


@dataclass
class MessageValidator:
    """Validates the messages of one PUT, one at a time, against one clock.

    `validate(item)` returns the message as stored and the problems found, by field
    (`{}` when it is valid), so every bad message is reported at its index, not only
    the first. Ids are checked for duplicates across the messages validated so far."""

    now: datetime
    seen_ids: set[str] = field(default_factory=set)

    def validate(self, item: object) -> tuple[dict[str, Any] | None, dict[str, list[str]]]:
        if not isinstance(item, dict):
            return None, {"non_field_errors": ["Must be an object with role and content."]}
        problems: dict[str, list[str]] = {}  # in this order in the response
        role = self._role(item.get("role"), problems)
        content = self._content(item.get("content"), problems)
        message_id = self._id(item.get("id"), problems)
        message: dict[str, Any] = {
            "id": message_id,
            "role": role,
            "content": content,
            "created_at": self._created_at(item.get("created_at"), problems),
            "persisted_at": self._persisted_at(item.get("persisted_at"), problems),
            "discrete_memory_extracted": self._extracted(item.get("discrete_memory_extracted", "f"), problems),
        }
        return (None if problems else message), problems

    @staticmethod
    def _role(role: object, problems: dict[str, list[str]]) -> object:
        if not isinstance(role, str) or not role.strip():
            problems["role"] = ["Required: a non-empty string." if role is None else "Must be a non-empty string."]
        return role

    @staticmethod
    def _content(content: object, problems: dict[str, list[str]]) -> object:
        if not isinstance(content, str):
            problems["content"] = ["Required: a string." if content is None else "Must be a string."]
        elif not content.strip():
            problems["content"] = ["Must not be empty."]
        return content

    def _id(self, message_id: object, problems: dict[str, list[str]]) -> object:
        if message_id is None:
            return str(ULID())
        if not isinstance(message_id, str) or not message_id or len(message_id) > MESSAGE_ID_MAX_LENGTH:
            problems["id"] = [f"Must be a non-empty string of at most {MESSAGE_ID_MAX_LENGTH} characters."]
        elif has_control_character(message_id):  # records cite it in extracted_from, which refuses them
            problems["id"] = ["Must not contain control characters."]
        elif message_id in self.seen_ids:
            problems["id"] = [f"Duplicate message id {message_id!r}."]
        else:
            self.seen_ids.add(message_id)
        return message_id

    def _created_at(self, created_at: object, problems: dict[str, list[str]]) -> str | None:
        if created_at is None:
            return datetime_encode(self.now)
        try:
            when = _decode_datetime_or_epoch(created_at)
        except (ValueError, OverflowError, OSError):
            problems["created_at"] = [DATETIME_INVALID]
            return None
        if when > self.now + MAX_FUTURE:
            problems["created_at"] = [
                (
                    f"{datetime_encode(when)} is more than 5 minutes in the future "
                    f"(server time {datetime_encode(self.now)})."
                )
            ]
        return datetime_encode(when)

    @staticmethod
    def _persisted_at(persisted_at: object, problems: dict[str, list[str]]) -> str | None:
        if persisted_at is None:
            return None
        try:
            return datetime_encode(_decode_datetime_or_epoch(persisted_at))
        except (ValueError, OverflowError, OSError):
            problems["persisted_at"] = [DATETIME_INVALID]
            return None

    @staticmethod
    def _extracted(extracted: object, problems: dict[str, list[str]]) -> object:
        if extracted not in ("t", "f"):
            problems["discrete_memory_extracted"] = ['Must be "t" or "f".']
        return extracted


@extend_schema_field(MemoryMessageSerializer(many=True))
class MessagesField(serializers.Field[Any, Any, Any, Any]):
    """The message list, validated in one tight loop: it is the hot path's bulk.

    Each message: `role` and `content` non-empty strings; `id` a string (a ULID when
    missing), unique in the list; `created_at` not more than 5 minutes ahead (now when
    missing).
    """

    def to_internal_value(self, data: object) -> list[dict[str, Any] | None]:
        # None only for a message with problems, and then this raised instead.
        if not isinstance(data, list):
            raise serializers.ValidationError("Must be a list of messages.")
        if len(data) > settings.WORKING_MEMORY_MAX_MESSAGES:
            raise serializers.ValidationError(
                f"{len(data)} messages; at most {settings.WORKING_MEMORY_MAX_MESSAGES} are accepted "
                "(WORKING_MEMORY_MAX_MESSAGES).",
                code="too_long",
            )
        validator = MessageValidator(now=datetime.now(UTC))
        results = [validator.validate(item) for item in data]
        if any(problems for _, problems in results):
            # One entry per message, {} for a valid one, so each error keeps its index.
            raise serializers.ValidationError([problems for _, problems in results])
        return [message for message, _ in results]

    def to_representation(self, value: Any) -> Any:
        return value


class MemoryRecordSerializer(serializers.Serializer[Any]):
    """A structured memory kept in the session until promotion (agent-memory-client's MemoryRecord).

    Promotion makes it a long-term record, so its id, text, topics, entities,
    extracted_from, extraction_strategy(_config) and metadata take the long-term create's
    fields (memory.api.fields): what a create refuses, a session refuses too. Blank text
    is kept (promotion skips it)."""

    id = RecordIdField(required=False, allow_null=True)
    text = MemoryTextField()
    session_id = ScopeField(default=None)
    user_id = ScopeField(default=None)
    namespace = ScopeField(default=None)
    topics = tag_list(required=False, allow_null=True)
    entities = tag_list(required=False, allow_null=True)
    memory_type = serializers.ChoiceField(["episodic", "semantic", "message"], required=False, default="message")
    memory_hash = StrictCharField(required=False, allow_null=True)
    discrete_memory_extracted = serializers.ChoiceField(["t", "f"], required=False, default="f")
    extracted_from = id_list(MESSAGE_ID_MAX_LENGTH, required=False, allow_null=True)
    created_at = IsoDateTimeField(required=False)
    updated_at = IsoDateTimeField(required=False)
    last_accessed = IsoDateTimeField(required=False)
    event_date = IsoDateTimeField(required=False, allow_null=True)
    persisted_at = IsoDateTimeField(required=False, allow_null=True)
    extraction_strategy = extraction_strategy_field(required=False, allow_null=True)
    extraction_strategy_config = RecordJSONField(required=False, allow_null=True)
    metadata = RecordJSONField(required=False, allow_null=True)

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        record: dict[str, Any] = super().to_internal_value(data)
        now = datetime_encode(datetime.now(UTC))
        record["id"] = record.get("id") or str(ULID())
        # The reference's defaults; null (kept as null by DRF) means them too.
        record["extraction_strategy"] = record.get("extraction_strategy") or "discrete"
        record["extraction_strategy_config"] = record.get("extraction_strategy_config") or {}
        record["metadata"] = record.get("metadata") or {}
        for name in ("created_at", "updated_at", "last_accessed"):
            record.setdefault(name, now)
        for name in ("topics", "entities", "memory_hash", "extracted_from", "event_date", "persisted_at"):
            record.setdefault(name, None)
        return record


@extend_schema_field({"type": "object", "additionalProperties": True})
class JSONObjectField(serializers.JSONField):
    default_error_messages = {"not_an_object": "Must be a JSON object or null."}

    # The stubs type a JSONField's value as a dict or a list; JSON also has null, which this passes.
    def to_internal_value(self, data: Any) -> dict[str, Any] | None:  # type: ignore[override]
        if data is not None and not isinstance(data, dict):
            self.fail("not_an_object")
        return data


class StrategySerializer(serializers.Serializer[Any]):
    strategy = serializers.ChoiceField(["discrete", "summary", "preferences", "custom"], default="discrete")
    config = JSONObjectField(required=False, default=dict)

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        strategy: dict[str, Any] = super().to_internal_value(data)
        strategy["config"] = strategy["config"] or {}
        return strategy


class WorkingMemoryPutSerializer(serializers.Serializer[Any]):
    """PUT body. `session_id`, `tokens` and `last_accessed` may be sent and are ignored:
    the path names the session and the server computes the others."""

    # Typed as any Field: WorkingMemoryResponseSerializer documents it with another.
    messages: serializers.Field[Any, Any, Any, Any] = MessagesField(required=False, default=list)
    memories = MemoryRecordSerializer(many=True, required=False, default=list)
    # `data` and `context` shadow Serializer.data and Field.context, which the stubs type; DRF allows the fields.
    data = JSONObjectField(required=False, allow_null=True, default=None)  # type: ignore[assignment]
    context = StrictCharField(  # type: ignore[assignment]
        required=False, allow_null=True, allow_blank=True, trim_whitespace=False, default=None
    )
    user_id = ScopeField(default=None)
    namespace = ScopeField(default=None)
    # Bounded: a TTL past Redis's range was a Redis error, a 500 (found by fuzzing).
    ttl_seconds = TtlSecondsField(required=False, allow_null=True, default=None)
    long_term_memory_strategy = StrategySerializer(required=False, allow_null=True, default=None)

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        body: dict[str, Any] = super().to_internal_value(data)
        body["long_term_memory_strategy"] = body["long_term_memory_strategy"] or {"strategy": "discrete", "config": {}}
        return body


class WindowQuerySerializer(serializers.Serializer[Any]):
    model_name = serializers.ChoiceField(sorted(MODEL_CONTEXT_WINDOWS), required=False)
    context_window_max = serializers.IntegerField(required=False, min_value=1)


class SessionQuerySerializer(serializers.Serializer[Any]):
    namespace = ScopeField(default=None)
    user_id = ScopeField(default=None)


class GetQuerySerializer(SessionQuerySerializer, WindowQuerySerializer):
    recent_messages_limit = serializers.IntegerField(required=False, min_value=1)


class PutQuerySerializer(SessionQuerySerializer, WindowQuerySerializer):
    """`user_id` here overrides the body's (agent-memory-client sends both);
    `namespace` here is used when the body has none."""


class ListQuerySerializer(SessionQuerySerializer):
    limit = PageLimitField(max_setting="WORKING_MEMORY_MAX_LIST_LIMIT", required=False, default=20)
    # Redis ranks are 64-bit: a larger offset was a Redis error, a 500 (found by schema fuzzing).
    offset = serializers.IntegerField(required=False, min_value=0, max_value=MAX_LIST_OFFSET, default=0)


class WorkingMemoryResponseSerializer(WorkingMemoryPutSerializer):
    """Documents the response (the operations return the service's dict as is)."""

    messages = MemoryMessageSerializer(many=True)
    session_id = serializers.CharField()
    tokens = serializers.IntegerField()
    last_accessed = serializers.DateTimeField()
    context_percentage_total_used = serializers.FloatField(allow_null=True)
    context_percentage_until_summarization = serializers.FloatField(allow_null=True)
    new_session = serializers.BooleanField(allow_null=True)
    unsaved = serializers.BooleanField(allow_null=True)


class SessionListOutputSerializer(serializers.Serializer[Any]):
    sessions = serializers.ListField(child=serializers.CharField())
    total = serializers.IntegerField()


class AckOutputSerializer(serializers.Serializer[Any]):
    status = serializers.CharField()
