"""Long-term memory routes, wire-compatible with agent-memory-server 0.15 / agent-memory-client 0.14.

POST   /v1/long-term-memory/            create ({"memories": [...], "deduplicate": true})
POST   /v1/long-term-memory/search      search (semantic | keyword | hybrid, filters, recency)
GET    /v1/long-term-memory/{id}        one record
PATCH  /v1/long-term-memory/{id}        edit (a text change re-embeds and re-hashes)
DELETE /v1/long-term-memory?memory_ids= delete many
POST   /v1/long-term-memory/forget      forgetting policy
POST   /v1/long-term-memory/compact     merge duplicates

Serializers validate and shape; services and selectors do the work. Every rejection is
a 422 naming the field, before anything is written.
"""

from datetime import UTC, datetime

from django.conf import settings
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from memory import index
from memory.api.errors import field_error
from memory.api.fields import StrictCharField, validated_query
from memory.models import MemoryRecord, MemoryStatus, MemoryType
from memory.selectors.long_term import DEFAULT_HYBRID_ALPHA, SEARCH_MODES, Recency, SearchQuery, memories_search, memory_get
from memory.services import long_term as services

MAX_SCOPE_LENGTH = 200
MAX_ID_LENGTH = 128
MAX_TAGS = 100
MAX_MEMORIES_PER_CREATE = 1000
MAX_IDS_PER_DELETE = 1000


def iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z") if value else None


def memory_to_dict(record: MemoryRecord) -> dict:
    """A record in the reference server's MemoryRecord shape, plus status and provenance."""
    return {
        "id": record.id,
        "text": record.text,
        "context": record.context,
        "session_id": record.session_id,
        "user_id": record.user_id,
        "namespace": record.namespace,
        "last_accessed": iso(record.last_accessed),
        "created_at": iso(record.created_at),
        "updated_at": iso(record.updated_at),
        "pinned": record.pinned,
        "access_count": record.access_count,
        "topics": list(record.topics),
        "entities": list(record.entities),
        "memory_hash": record.memory_hash,
        "discrete_memory_extracted": "t",
        "memory_type": record.memory_type,
        "persisted_at": iso(record.persisted_at),
        "extracted_from": list(record.extracted_from),
        "event_date": iso(record.event_date),
        "status": record.status,
        "extraction_run_id": record.extraction_run_id,
        "embedding_model": record.embedding_model,
    }


# --- Fields ------------------------------------------------------------------------------

def _no_control_characters(value: str) -> str:
    if any(ord(c) < 32 for c in value):
        raise serializers.ValidationError("Must not contain control characters.")
    return value


class TagValueField(StrictCharField):
    """A namespace, user, session, topic or entity value (an index tag)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", MAX_SCOPE_LENGTH)
        kwargs.setdefault("trim_whitespace", False)
        super().__init__(validators=[_no_control_characters], **kwargs)


class ScopeField(TagValueField):
    """namespace / user_id / session_id on a record: optional; empty means none."""

    def __init__(self, **kwargs):
        super().__init__(required=False, allow_null=True, allow_blank=True, **kwargs)

    def to_internal_value(self, data):
        return super().to_internal_value(data) or None


class MemoryTextField(StrictCharField):
    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", settings.MEMORY_MAX_TEXT_CHARS)
        super().__init__(trim_whitespace=False, **kwargs)

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if "\x00" in value:
            raise serializers.ValidationError("Must not contain NUL characters.")
        return value


class AwareDateTimeField(serializers.DateTimeField):
    """ISO 8601; a naive value means UTC."""

    default_error_messages = {"invalid": "Must be an ISO 8601 datetime, e.g. 2024-05-01T12:00:00Z."}

    def __init__(self, **kwargs):
        super().__init__(default_timezone=UTC, **kwargs)

    def to_internal_value(self, value):
        if not isinstance(value, str):
            self.fail("invalid")
        return super().to_internal_value(value)


def _tag_list(**kwargs):
    return serializers.ListField(child=TagValueField(), max_length=MAX_TAGS, **kwargs)


# --- Create / edit ---------------------------------------------------------------------------

class MemoryRecordInputSerializer(serializers.Serializer):
    id = StrictCharField(required=False, allow_blank=True, max_length=MAX_ID_LENGTH, trim_whitespace=False,
                         validators=[_no_control_characters])
    text = MemoryTextField()
    context = MemoryTextField(required=False, allow_blank=True, allow_null=True)
    memory_type = serializers.ChoiceField(choices=MemoryType.choices, default=MemoryType.SEMANTIC)
    namespace = ScopeField()
    user_id = ScopeField()
    session_id = ScopeField()
    topics = _tag_list(required=False, allow_null=True)
    entities = _tag_list(required=False, allow_null=True)
    event_date = AwareDateTimeField(required=False, allow_null=True)
    created_at = AwareDateTimeField(required=False, allow_null=True)
    last_accessed = AwareDateTimeField(required=False, allow_null=True)
    pinned = serializers.BooleanField(required=False, default=False)
    extracted_from = serializers.ListField(child=StrictCharField(max_length=MAX_ID_LENGTH), required=False,
                                           allow_null=True, max_length=10_000)
    deduplicate = serializers.BooleanField(required=False)

    def validate_text(self, value):
        if not value.strip():
            raise serializers.ValidationError("Must not be empty.")
        return value


class CreateMemoriesSerializer(serializers.Serializer):
    memories = MemoryRecordInputSerializer(many=True, allow_empty=False, max_length=MAX_MEMORIES_PER_CREATE)
    deduplicate = serializers.BooleanField(default=True)



def _check_unique_ids(memories: list[dict]) -> None:
    seen = {}
    for position, memory in enumerate(memories):
        memory_id = memory.get("id")
        if memory_id and memory_id in seen:
            raise field_error(["body", "memories", position, "id"],
                              f"Duplicate id {memory_id!r} (also at memories[{seen[memory_id]}]).")
        if memory_id:
            seen[memory_id] = position


class EditMemorySerializer(serializers.Serializer):
    text = MemoryTextField(required=False)
    context = MemoryTextField(required=False, allow_blank=True, allow_null=True)
    memory_type = serializers.ChoiceField(choices=MemoryType.choices, required=False)
    namespace = ScopeField()
    user_id = ScopeField()
    session_id = ScopeField()
    topics = _tag_list(required=False, allow_null=True)
    entities = _tag_list(required=False, allow_null=True)
    event_date = AwareDateTimeField(required=False, allow_null=True)
    pinned = serializers.BooleanField(required=False)



def _edit_changes(data: dict, attrs: dict) -> dict:
    """Only what the caller sent: an absent field is left as it is."""
    fields = EditMemorySerializer().fields
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise field_error(["body", unknown[0]], f"Unknown field {unknown[0]!r}; editable fields: "
                          f"{', '.join(fields)}.", "extra_forbidden")
    if "text" in attrs and not attrs["text"].strip():
        raise field_error(["body", "text"], "Must not be empty.")
    return {k: v for k, v in attrs.items() if k in data}


# --- Search ------------------------------------------------------------------------------------

TAG_OPERATORS = {"eq": "eq", "ne": "ne", "any": "any", "all": "all",
                 # agent-memory-client 0.14's filter classes send these names.
                 "in_": "any", "not_eq": "ne", "not_in": "none", "none": "none"}
DATE_OPERATORS = ("gt", "gte", "lt", "lte", "eq", "between")
TAG_FILTER_FIELDS = ("session_id", "namespace", "user_id", "topics", "entities", "memory_type", "status")
DATE_FILTER_FIELDS = ("created_at", "last_accessed", "event_date")
_CHOICES = {"memory_type": set(MemoryType.values), "status": set(MemoryStatus.values)}


def _operators(name: str, spec, allowed, kind: str):
    """(operator, value, loc) for each operator of one filter; null values are skipped
    (an operator sent as null is an operator not sent: pydantic's exclude_none)."""
    loc = ["body", name]
    if not isinstance(spec, dict):
        raise field_error(loc, f"Must be an object with operators {', '.join(allowed)}.")
    for op, value in spec.items():
        if op not in allowed:
            raise field_error([*loc, op], f"Unknown operator {op!r}; {kind} filters take {', '.join(allowed)}.",
                              "unknown_operator")
        if value is not None:
            yield op, value, [*loc, op]


def _tag_conditions(name: str, spec) -> list[index.Condition]:
    conditions = []
    for op, value, loc in _operators(name, spec, TAG_OPERATORS, "tag"):
        canonical = TAG_OPERATORS[op]
        values = [value] if canonical in ("eq", "ne") else value
        if canonical in ("eq", "ne") and not isinstance(value, str):
            raise field_error(loc, "Must be a string.")
        if not isinstance(values, list) or not values:
            raise field_error(loc, "Must be a non-empty list of strings.")
        for item in values:
            if not isinstance(item, str) or not item or len(item) > MAX_SCOPE_LENGTH or any(ord(c) < 32 for c in item):
                raise field_error(loc, f"Each value must be a non-empty string of at most "
                                  f"{MAX_SCOPE_LENGTH} characters without control characters.")
            if name in _CHOICES and item not in _CHOICES[name]:
                raise field_error(loc, f"{item!r} is not one of {', '.join(sorted(_CHOICES[name]))}.")
        conditions.append(index.Condition(name, canonical, tuple(values)))
    return conditions


def _parse_date(value, loc) -> datetime:
    if not isinstance(value, str):
        raise field_error(loc, "Must be an ISO 8601 datetime string.")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise field_error(loc, f"Invalid datetime {value[:60]!r}; use ISO 8601, e.g. 2024-05-01T12:00:00Z.") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _date_conditions(name: str, spec) -> list[index.Condition]:
    conditions = []
    for op, value, loc in _operators(name, spec, DATE_OPERATORS, "date"):
        if op == "between":
            if not isinstance(value, list) or len(value) != 2:
                raise field_error(loc, "Must be a list of two datetimes [start, end].")
            start, end = (_parse_date(v, [*loc, i]) for i, v in enumerate(value))
            if start > end:
                raise field_error(loc, "The start must not be after the end.")
            conditions.append(index.Condition(name, op, (start, end)))
        else:
            conditions.append(index.Condition(name, op, (_parse_date(value, loc),)))
    return conditions


class SearchSerializer(serializers.Serializer):
    text = MemoryTextField(required=False, allow_blank=True, allow_null=True, default="")
    search_mode = serializers.ChoiceField(choices=SEARCH_MODES, default="semantic")
    hybrid_alpha = serializers.FloatField(min_value=0.0, max_value=1.0, default=DEFAULT_HYBRID_ALPHA)
    distance_threshold = serializers.FloatField(min_value=0.0, max_value=2.0, required=False, allow_null=True)
    limit = serializers.IntegerField(min_value=1, max_value=100, default=10)
    offset = serializers.IntegerField(min_value=0, default=0)
    recency_boost = serializers.BooleanField(required=False, allow_null=True)
    recency_semantic_weight = serializers.FloatField(min_value=0.0, required=False, allow_null=True)
    recency_recency_weight = serializers.FloatField(min_value=0.0, required=False, allow_null=True)
    recency_freshness_weight = serializers.FloatField(min_value=0.0, required=False, allow_null=True)
    recency_novelty_weight = serializers.FloatField(min_value=0.0, required=False, allow_null=True)
    recency_half_life_last_access_days = serializers.FloatField(min_value=0.001, required=False, allow_null=True)
    recency_half_life_created_days = serializers.FloatField(min_value=0.001, required=False, allow_null=True)
    server_side_recency = serializers.BooleanField(required=False, allow_null=True)



def _search_query(data: dict, attrs: dict) -> SearchQuery:
    """The validated body as a SearchQuery: every filter becomes conditions, none is dropped."""
    conditions = []
    for name in TAG_FILTER_FIELDS:
        if data.get(name) is not None:
            conditions += _tag_conditions(name, data[name])
    for name in DATE_FILTER_FIELDS:
        if data.get(name) is not None:
            conditions += _date_conditions(name, data[name])
    text = attrs.get("text") or ""
    if attrs["offset"] + attrs["limit"] > index.MAX_WINDOW:
        raise field_error(["body", "offset"], f"offset + limit must be at most {index.MAX_WINDOW}.")
    if attrs.get("distance_threshold") is not None:
        if attrs["search_mode"] == "keyword":
            raise field_error(["body", "distance_threshold"],
                              "distance_threshold applies to semantic and hybrid search, not keyword.")
        if not text.strip():
            raise field_error(["body", "distance_threshold"], "distance_threshold needs a query text.")
    defaults = Recency()
    recency = Recency(
        boost=True if attrs.get("recency_boost") is None else attrs["recency_boost"],
        **{name: attrs[f"recency_{name}"] if attrs.get(f"recency_{name}") is not None else getattr(defaults, name)
           for name in ("semantic_weight", "recency_weight", "freshness_weight", "novelty_weight",
                        "half_life_last_access_days", "half_life_created_days")},
    )
    return SearchQuery(text=text, mode=attrs["search_mode"], hybrid_alpha=attrs["hybrid_alpha"],
                       conditions=tuple(conditions), distance_threshold=attrs.get("distance_threshold"),
                       limit=attrs["limit"], offset=attrs["offset"], recency=recency)


# --- Forget / compact ----------------------------------------------------------------------------

class ForgetPolicySerializer(serializers.Serializer):
    max_age_days = serializers.FloatField(min_value=0.0, required=False, allow_null=True)
    max_inactive_days = serializers.FloatField(min_value=0.0, required=False, allow_null=True)
    budget = serializers.IntegerField(min_value=0, required=False, allow_null=True)
    memory_type_allowlist = serializers.ListField(child=serializers.ChoiceField(choices=MemoryType.choices),
                                                  required=False, allow_null=True)


class ForgetSerializer(serializers.Serializer):
    policy = ForgetPolicySerializer()
    pinned_ids = serializers.ListField(child=StrictCharField(max_length=MAX_ID_LENGTH), required=False,
                                       allow_null=True, max_length=10_000)
    dry_run = serializers.BooleanField(required=False, default=False)

    def validate_policy(self, policy):
        if all(policy.get(k) is None for k in ("max_age_days", "max_inactive_days", "budget")):
            raise serializers.ValidationError("Give at least one of max_age_days, max_inactive_days, budget.")
        return policy


class ScopeQuerySerializer(serializers.Serializer):
    namespace = ScopeField()
    user_id = ScopeField()
    session_id = ScopeField()
    limit = serializers.IntegerField(min_value=1, required=False, allow_null=True)
    dry_run = serializers.BooleanField(required=False, default=False)


def _body(request, serializer_class, **kwargs):
    if not isinstance(request.data, dict):
        raise field_error(["body"], "Must be a JSON object.")
    serializer = serializer_class(data=request.data, **kwargs)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


# --- Views ---------------------------------------------------------------------------------------

class LongTermMemoryView(APIView):
    """POST creates records; DELETE removes records by id."""

    @extend_schema(request=CreateMemoriesSerializer)
    def post(self, request):
        data = _body(request, CreateMemoriesSerializer)
        _check_unique_ids(data["memories"])
        try:
            result = services.memories_create(records=data["memories"], deduplicate=data["deduplicate"])
        except services.MemoryIdConflictError as exc:
            raise field_error(["body", "memories", exc.position, "id"], str(exc), "conflict") from exc
        return Response({
            "status": "ok",
            "memories": [{"id": o.id, "outcome": o.outcome, "distance": o.distance, "history_id": o.history_id}
                         for o in result.outcomes],
        })

    def delete(self, request):
        ids = [i for value in request.query_params.getlist("memory_ids") for i in value.split(",") if i]
        if not ids:
            raise field_error(["query", "memory_ids"], "Give at least one memory id.", "missing")
        if len(ids) > MAX_IDS_PER_DELETE:
            raise field_error(["query", "memory_ids"], f"At most {MAX_IDS_PER_DELETE} ids per call.")
        deleted = services.memories_delete(memory_ids=ids, reason="deleted through the API")
        return Response({"status": f"ok, deleted {deleted} memories"})


class LongTermMemorySearchView(APIView):
    @extend_schema(request=SearchSerializer)
    def post(self, request):
        query = _search_query(request.data, _body(request, SearchSerializer))
        now = timezone.now()
        result = memories_search(query=query, now=now)
        services.memories_after_search(found_ids=[h.record.id for h in result.hits], stale_ids=result.stale_ids,
                                       accessed_at=now)
        memories = []
        for hit in result.hits:
            item = memory_to_dict(hit.record)
            item.update(dist=hit.dist, score=hit.score, score_type=hit.score_type)
            memories.append(item)
        return Response({"memories": memories, "total": result.total, "next_offset": result.next_offset})


class LongTermMemoryDetailView(APIView):
    def get(self, request, memory_id):
        record = memory_get(memory_id=memory_id)
        if record is None:
            return Response({"detail": f"Memory {memory_id} not found"}, status=404)
        return Response(memory_to_dict(record))

    @extend_schema(request=EditMemorySerializer)
    def patch(self, request, memory_id):
        changes = _edit_changes(request.data, _body(request, EditMemorySerializer))
        try:
            record = services.memory_update(memory_id=memory_id, changes=changes)
        except services.MemoryNotFoundError:
            return Response({"detail": f"Memory {memory_id} not found"}, status=404)
        return Response(memory_to_dict(record))


class ForgetView(APIView):
    @extend_schema(request=ForgetSerializer)
    def post(self, request):
        scope = validated_query(request, ScopeQuerySerializer)
        body = _body(request, ForgetSerializer)
        policy = body["policy"]
        result = services.memories_forget(
            namespace=scope.get("namespace"), user_id=scope.get("user_id"), session_id=scope.get("session_id"),
            max_age_days=policy.get("max_age_days"), max_inactive_days=policy.get("max_inactive_days"),
            budget=policy.get("budget"), memory_types=policy.get("memory_type_allowlist"),
            pinned_ids=body.get("pinned_ids") or [], limit=scope.get("limit"),
            dry_run=body["dry_run"] or scope["dry_run"],
        )
        return Response({"scanned": result.scanned, "deleted": len(result.deleted_ids),
                         "deleted_ids": result.deleted_ids, "dry_run": result.dry_run})


class CompactView(APIView):
    def post(self, request):
        scope = validated_query(request, ScopeQuerySerializer)
        result = services.memories_compact(namespace=scope.get("namespace"), user_id=scope.get("user_id"))
        return Response({"status": f"ok, {result.remaining} memories remaining after compaction",
                         "merged": result.merged, "remaining": result.remaining})
