"""What the long-term operations take and answer.

Input serializers validate request bodies (every rejection a 422 naming the field);
output serializers declare the responses for the OpenAPI schema. The hot paths do not
render through them: `memory_to_dict` and the operations build the dicts the output
serializers document. Shared fields and length limits are in `memory.api.fields`,
search filters in `memory.api.filters`.
"""

from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from rest_framework import serializers

from memory.api.fields import (
    HAS_CONTENT,
    MESSAGE_ID_MAX_LENGTH,
    RECORD_ID_MAX_LENGTH,
    MemoryTextField,
    NonBlankTextField,
    PageLimitField,
    RecordIdField,
    RecordJSONField,
    ScopeField,
    at_least_one_of,
    extraction_strategy_field,
    id_list,
    tag_list,
)
from memory.api.filters import filter_properties
from memory.datetimes import datetime_encode
from memory.models import MemoryRecord, MemoryStatus, MemoryType
from memory.selectors.long_term import DEFAULT_HYBRID_ALPHA, SEARCH_MODES


class AwareDateTimeField(serializers.DateTimeField):
    """ISO 8601; a naive value means UTC."""

    default_error_messages = {"invalid": "Must be an ISO 8601 datetime, e.g. 2024-05-01T12:00:00Z."}

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(default_timezone=UTC, **kwargs)

    def to_internal_value(self, value: datetime | str) -> datetime:
        if not isinstance(value, str):
            self.fail("invalid")
        return super().to_internal_value(value)


# --- Create / edit: input ----------------------------------------------------------------------


class MemoryRecordInputSerializer(serializers.Serializer[Any]):
    id = RecordIdField(required=False, allow_blank=True)
    text = NonBlankTextField()
    # The stubs type Field.context (the serializer context) as a Mapping; this field shadows it, as DRF allows.
    context = MemoryTextField(required=False, allow_blank=True, allow_null=True)  # type: ignore[assignment]
    memory_type = serializers.ChoiceField(choices=MemoryType.choices, default=MemoryType.SEMANTIC)
    namespace = ScopeField()
    user_id = ScopeField()
    session_id = ScopeField()
    topics = tag_list(required=False, allow_null=True)
    entities = tag_list(required=False, allow_null=True)
    event_date = AwareDateTimeField(required=False, allow_null=True)
    created_at = AwareDateTimeField(required=False, allow_null=True)
    last_accessed = AwareDateTimeField(required=False, allow_null=True)
    pinned = serializers.BooleanField(required=False, default=False)
    extracted_from = id_list(MESSAGE_ID_MAX_LENGTH, required=False, allow_null=True)
    # The reference's newest fields: how the record was extracted, and the caller's free JSON.
    extraction_strategy = extraction_strategy_field(required=False, allow_null=True, default="discrete")
    extraction_strategy_config = RecordJSONField(required=False, allow_null=True, default=dict)
    metadata = RecordJSONField(required=False, allow_null=True, default=dict)
    deduplicate = serializers.BooleanField(required=False)


class CreateMemoriesSerializer(serializers.Serializer[Any]):
    memories = MemoryRecordInputSerializer(many=True, allow_empty=False)
    deduplicate = serializers.BooleanField(default=True)

    def get_fields(self) -> dict[str, serializers.Field[Any, Any, Any, Any]]:
        # The batch limit is a setting, read per request like the other limits.
        fields = super().get_fields()
        # A ListSerializer (many=True); the stubs declare no max_length on it, DRF reads it.
        fields["memories"].max_length = settings.MEMORY_MAX_CREATE_BATCH  # type: ignore[attr-defined]
        return fields


# A record's fields as it is answered that an edit cannot change. The reference's edit
# ignores every field it does not edit, so a fetched record spread into an edit works
# there: here too, as long as each of these still says what is stored. The server moves
# the counters and times on its own (a search counts an access after it answered), so a
# copy fetched earlier may hold less; only a value past the stored one is a change.
READ_ONLY_FIELDS = (
    "id",
    "created_at",
    "persisted_at",
    "memory_hash",
    "discrete_memory_extracted",
    "extracted_from",
    "extraction_strategy",
    "extraction_strategy_config",
    "extraction_run_id",
    "embedding_model",
)
SERVER_MOVED_FIELDS = ("access_count", "last_accessed", "updated_at")


class EditMemorySerializer(serializers.Serializer[Any]):
    # What `operations._edit_changes` refuses: a body naming no field of a record (any
    # other field is ignored, as the reference ignores it). Set below, from the fields.
    schema_rules: dict[str, Any]

    text = NonBlankTextField(required=False)
    context = MemoryTextField(required=False, allow_blank=True, allow_null=True)  # type: ignore[assignment]  # as above
    memory_type = serializers.ChoiceField(choices=MemoryType.choices, required=False)
    namespace = ScopeField()
    user_id = ScopeField()
    session_id = ScopeField()
    topics = tag_list(required=False, allow_null=True)
    entities = tag_list(required=False, allow_null=True)
    event_date = AwareDateTimeField(required=False, allow_null=True)
    pinned = serializers.BooleanField(required=False)
    metadata = RecordJSONField(required=False, allow_null=True)
    status = serializers.ChoiceField(choices=MemoryStatus.choices, required=False)


EditMemorySerializer.schema_rules = {
    "additionalProperties": True,
    "anyOf": [
        {"required": [name]}
        for name in (*EditMemorySerializer._declared_fields, *READ_ONLY_FIELDS, *SERVER_MOVED_FIELDS)
    ],
}


# --- Search: input -------------------------------------------------------------------------------

MAX_RECENCY_WEIGHT = 1e6
MAX_HALF_LIFE_DAYS = 1e6  # about 2,700 years


class RecencyWeightField(serializers.FloatField):
    def __init__(self) -> None:
        super().__init__(min_value=0.0, max_value=MAX_RECENCY_WEIGHT, required=False, allow_null=True)


class HalfLifeDaysField(serializers.FloatField):
    def __init__(self) -> None:
        super().__init__(min_value=0.001, max_value=MAX_HALF_LIFE_DAYS, required=False, allow_null=True)


class SearchSerializer(serializers.Serializer[Any]):
    # What operations.search_query_from_body refuses: a distance_threshold without a query
    # text, or in keyword mode. (Its depth rule, offset + limit at most MEMORY_MAX_SEARCH_DEPTH
    # with text or RediSearch's window without, adds two fields: JSON Schema cannot say it.)
    schema_rules = {
        "properties": filter_properties(),  # memory.api.filters reads them from the body
        "anyOf": [
            {"not": {"required": ["distance_threshold"], "properties": {"distance_threshold": {"type": "number"}}}},
            {
                "required": ["text"],
                "properties": {
                    "text": {"type": "string", "pattern": HAS_CONTENT},
                    # A pattern, not an enum: drf-spectacular's enum hook would hoist an enum here.
                    "search_mode": {"type": "string", "pattern": "^(?:semantic|hybrid)$"},
                },
            },
        ],
    }

    text = MemoryTextField(required=False, allow_blank=True, allow_null=True, default="")
    search_mode = serializers.ChoiceField(choices=SEARCH_MODES, default="semantic")
    hybrid_alpha = serializers.FloatField(min_value=0.0, max_value=1.0, default=DEFAULT_HYBRID_ALPHA)
    distance_threshold = serializers.FloatField(min_value=0.0, max_value=2.0, required=False, allow_null=True)
    limit = PageLimitField(max_setting="MEMORY_MAX_SEARCH_LIMIT", default=10)
    offset = serializers.IntegerField(min_value=0, default=0)
    recency_boost = serializers.BooleanField(required=False, allow_null=True)
    # Bounded above so the recency formula (computed inside Redis too, in microseconds)
    # stays finite: a weight or half-life near the float maximum overflowed to `inf`,
    # which RediSearch refuses, and the search answered 500 (found by schema fuzzing).
    recency_semantic_weight = RecencyWeightField()
    recency_recency_weight = RecencyWeightField()
    recency_freshness_weight = RecencyWeightField()
    recency_novelty_weight = RecencyWeightField()
    recency_half_life_last_access_days = HalfLifeDaysField()
    recency_half_life_created_days = HalfLifeDaysField()
    server_side_recency = serializers.BooleanField(required=False, allow_null=True)
    # Not in the reference: also return records an update has superseded, each with its chain.
    include_superseded = serializers.BooleanField(required=False, default=False)


# --- Forget / compact / delete: input ------------------------------------------------------------


class ForgetPolicySerializer(serializers.Serializer[Any]):
    # What ForgetSerializer.validate_policy refuses: no limit at all.
    schema_rules = at_least_one_of(
        max_age_days={"type": "number"}, max_inactive_days={"type": "number"}, budget={"type": "integer"}
    )

    # At most MAX_HALF_LIFE_DAYS: a larger age overflowed the date arithmetic, a 500 (found by fuzzing).
    max_age_days = serializers.FloatField(min_value=0.0, max_value=MAX_HALF_LIFE_DAYS, required=False, allow_null=True)
    max_inactive_days = serializers.FloatField(
        min_value=0.0, max_value=MAX_HALF_LIFE_DAYS, required=False, allow_null=True
    )
    budget = serializers.IntegerField(min_value=0, required=False, allow_null=True)
    memory_type_allowlist = serializers.ListField(
        child=serializers.ChoiceField(choices=MemoryType.choices), required=False, allow_null=True
    )


class ForgetSerializer(serializers.Serializer[Any]):
    policy = ForgetPolicySerializer()
    pinned_ids = id_list(RECORD_ID_MAX_LENGTH, required=False, allow_null=True)
    # Not in the reference's body (its query takes it): either may say it; neither, a dry run.
    dry_run = serializers.BooleanField(required=False, allow_null=True, default=None)

    def validate_policy(self, policy: dict[str, Any]) -> dict[str, Any]:
        if all(policy.get(k) is None for k in ("max_age_days", "max_inactive_days", "budget")):
            raise serializers.ValidationError("Give at least one of max_age_days, max_inactive_days, budget.")
        return policy


class ScopeQuerySerializer(serializers.Serializer[Any]):
    namespace = ScopeField()
    user_id = ScopeField()
    session_id = ScopeField()
    limit = serializers.IntegerField(min_value=1, required=False, allow_null=True)
    # Forget: absent means a dry run, as on the reference. Compact has none.
    dry_run = serializers.BooleanField(required=False, allow_null=True, default=None)


# --- Output ---------------------------------------------------------------------------------------


def memory_to_dict(record: MemoryRecord) -> dict[str, Any]:
    """A record in the reference server's MemoryRecord shape, plus status and provenance
    (`MemoryRecordOutputSerializer` documents it)."""
    return {
        "id": record.id,
        "text": record.text,
        "context": record.context,
        "session_id": record.session_id,
        "user_id": record.user_id,
        "namespace": record.namespace,
        "last_accessed": datetime_encode(record.last_accessed),
        "created_at": datetime_encode(record.created_at),
        "updated_at": datetime_encode(record.updated_at),
        "pinned": record.pinned,
        "access_count": record.access_count,
        "topics": list(record.topics),
        "entities": list(record.entities),
        "memory_hash": record.memory_hash,
        "discrete_memory_extracted": "t",
        "memory_type": record.memory_type,
        "persisted_at": datetime_encode(record.persisted_at),
        "extracted_from": list(record.extracted_from),
        "event_date": datetime_encode(record.event_date),
        "status": record.status,
        "extraction_run_id": record.extraction_run_id,
        "embedding_model": record.embedding_model,
        # An update supersedes: the record that replaced this one (null while current).
        "superseded_by": record.superseded_by_id,
        "superseded_at": datetime_encode(record.superseded_at),
        "extraction_strategy": record.extraction_strategy,
        "extraction_strategy_config": record.extraction_strategy_config,
        "metadata": record.metadata,
    }


def _strings(**kwargs: Any) -> serializers.ListField:
    return serializers.ListField(child=serializers.CharField(), **kwargs)


class MemoryRecordOutputSerializer(serializers.Serializer[Any]):
    """A stored record, as `memory_to_dict` shapes it."""

    id = serializers.CharField()
    text = serializers.CharField()
    context = serializers.CharField(allow_null=True)  # type: ignore[assignment]  # shadows Field.context, as above
    session_id = serializers.CharField(allow_null=True)
    user_id = serializers.CharField(allow_null=True)
    namespace = serializers.CharField(allow_null=True)
    last_accessed = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField(allow_null=True)
    updated_at = serializers.DateTimeField(allow_null=True)
    pinned = serializers.BooleanField()
    access_count = serializers.IntegerField()
    topics = _strings()
    entities = _strings()
    memory_hash = serializers.CharField()
    discrete_memory_extracted = serializers.ChoiceField(["t", "f"])
    memory_type = serializers.ChoiceField(MemoryType.choices)
    persisted_at = serializers.DateTimeField(allow_null=True)
    extracted_from = _strings()
    event_date = serializers.DateTimeField(allow_null=True)
    status = serializers.ChoiceField(MemoryStatus.choices)
    extraction_run_id = serializers.IntegerField(allow_null=True)
    embedding_model = serializers.CharField()
    superseded_by = serializers.CharField(allow_null=True)
    superseded_at = serializers.DateTimeField(allow_null=True)
    extraction_strategy = serializers.CharField()
    extraction_strategy_config = serializers.DictField()
    metadata = serializers.DictField()


class MemoryDetailOutputSerializer(MemoryRecordOutputSerializer):
    """GET's record, with the ids of the records it superseded (newest first)."""

    supersedes = _strings()


class SearchHitOutputSerializer(MemoryDetailOutputSerializer):
    dist = serializers.FloatField(allow_null=True)
    score = serializers.FloatField(allow_null=True)
    # null for a listing without text (no mode ranked it).
    score_type = serializers.CharField(allow_null=True)
    # Only with include_superseded: the ids of the record's chain, newest first.
    chain = _strings(required=False)


class SearchResultsOutputSerializer(serializers.Serializer[Any]):
    memories = SearchHitOutputSerializer(many=True)
    total = serializers.IntegerField(allow_null=True)
    next_offset = serializers.IntegerField(allow_null=True)


class CreateOutcomeOutputSerializer(serializers.Serializer[Any]):
    id = serializers.CharField()
    outcome = serializers.CharField()
    distance = serializers.FloatField(allow_null=True)
    history_id = serializers.IntegerField(allow_null=True)
    # Not in the reference: near records kept apart because a detail differs.
    conflicts = _strings()


class CreateResultsOutputSerializer(serializers.Serializer[Any]):
    status = serializers.CharField()
    memories = CreateOutcomeOutputSerializer(many=True)


class DeleteResultOutputSerializer(serializers.Serializer[Any]):
    status = serializers.CharField()
    deleted = serializers.IntegerField()


class ForgetResultOutputSerializer(serializers.Serializer[Any]):
    scanned = serializers.IntegerField()
    deleted = serializers.IntegerField()
    deleted_ids = _strings()
    dry_run = serializers.BooleanField()
    # Not in the reference: what the policy still picks after this call's cap.
    remaining = serializers.IntegerField()
    max_per_call = serializers.IntegerField()


class CompactResultOutputSerializer(serializers.Serializer[Any]):
    status = serializers.CharField()
    merged = serializers.IntegerField()
    remaining = serializers.IntegerField()
